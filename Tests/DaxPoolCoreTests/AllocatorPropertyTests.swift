import DaxPoolCore
import DaxPoolTestSupport
import Testing

@Suite("allocator properties", .timeLimit(.minutes(20)))
struct AllocatorPropertyTests {
    /// Checks every invariant of the allocator against an independent recount.
    static func checkInvariants(_ allocator: RegionAllocator, aligns: [Int: Alignment], seed: UInt64) {
        var all: [(Extent, Int)] = []
        var total: UInt64 = 0
        for device in allocator.devices {
            let ranges = allocator.ranges(of: device)
            #expect(!ranges.isEmpty, "seed \(seed): device \(device) listed without ranges")
            let alignment = aligns[device] ?? .page4K
            for range in ranges {
                #expect(range.start.isAligned(to: alignment), "seed \(seed): \(range) not aligned to \(alignment)")
                #expect(range.length.isAligned(to: alignment), "seed \(seed): \(range) length not aligned")
                #expect(range.end.rawValue <= allocator.size.rawValue, "seed \(seed): \(range) past region end")
                all.append((range, device))
            }
            let sum = ranges.reduce(0) { $0 + $1.length.rawValue }
            #expect(sum == allocator.size(of: device).rawValue, "seed \(seed): sum of mappings != size")
            let mappings = DeviceMapping.mappings(of: ranges)
            #expect(mappings.reduce(0) { $0 + $1.size } == sum)
            total += sum
        }
        all.sort { $0.0.start < $1.0.start }
        for index in all.indices.dropFirst() {
            #expect(
                !all[index - 1].0.overlaps(all[index].0), "seed \(seed): \(all[index - 1].0) overlaps \(all[index].0)")
        }
        let quarantined = allocator.quarantined.reduce(0) { $0 + $1.length.rawValue }
        #expect(
            allocator.availableSize.rawValue == allocator.size.rawValue - total - quarantined, "seed \(seed): available"
        )
        let free = allocator.freeExtents.reduce(0) { $0 + $1.length.rawValue }
        #expect(free == allocator.availableSize.rawValue, "seed \(seed): free extents disagree with available size")
    }

    @Test("random create, grow, shrink and destroy sequences keep every invariant", arguments: 0..<40)
    func randomSequences(seed: UInt64) throws {
        var generator = SplitMix64(state: seed)
        let region = ByteCount.gibibytes(UInt64.random(in: 1...8, using: &generator))
        var allocator = RegionAllocator(size: region)
        var aligns: [Int: Alignment] = [:]
        for _ in 0..<300 {
            let device = Int.random(in: 0..<12, using: &generator)
            let alignment =
                aligns[device] ?? [Alignment.page4K, .page2M, .page2M, .page1G].randomElement(using: &generator)
                ?? .page2M
            let units = UInt64.random(in: 0...(alignment == .page1G ? 3 : 600), using: &generator)
            let granule: UInt64 = alignment == .page4K ? 1 << 20 : alignment.rawValue
            let target = ByteCount(units * granule)
            let before = allocator
            let beforeRanges = allocator.ranges(of: device)
            let beforeSize = allocator.size(of: device)
            switch UInt64.random(in: 0..<10, using: &generator) {
            case 0..<2:
                let freed = allocator.ranges(of: device)
                allocator.release(device: device)
                aligns[device] = nil
                for extent in freed {
                    #expect(allocator.owner(at: extent.start) == nil, "seed \(seed): freed range still owned")
                }
            default:
                do {
                    try allocator.resize(device: device, to: target, alignment: alignment)
                    if target.rawValue > 0 { aligns[device] = alignment } else { aligns[device] = nil }
                    let after = allocator.ranges(of: device)
                    if !beforeRanges.isEmpty, target > beforeSize {
                        // Growing never moves existing memory: the old ranges are a prefix (the last may be longer).
                        for (index, old) in beforeRanges.dropLast().enumerated() { #expect(after[index] == old) }
                        #expect(after[beforeRanges.count - 1].start == beforeRanges[beforeRanges.count - 1].start)
                    }
                } catch {
                    #expect(allocator == before, "seed \(seed): a failed resize changed the allocator")
                }
            }
            Self.checkInvariants(allocator, aligns: aligns, seed: seed)
        }
    }

    @Test("quarantined ranges are never handed out", arguments: 0..<20)
    func quarantineNeverAllocated(seed: UInt64) throws {
        var generator = SplitMix64(state: seed &+ 1000)
        var allocator = RegionAllocator(size: .gibibytes(2))
        var bad: [Extent] = []
        for _ in 0..<8 {
            let page = UInt64.random(in: 0..<(2 << 18), using: &generator)
            let extent = Extent(start: RegionOffset(page << 12), length: .kibibytes(4))
            if (try? allocator.quarantine(extent)) != nil { bad.append(extent) }
        }
        var device = 0
        while true {
            do { try allocator.resize(device: device, to: .mebibytes(2), alignment: .page2M) } catch { break }
            device += 1
        }
        for extent in bad {
            #expect(allocator.owner(at: extent.start)?.owner == .quarantine, "seed \(seed)")
            for candidate in allocator.devices {
                for range in allocator.ranges(of: candidate) { #expect(!range.overlaps(extent), "seed \(seed)") }
            }
        }
        Self.checkInvariants(allocator, aligns: [:], seed: seed)
    }
}
