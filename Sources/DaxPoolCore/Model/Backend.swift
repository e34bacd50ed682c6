/// Where a region's memory comes from.
public enum BackendKind: String, Hashable, Sendable, Codable, CaseIterable, CustomStringConvertible {
    /// Files on tmpfs under a capacity budget kept by daxpool (the embedded default, no root).
    case shm
    /// Files on a hugetlbfs mount with 2M or 1G pages reserved up front.
    case hugetlb
    /// Real Linux device-dax through sysfs.
    case devdax
    /// Ranges only, no memory: capacity planning and control-plane benchmarks.
    case sim

    /// The backend's name as the API and the CLI spell it: `shm`, `hugetlb`, `devdax` or `sim`.
    public var description: String { rawValue }
}

/// Whether a device may be opened by a VMM.
public enum DeviceState: String, Hashable, Sendable, Codable {
    case enabled
    case disabled
    /// Given to the host as System RAM (`kmem`, memory blocks online movable) until `daxpool reclaim` takes it
    /// back; no VMM can open it (`daxctl list` shows it as `mode: system-ram`).
    case lent
}
