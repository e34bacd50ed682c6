/// One thing wrong with a carve argument on a kernel command line, checked against `/proc/iomem`.
public struct CarveProblem: Hashable, Sendable, Codable {
    /// What kind of wrong.
    public enum Kind: String, Hashable, Sendable, Codable {
        /// The argument does not parse as `memmap=` or `efi_fake_mem=` would.
        case unreadable
        /// The range does not start or end on a memory block boundary.
        case misaligned
        /// The range covers firmware-reserved, PCI or other non-RAM resources.
        case overlapsReserved = "overlaps_reserved"
        /// The range covers the kernel image (code, data, bss) or the crash kernel.
        case overlapsKernel = "overlaps_kernel"
        /// Part of the range is not backed by RAM at all (past the end of RAM, or a hole).
        case beyondRAM = "beyond_ram"
        /// The range overlaps another carve range.
        case overlapsCarve = "overlaps_carve"
        /// The running kernel still shows the range as System RAM: the argument did not take effect.
        case notApplied = "not_applied"
    }

    /// What kind of wrong.
    public var kind: Kind
    /// The argument at fault.
    public var argument: String
    /// Exactly what is wrong, with addresses.
    public var message: String
}

/// Checks `memmap=` and `efi_fake_mem=` ranges against the physical address map: the fragility of `memmap=` is
/// that the kernel trusts it, so a range over reserved memory, past RAM or off a memory block boundary boots into
/// a broken or partial carve.
public enum CarveValidator {
    /// The top-level resource names that are RAM, carved or not.
    static func isMemory(_ name: String) -> Bool {
        name == "System RAM" || name == "Soft Reserved" || name.hasPrefix("Persistent Memory")
            || name.hasPrefix("hmem.")
    }

    /// The nested resources that are the running kernel itself.
    static func isKernel(_ name: String) -> Bool {
        name.hasPrefix("Kernel ") || name == "Crash kernel"
    }

    /// The problems of every carve range of `carve`.
    /// - Parameters:
    ///   - applied: `true` when `map` is the running kernel's and `carve` its own command line (a soft-reserved or
    ///     pmem range must then no longer be System RAM); `false` to check a planned carve before booting it.
    public static func validate(
        _ carve: KernelCarve, against map: IOMemoryMap, blockSize: UInt64, applied: Bool
    ) -> [CarveProblem] {
        var problems: [CarveProblem] = []
        for argument in carve.arguments where KernelCarve.ranges(of: argument).isEmpty {
            problems.append(
                CarveProblem(kind: .unreadable, argument: argument, message: "\(argument) carves nothing readable"))
        }
        for (index, range) in carve.ranges.enumerated() {
            problems += validate(range, against: map, blockSize: blockSize, applied: applied)
            for other in carve.ranges[(index + 1)...] where other.overlaps(start: range.start, size: range.size) {
                problems.append(
                    CarveProblem(
                        kind: .overlapsCarve, argument: range.argument,
                        message: "\(span(range.start, range.size)) overlaps \(span(other.start, other.size)) of "
                            + other.argument))
            }
        }
        return problems
    }

    /// The problems of one range.
    static func validate(
        _ range: KernelCarve.Range, against map: IOMemoryMap, blockSize: UInt64, applied: Bool
    ) -> [CarveProblem] {
        var problems: [CarveProblem] = []
        let argument = range.argument
        let end = range.start &+ range.size
        if blockSize > 0, range.start % blockSize != 0 || range.size % blockSize != 0 {
            let alignedStart = (range.start + blockSize - 1) / blockSize * blockSize
            let alignedEnd = end / blockSize * blockSize
            problems.append(
                CarveProblem(
                    kind: .misaligned, argument: argument,
                    message: "\(span(range.start, range.size)) is not aligned to the \(hex(blockSize)) memory block "
                        + "size (the aligned part is \(alignedEnd > alignedStart ? span(alignedStart, alignedEnd - alignedStart) : "empty"))"
                ))
        }
        for entry in map.entries where entry.overlaps(start: range.start, size: range.size) {
            if entry.depth == 0, !isMemory(entry.name) {
                problems.append(
                    CarveProblem(
                        kind: .overlapsReserved, argument: argument,
                        message: "\(span(range.start, range.size)) overlaps \(entry.name) at "
                            + "\(hex(entry.start))-\(hex(entry.end))"))
            } else if entry.depth > 0, isKernel(entry.name) {
                problems.append(
                    CarveProblem(
                        kind: .overlapsKernel, argument: argument,
                        message: "\(span(range.start, range.size)) overlaps \(entry.name) at "
                            + "\(hex(entry.start))-\(hex(entry.end))"))
            } else if applied, entry.depth == 0, entry.name == "System RAM", range.kind != "other" {
                problems.append(
                    CarveProblem(
                        kind: .notApplied, argument: argument,
                        message: "the running kernel still has \(hex(max(entry.start, range.start)))-"
                            + "\(hex(min(entry.end, end &- 1))) as System RAM: the argument did not take effect"))
            }
        }
        let memoryEnd = map.topLevel.filter { isMemory($0.name) }.map { $0.end &+ 1 }.max() ?? 0
        for gap in gaps(start: range.start, end: end, covered: map.topLevel) {
            let where_ =
                gap.start >= memoryEnd
                ? "past the end of RAM at \(hex(memoryEnd))" : "a hole with no resource in /proc/iomem"
            problems.append(
                CarveProblem(
                    kind: .beyondRAM, argument: argument,
                    message: "\(span(gap.start, gap.end - gap.start)) of \(span(range.start, range.size)) is \(where_)"
                ))
        }
        return problems
    }

    /// The parts of `start..<end` that no entry covers.
    static func gaps(start: UInt64, end: UInt64, covered: [IOMemoryMap.Entry]) -> [(start: UInt64, end: UInt64)] {
        var result: [(start: UInt64, end: UInt64)] = []
        var cursor = start
        for entry in covered.sorted(by: { $0.start < $1.start }) where entry.end >= cursor && entry.start < end {
            if entry.start > cursor { result.append((cursor, entry.start)) }
            cursor = max(cursor, entry.end &+ 1)
            if cursor >= end || cursor == 0 { return result }
        }
        if cursor < end { result.append((cursor, end)) }
        return result
    }

    /// `0x…` hexadecimal.
    static func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }

    /// `start-last (size)` as the kernel prints ranges.
    static func span(_ start: UInt64, _ size: UInt64) -> String {
        "\(hex(start))-\(hex(start &+ size &- 1)) (\(CarvePlanner.sizeText(size)))"
    }
}
