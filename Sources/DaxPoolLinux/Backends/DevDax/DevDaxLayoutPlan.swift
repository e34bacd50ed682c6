// Linux only.

/// The sysfs stores that turn a dax device's current mappings and alignment into the wanted ones, in an order the
/// kernel accepts, computed without touching sysfs.
///
/// The kernel offers three tools: `size` (shrinking trims from the last mapping backwards, growing picks free space
/// first-fit), `mapping` (appends exactly the given free range as a new mapping) and `align` (accepted only while
/// every mapping's length is a multiple of it). daxpool never grows through `size`, because the kernel's first-fit
/// walk would choose its own ranges; it keeps the longest prefix of mappings that already match, trims the rest
/// with `size`, and appends every wanted range after that prefix through `mapping`. A mapping that only has to get
/// shorter at the end is trimmed in place. The alignment is lowered before the trim and raised after it, so that
/// every intermediate layout is valid.
public struct DevDaxLayoutPlan: Hashable, Sendable {
    /// One store.
    public enum Step: Hashable, Sendable, CustomStringConvertible {
        /// Write `align`.
        case setAlign(UInt64)
        /// Write `size` (only ever to shrink).
        case setSize(UInt64)
        /// Write `mapping`.
        case addMapping(DevDaxRange)

        /// The store as `attribute=value` with the value in hex, for logs and errors.
        public var description: String {
            switch self {
            case .setAlign(let bytes): "align=\(SysfsAttributes.hex(bytes))"
            case .setSize(let bytes): "size=\(SysfsAttributes.hex(bytes))"
            case .addMapping(let range): "mapping=\(range)"
            }
        }
    }

    /// The stores to make, in order.
    public var steps: [Step]

    /// Whether nothing has to change.
    public var isEmpty: Bool { steps.isEmpty }

    /// The plan from `current` (in page-offset order) at `currentAlign` to `wanted` (in device order) at
    /// `wantedAlign`. A `nil` alignment means the kernel has no `align` attribute, and is never written.
    public init(current: [DevDaxRange], currentAlign: UInt64?, wanted: [DevDaxRange], wantedAlign: UInt64?) {
        var steps: [Step] = []
        let alignChange: UInt64? = {
            guard let currentAlign, let wantedAlign, currentAlign != wantedAlign else { return nil }
            return wantedAlign
        }()
        let lowersAlign = alignChange.map { $0 < (currentAlign ?? 0) } ?? false
        if lowersAlign, let alignChange { steps.append(.setAlign(alignChange)) }

        let currentSize = current.reduce(0) { $0 &+ $1.size }
        let wantedSize = wanted.reduce(0) { $0 &+ $1.size }
        if Self.isTrim(of: current, to: wanted) {
            if wantedSize != currentSize { steps.append(.setSize(wantedSize)) }
            if !lowersAlign, let alignChange { steps.append(.setAlign(alignChange)) }
        } else {
            var kept = 0
            while kept < min(current.count, wanted.count), current[kept] == wanted[kept] { kept += 1 }
            let keptSize = wanted[..<kept].reduce(0) { $0 &+ $1.size }
            if keptSize != currentSize { steps.append(.setSize(keptSize)) }
            if !lowersAlign, let alignChange { steps.append(.setAlign(alignChange)) }
            steps.append(contentsOf: wanted[kept...].map { Step.addMapping($0) })
        }
        self.steps = steps
    }

    /// Whether `wanted` is `current` with ranges dropped from the end and the new last range (if any) cut short at
    /// its end, which is exactly what a `size` store does.
    static func isTrim(of current: [DevDaxRange], to wanted: [DevDaxRange]) -> Bool {
        guard wanted.count <= current.count else { return false }
        guard let last = wanted.last else { return true }
        let head = wanted.count - 1
        guard Array(current[..<head]) == Array(wanted[..<head]) else { return false }
        return current[head].start == last.start && last.last <= current[head].last
    }

    /// The page offsets (4 KiB pages from the device start) the kernel gives `ranges` appended in order.
    public static func pageOffsets(of ranges: [DevDaxRange]) -> [UInt64] {
        var pages: UInt64 = 0
        return ranges.map { range in
            defer { pages &+= range.size >> 12 }
            return pages
        }
    }
}
