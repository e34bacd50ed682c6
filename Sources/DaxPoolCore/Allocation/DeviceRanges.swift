/// One device's ranges in page-offset order, with the device offset at which each begins so that attribution
/// is O(1) once the range is found. Ranges only ever change at the end, so the offsets stay valid. The first
/// range is kept inline: most devices have one, and then the device costs no allocation of its own.
struct DeviceRanges: Sendable, Equatable {
    private(set) var first: Extent
    /// Ranges 1, 2, ...
    private var later: [Extent] = []
    /// `laterOffsets[i]`: the device offset at which `later[i]` begins.
    private var laterOffsets: [UInt64] = []
    private(set) var total: UInt64

    init(first: Extent) {
        self.first = first
        total = first.length.rawValue
    }

    var count: Int { 1 + later.count }

    var last: Extent { later.last ?? first }

    var extents: [Extent] { later.isEmpty ? [first] : [first] + later }

    func forEach(_ body: (Extent) -> Void) {
        body(first)
        for extent in later { body(extent) }
    }

    /// The device offset at which range `index` begins.
    func offset(ofRange index: Int) -> UInt64 { index == 0 ? 0 : laterOffsets[index - 1] }

    mutating func append(_ extent: Extent) {
        later.append(extent)
        laterOffsets.append(total)
        total += extent.length.rawValue
    }

    /// Drops the last range. Returns false, changing nothing, when that is the only one.
    mutating func removeLast() -> Bool {
        guard let last = later.popLast() else { return false }
        laterOffsets.removeLast()
        total -= last.length.rawValue
        return true
    }

    mutating func changeLastLength(by delta: UInt64, growing: Bool) {
        if growing { total += delta } else { total -= delta }
        if later.isEmpty {
            first.length.rawValue = growing ? first.length.rawValue + delta : first.length.rawValue - delta
        } else {
            let index = later.count - 1
            later[index].length.rawValue =
                growing ? later[index].length.rawValue + delta : later[index].length.rawValue - delta
        }
    }
}
