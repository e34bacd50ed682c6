/// Devices' ranges by instance. The kernel's IDA and `PoolModel` hand out the lowest free instance, so instances
/// are dense and live in an array indexed by instance (one cache line to find a device, no hashing); any other
/// instance lives in a dictionary.
struct DeviceTable: Sendable, Equatable {
    private var dense: [DeviceRanges?] = []
    private var sparse: [Int: DeviceRanges] = [:]
    private(set) var count = 0

    subscript(device: Int) -> DeviceRanges? {
        device >= 0 && device < dense.count ? dense[device] : sparse[device]
    }

    /// Adds or replaces the ranges of `device`.
    mutating func set(_ device: Int, _ ranges: DeviceRanges) {
        if device >= 0, device >= dense.count, device < 2 * count + 64 {
            let oldCount = dense.count
            dense.append(contentsOf: repeatElement(nil, count: device + 1 - oldCount))
            if !sparse.isEmpty {
                for instance in oldCount..<dense.count {
                    if let moved = sparse.removeValue(forKey: instance) { dense[instance] = moved }
                }
            }
        }
        let previous: DeviceRanges?
        if device >= 0 && device < dense.count {
            previous = dense[device]
            dense[device] = ranges
        } else {
            previous = sparse.updateValue(ranges, forKey: device)
        }
        if previous == nil { count += 1 }
    }

    /// Removes and returns the ranges of `device`.
    mutating func remove(_ device: Int) -> DeviceRanges? {
        let removed: DeviceRanges?
        if device >= 0 && device < dense.count {
            removed = dense[device]
            dense[device] = nil
        } else {
            removed = sparse.removeValue(forKey: device)
        }
        if removed != nil { count -= 1 }
        return removed
    }

    /// The devices in ascending order.
    var sortedDevices: [Int] {
        let outside = sparse.keys.sorted()
        var result = outside.filter { $0 < 0 }
        for (instance, ranges) in dense.enumerated() where ranges != nil { result.append(instance) }
        result += outside.filter { $0 >= 0 }
        return result
    }

    static func == (lhs: DeviceTable, rhs: DeviceTable) -> Bool {
        guard lhs.count == rhs.count else { return false }
        let devices = lhs.sortedDevices
        return devices == rhs.sortedDevices && devices.allSatisfy { lhs[$0] == rhs[$0] }
    }
}
