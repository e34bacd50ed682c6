/// The pure decisions of lending a devdax region's memory to the host as System RAM (`kmem`): which free memory can
/// go (only whole, block-aligned memory blocks: the kernel hot-adds nothing smaller), how much the `--lend-idle`
/// policy lends, and which lent devices a reclaim takes back.
///
/// Extents are region offsets; `base` is the region's first physical byte, so a block boundary is a physical
/// address that is a multiple of the memory block size (`/sys/devices/system/memory/block_size_bytes`).
public enum LendPlan {
    /// The whole memory blocks inside `free` (sorted, disjoint region-offset extents), in address order.
    public static func blockAlignedFree(_ free: [Extent], base: UInt64, blockSize: ByteCount) -> [Extent] {
        let block = blockSize.rawValue
        guard block > 0 else { return [] }
        var result: [Extent] = []
        for extent in free {
            let physicalStart = base &+ extent.start.rawValue
            let physicalEnd = physicalStart &+ extent.length.rawValue
            let (quotient, remainder) = physicalStart.quotientAndRemainder(dividingBy: block)
            let firstBlock = remainder == 0 ? quotient : quotient &+ 1
            let lastBlockEnd = physicalEnd / block
            guard lastBlockEnd > firstBlock else { continue }
            let start = firstBlock &* block &- base
            result.append(Extent(start: RegionOffset(start), length: ByteCount((lastBlockEnd &- firstBlock) &* block)))
        }
        return result
    }

    /// Extents adding up to exactly `size` taken from the lowest whole free memory blocks, in address order, or
    /// `nil` when `size` is not a whole number of blocks or the region has too few free blocks.
    public static func extents(for size: ByteCount, free: [Extent], base: UInt64, blockSize: ByteCount) -> [Extent]? {
        guard blockSize.rawValue > 0, size.rawValue > 0, size.rawValue % blockSize.rawValue == 0 else { return nil }
        var missing = size.rawValue
        var result: [Extent] = []
        for extent in blockAlignedFree(free, base: base, blockSize: blockSize) where missing > 0 {
            let taken = min(missing, extent.length.rawValue)
            result.append(Extent(start: extent.start, length: ByteCount(taken)))
            missing -= taken
        }
        return missing == 0 ? result : nil
    }

    /// The bytes the policy lends now: whole free blocks, as many as leave at least `keepFree` bytes of the
    /// region's free memory (all of `free`, aligned or not) unlent.
    public static func lendable(free: [Extent], base: UInt64, blockSize: ByteCount, keepFree: ByteCount) -> ByteCount {
        guard blockSize.rawValue > 0 else { return .zero }
        let total = free.reduce(UInt64(0)) { $0 &+ $1.length.rawValue }
        guard total > keepFree.rawValue else { return .zero }
        let aligned = blockAlignedFree(free, base: base, blockSize: blockSize).reduce(UInt64(0)) {
            $0 &+ $1.length.rawValue
        }
        let wanted = min(aligned, total - keepFree.rawValue)
        return ByteCount(wanted - wanted % blockSize.rawValue)
    }

    /// The lent devices to take back so that at least `needed` bytes return: the smallest single device that is
    /// enough, else the largest ones until enough is back (so as few devices as possible, and as little more than
    /// needed as a single device allows). Empty when `needed` is zero; `nil` when all of them are not enough.
    public static func reclaimChoice(lent: [(id: DeviceID, size: ByteCount)], needed: ByteCount) -> [DeviceID]? {
        guard needed.rawValue > 0 else { return [] }
        let total = lent.reduce(UInt64(0)) { $0 &+ $1.size.rawValue }
        guard total >= needed.rawValue else { return nil }
        if let single = lent.filter({ $0.size >= needed }).min(by: { ($0.size, $0.id) < ($1.size, $1.id) }) {
            return [single.id]
        }
        var chosen: [DeviceID] = []
        var back: UInt64 = 0
        for device in lent.sorted(by: { ($0.size, $1.id) > ($1.size, $0.id) }) where back < needed.rawValue {
            chosen.append(device.id)
            back &+= device.size.rawValue
        }
        return chosen
    }

    /// Splits `bytes` (a whole number of blocks) into the sizes of the devices the policy lends: `chunk` each
    /// (rounded down to whole blocks, at least one block), the last one smaller, so that a reclaim can take back
    /// part of what was lent.
    public static func chunks(of bytes: ByteCount, chunk: ByteCount, blockSize: ByteCount) -> [ByteCount] {
        let block = blockSize.rawValue
        guard block > 0 else { return [] }
        let whole = bytes.rawValue - bytes.rawValue % block
        let step = max(block, chunk.rawValue - chunk.rawValue % block)
        var result: [ByteCount] = []
        var left = whole
        while left > 0 {
            let size = min(step, left)
            result.append(ByteCount(size))
            left -= size
        }
        return result
    }
}
