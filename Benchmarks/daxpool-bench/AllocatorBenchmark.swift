import DaxPoolCore
import DaxPoolTestSupport

/// What the allocator benchmarks drive: daxpool's allocator and the linear baseline.
protocol BenchAllocator {
    /// An empty region of `size` bytes, as the benchmark measures it.
    static func empty(size: ByteCount) -> Self
    mutating func resize(device: Int, to newSize: ByteCount, alignment: Alignment) throws(AllocationError)
    mutating func claim(device: Int, extent: Extent, alignment: Alignment) throws(AllocationError)
    mutating func release(device: Int)
    func owner(at offset: RegionOffset) -> (owner: ExtentOwner, extent: Extent)?
    func deviceOffset(at offset: RegionOffset) -> (device: Int, offset: ByteCount)?
    var extentCount: Int { get }
}

extension RegionAllocator: BenchAllocator {
    static func empty(size: ByteCount) -> RegionAllocator { RegionAllocator(size: size) }
}

/// The linear baseline: daxpool's first allocator from DaxPoolTestSupport (the scale tests' oracle), growing in place
/// as the kernel does.
extension LinearAllocator: BenchAllocator {
    static func empty(size: ByteCount) -> LinearAllocator { .baseline(size: size) }
}

/// Allocation churn on a sim region with `liveRanges` live devices of one 2 MiB range each, packed from offset 0
/// with free space after them: each iteration frees a random device (a hole at a random depth) and creates a new
/// 2 MiB device with the freed instance number (the lowest free one, as the kernel's IDA and `PoolModel` hand
/// out), which first-fit puts into that hole. Then attribution lookups at random offsets.
struct AllocatorBenchmark {
    struct Result {
        var liveRanges: Int
        var alloc: Samples
        var free: Samples
        var ownerLookup: Samples
        var deviceOffsetLookup: Samples
        var buildSeconds: Double
    }

    static let unit = ByteCount.mebibytes(2)

    /// Frees a random device and creates a new one, `iterations` times (or until `budgetSeconds` have passed).
    @inline(never)
    static func churn<Allocator: BenchAllocator>(
        _ allocator: inout Allocator,
        liveRanges: Int,
        iterations: Int,
        budgetSeconds: Double,
        generator: inout SplitMix64
    ) -> (alloc: Samples, free: Samples) {
        let clock = ContinuousClock()
        var alloc = Samples()
        var free = Samples()
        let churnStart = clock.now
        for iteration in 0..<iterations {
            let victim = Int.random(in: 0..<liveRanges, using: &generator)
            let freeStart = clock.now
            allocator.release(device: victim)
            let freeEnd = clock.now
            try? allocator.resize(device: victim, to: unit, alignment: .page2M)
            let allocEnd = clock.now
            free.append(freeEnd - freeStart)
            alloc.append(allocEnd - freeEnd)
            if iteration % 64 == 63, (clock.now - churnStart).nanoseconds / 1e9 > budgetSeconds { break }
        }
        return (alloc, free)
    }

    /// Attribution lookups at random offsets inside the occupied span.
    @inline(never)
    static func lookup<Allocator: BenchAllocator>(
        _ allocator: Allocator,
        liveRanges: Int,
        lookups: Int,
        generator: inout SplitMix64
    ) -> (owner: Samples, deviceOffset: Samples) {
        let clock = ContinuousClock()
        var ownerLookup = Samples()
        var deviceOffsetLookup = Samples()
        let span = unit.rawValue * UInt64(liveRanges)
        var checksum = 0
        for _ in 0..<lookups {
            // Two independent random offsets, so that each lookup starts cold.
            let offset = RegionOffset(UInt64.random(in: 0..<span, using: &generator))
            let other = RegionOffset(UInt64.random(in: 0..<span, using: &generator))
            let ownerStart = clock.now
            let owner = allocator.owner(at: offset)
            let ownerEnd = clock.now
            let found = allocator.deviceOffset(at: other)
            let offsetEnd = clock.now
            ownerLookup.append(ownerEnd - ownerStart)
            deviceOffsetLookup.append(offsetEnd - ownerEnd)
            if owner != nil { checksum &+= 1 }
            checksum &+= found?.device ?? 0
        }
        blackHole(checksum)
        return (ownerLookup, deviceOffsetLookup)
    }

    /// - Parameters:
    ///   - iterations: churn iterations (alloc + free) to time at most.
    ///   - lookups: attribution lookups to time.
    ///   - budgetSeconds: stop the churn early when it has taken this long (for the linear baseline at 10^6).
    ///   - buildWithClaims: build the initial layout with explicit ranges instead of first-fit growth (the linear
    ///     baseline would take O(n^2) to build 10^6 ranges by growth).
    static func run<Allocator: BenchAllocator>(
        _ type: Allocator.Type,
        liveRanges: Int,
        iterations: Int,
        lookups: Int,
        budgetSeconds: Double,
        buildWithClaims: Bool,
        seed: UInt64 = 1
    ) -> Result {
        let regionSize = ByteCount(unit.rawValue * UInt64(liveRanges) * 2)
        var allocator = Allocator.empty(size: regionSize)
        let clock = ContinuousClock()
        let buildStart = clock.now
        // One device per range, packed from offset 0.
        for device in 0..<liveRanges {
            if buildWithClaims {
                let extent = Extent(start: RegionOffset(UInt64(device) * unit.rawValue), length: unit)
                try? allocator.claim(device: device, extent: extent, alignment: .page2M)
            } else {
                try? allocator.resize(device: device, to: unit, alignment: .page2M)
            }
        }
        let buildSeconds = (clock.now - buildStart).nanoseconds / 1e9
        var generator = SplitMix64(state: seed)
        let (alloc, free) = churn(
            &allocator, liveRanges: liveRanges, iterations: iterations, budgetSeconds: budgetSeconds,
            generator: &generator)
        let (ownerLookup, deviceOffsetLookup) = lookup(
            allocator, liveRanges: liveRanges, lookups: lookups, generator: &generator)
        return Result(
            liveRanges: liveRanges, alloc: alloc, free: free, ownerLookup: ownerLookup,
            deviceOffsetLookup: deviceOffsetLookup, buildSeconds: buildSeconds
        )
    }
}

/// Keeps a value alive so the optimizer cannot drop the work that made it.
@inline(never)
func blackHole<T>(_ value: T) {
    withExtendedLifetime(value) {}
}
