/// Why the allocator refused a request. Every case names what conflicted and what was available.
public enum AllocationError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The request needs more than the region has free. `requested` is the device size asked for; `available` is
    /// the largest device size the request's alignment allows now (a multiple of it that fits in one part of the
    /// region, so asking for it works); `largestFreeExtent` is the largest contiguous free extent usable at that
    /// alignment; `segments` is how many parts the region's memory is in (a device lies in one).
    case insufficientSpace(
        requested: ByteCount, available: ByteCount, largestFreeExtent: ByteCount, segments: Int = 1)
    /// A size or range that is not a multiple of the alignment.
    case misaligned(what: String, value: UInt64, alignment: Alignment)
    /// A size of zero where a device needs memory.
    case zeroSize
    /// An explicit range that overlaps memory already in use.
    case rangeInUse(Extent, owner: ExtentOwner)
    /// An explicit range outside the region.
    case outOfRegion(Extent, regionSize: ByteCount)

    /// One sentence for logs and error bodies that names the conflict and, for `insufficientSpace`, what to ask
    /// for instead.
    public var description: String {
        switch self {
        case .insufficientSpace(let requested, let available, let largest, let segments) where segments > 1:
            "not enough free memory in one part of the region: \(requested) bytes requested; the region's memory is "
                + "in \(segments) parts (it grew while devices held it: one hugetlbfs mount each) and a device lies in "
                + "one, so the largest device that fits now is \(available) bytes at this alignment (largest free "
                + "extent \(largest) bytes); "
                + (available.rawValue > 0
                    ? "ask for at most \(available) bytes or free memory first" : "free memory first")
        case .insufficientSpace(let requested, let available, let largest, _):
            "not enough free memory: \(requested) bytes requested, \(available) bytes available at this alignment "
                + "(largest free extent \(largest) bytes); "
                + (available.rawValue > 0
                    ? "ask for at most \(available) bytes or free memory first" : "free memory first")
        case .misaligned(let what, let value, let alignment):
            "\(what) \(value) is not a multiple of the alignment \(alignment) (\(alignment.rawValue) bytes)"
        case .zeroSize:
            "size must be greater than zero"
        case .rangeInUse(let extent, let owner):
            "range \(extent) is already in use by \(owner)"
        case .outOfRegion(let extent, let regionSize):
            "range \(extent) lies outside the region (size \(regionSize) bytes)"
        }
    }
}

/// Who holds an extent of a region.
public enum ExtentOwner: Hashable, Sendable, Codable, CustomStringConvertible {
    /// Device instance N of the region (`daxR.N`).
    case device(Int)
    /// A quarantined bad block: never handed out.
    case quarantine

    /// The owner as a phrase for messages: "device instance N" or "a quarantined bad block".
    public var description: String {
        switch self {
        case .device(let instance): "device instance \(instance)"
        case .quarantine: "a quarantined bad block"
        }
    }
}
