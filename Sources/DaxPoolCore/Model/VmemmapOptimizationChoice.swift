/// What the creator of a hugetlb region asks about HugeTLB Vmemmap Optimization (HVO,
/// `/proc/sys/vm/hugetlb_optimize_vmemmap`) when it is off: `create-region --hvo on|off`, `"hvo": "on"|"off"`.
///
/// HVO decides a huge page's metadata when the page is allocated (`PageMetadata`), and without it a region pays
/// 64 B of `struct page` per 4 KiB of its memory, 16 GiB per TiB. So a hugetlb region is never made with HVO off
/// unless its creator says so: with HVO off and no choice the region is refused (`step`), naming both costs and
/// both choices.
public enum VmemmapOptimizationChoice: String, Hashable, Sendable, CaseIterable, Codable {
    /// Turn HVO on before the region's pages are reserved (a system-wide setting: every HugeTLB page the kernel
    /// allocates from then on is optimized, whoever asks for it).
    case on
    /// Reserve the pages as HVO is, and accept the full page metadata when it is off.
    case off

    /// What a hugetlb backend does about HVO before it reserves a region's pages.
    public enum Step: Hashable, Sendable {
        /// Reserve the pages as things are: HVO is on, or the creator accepted it off (`optimized` says which).
        case reserve(optimized: Bool)
        /// Turn HVO on (write 1 to the sysctl), then reserve the pages.
        case turnOnThenReserve
    }

    /// `"on"` or `"off"`; anything else is refused, naming the two.
    /// - Throws: `PoolError.invalidRequest` naming `field` and the value given.
    public init(parsing text: String, field: String = "hvo") throws(PoolError) {
        guard let choice = Self(rawValue: text) else {
            throw PoolError.invalidRequest(
                "\(field) must be \"on\" or \"off\", not \"\(text)\": \"on\" turns HugeTLB Vmemmap Optimization on "
                    + "before the region's pages are reserved, \"off\" accepts the full page metadata")
        }
        self = choice
    }

    /// Decides what to do before reserving `memory` in pages of `pageSize`, given whether HVO is on now
    /// (`optimizedNow`, `nil` when the kernel has no such setting) and the creator's `choice`.
    /// - Throws: `BackendRefusal` (`vmemmapOptimizationOff` or `vmemmapOptimizationUnavailable`), before anything is
    ///   made, when HVO is off and nothing was chosen, or when `on` is asked of a kernel without HVO. Its message
    ///   shows the region's page metadata with and without HVO and the ways on.
    public static func step(
        optimizedNow: Bool?, choice: Self?, memory: ByteCount, pageSize: Alignment
    ) throws(BackendRefusal) -> Step {
        switch (optimizedNow, choice) {
        case (true, _): return .reserve(optimized: true)
        case (_, .off): return .reserve(optimized: false)
        case (false, .on): return .turnOnThenReserve
        case (false, nil):
            throw BackendRefusal(.vmemmapOptimizationOff, offMessage(memory: memory, pageSize: pageSize))
        case (nil, let choice):
            throw BackendRefusal(
                .vmemmapOptimizationUnavailable,
                unavailableMessage(memory: memory, pageSize: pageSize, askedOn: choice == .on))
        }
    }

    /// The costs of `memory` in pages of `pageSize` without and with HVO, for messages: "1 GiB of 1G pages costs
    /// 16 MiB of page metadata (16 GiB per TiB) without HVO, 4 KiB (4 MiB per TiB) with it".
    public static func costs(memory: ByteCount, pageSize: Alignment) -> String {
        let without = PageMetadata(memory: memory, pageSize: pageSize, vmemmapOptimized: false)
        let with = PageMetadata(memory: memory, pageSize: pageSize, vmemmapOptimized: true)
        return
            "\(binary(without.memory.rawValue)) of \(pageSize) pages costs \(binary(without.bytes.rawValue)) of page "
            + "metadata (struct page; \(binary(without.bytesPerTebibyte.rawValue)) per TiB) without HVO, "
            + "\(binary(with.bytes.rawValue)) (\(binary(with.bytesPerTebibyte.rawValue)) per TiB) with it"
    }

    static func offMessage(memory: ByteCount, pageSize: Alignment) -> String {
        "HugeTLB Vmemmap Optimization (HVO, /proc/sys/vm/hugetlb_optimize_vmemmap) is off, and this region's "
            + costs(memory: memory, pageSize: pageSize) + ". Say which: --hvo on (API \"hvo\": \"on\") and daxpool "
            + "turns HVO on before it reserves the pages (a system-wide setting: every HugeTLB page the kernel "
            + "allocates from then on is optimized; it stays on until someone turns it off), or --hvo off (API "
            + "\"hvo\": \"off\") to accept the full cost"
    }

    static func unavailableMessage(memory: ByteCount, pageSize: Alignment, askedOn: Bool) -> String {
        (askedOn ? "--hvo on cannot be done: " : "")
            + "this kernel has no HugeTLB Vmemmap Optimization (HVO: /proc/sys/vm/hugetlb_optimize_vmemmap is "
            + "missing, the kernel is built without CONFIG_HUGETLB_PAGE_OPTIMIZE_VMEMMAP), and this region's "
            + costs(memory: memory, pageSize: pageSize) + ". Pass --hvo off (API \"hvo\": \"off\") to accept the "
            + "full cost, or boot a kernel with HVO (hugetlb_free_vmemmap=on) and pass --hvo on"
    }

    /// `16 GiB`, `4 MiB`, `1.50 GiB`, `512 B`: the largest binary unit the value reaches, two decimals (cut, not rounded) when inexact.
    static func binary(_ bytes: UInt64) -> String {
        let units: [(String, UInt64)] = [("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)]
        for (name, scale) in units where bytes >= scale {
            guard bytes % scale != 0 else { return "\(bytes / scale) \(name)" }
            let hundredths = scale.dividingFullWidth(bytes.multipliedFullWidth(by: 100)).quotient
            let fraction = hundredths % 100
            return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction) \(name)"
        }
        return "\(bytes) B"
    }
}
