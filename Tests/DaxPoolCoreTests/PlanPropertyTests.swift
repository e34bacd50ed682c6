import DaxPoolCore
import DaxPoolTestSupport
import Testing

@Suite(.timeLimit(.minutes(20))) struct PlanPropertyTests {
    /// A random `/proc/iomem`: RAM and reserved or PCI resources of random (4 KiB-granular, often unaligned) sizes,
    /// some RAM with the kernel image nested in it.
    static func randomMap(_ random: inout SplitMix64) -> String {
        var lines: [String] = []
        var cursor: UInt64 = 0
        let hex = { (value: UInt64) in String(value, radix: 16) }
        for index in 0..<Int.random(in: 2...12, using: &random) {
            let size = UInt64.random(in: 1...(6 << 18), using: &random) << 12  // up to 6 GiB
            let end = cursor + size - 1
            if index % 2 == 0 || Bool.random(using: &random) {
                lines.append("\(hex(cursor))-\(hex(end)) : System RAM")
                if Int.random(in: 0..<4, using: &random) == 0 {
                    let childStart = cursor + UInt64.random(in: 0..<size, using: &random) / 4096 * 4096
                    let childEnd = min(end, childStart + (UInt64.random(in: 1...4096, using: &random) << 12) - 1)
                    lines.append("  \(hex(childStart))-\(hex(childEnd)) : Kernel code")
                }
            } else {
                lines.append(
                    "\(hex(cursor))-\(hex(end)) : \(Bool.random(using: &random) ? "Reserved" : "PCI Bus 0000:00")")
            }
            cursor =
                end + 1 + (Bool.random(using: &random) ? UInt64.random(in: 0...(1 << 18), using: &random) << 12 : 0)
        }
        return lines.joined(separator: "\n") + "\n"
    }

    @Test("a plan over any map is inside System RAM, clear of nested resources, aligned and exact", arguments: 0..<200)
    func planOverRandomMap(seed: UInt64) throws {
        var random = SplitMix64(state: seed)
        let map = try IOMemoryMap(text: Self.randomMap(&random))
        let blockSize: UInt64 = [1 << 27, 1 << 30, 2 << 30][Int.random(in: 0..<3, using: &random)]
        let pageSize: Alignment = Bool.random(using: &random) ? .page2M : .page1G
        let memory = UInt64.random(in: 1...(8 << 30) / pageSize.rawValue, using: &random) * pageSize.rawValue
        let facts = HostMemoryFacts(map: map, commandLine: BootCommandLine(""), blockSize: blockSize)
        let alignment = max(blockSize, pageSize.rawValue)
        do {
            let plan = try CarvePlanner.plan(
                CarveRequest(guestMemory: ByteCount(memory), pageSize: pageSize), on: facts)
            #expect(plan.ranges.reduce(0) { $0 + $1.size } == plan.carvedMemory, "seed \(seed)")
            #expect(plan.carvedMemory >= memory && plan.carvedMemory - memory < alignment, "seed \(seed)")
            for range in plan.ranges {
                #expect(insideSystemRAM(range, map), "seed \(seed)")
                #expect(range.start % alignment == 0 && range.size % alignment == 0, "seed \(seed)")
                #expect(!map.entries.contains { $0.depth > 0 && $0.overlaps(start: range.start, size: range.size) })
            }
            for (index, range) in plan.ranges.enumerated().dropFirst() {
                #expect(plan.ranges[index - 1].start + plan.ranges[index - 1].size <= range.start, "seed \(seed)")
            }
            let carve = KernelCarve(commandLine: plan.memmapArguments.joined(separator: " "))
            #expect(carve.ranges.map(\.start) == plan.ranges.map(\.start), "seed \(seed)")
            #expect(
                CarveValidator.validate(carve, against: map, blockSize: blockSize, applied: false).isEmpty,
                "seed \(seed)")
        } catch .notEnoughMemory(let requested, let available, _) {
            #expect(available < requested, "seed \(seed)")
        }
    }
}
