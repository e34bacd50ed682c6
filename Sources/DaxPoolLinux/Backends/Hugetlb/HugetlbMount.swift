// Linux only.
import DaxPoolCore
import DaxPoolSystem
import Glibc
import SystemPackage

/// One hugetlbfs mount of a region (a segment, `HugetlbBackend+Segments.swift`): daxpool owns it (mode 0700,
/// source `daxpool-region<id>` for segment 0 at the region's path, `daxpool-region<id>-segment<k>` for segment `k`
/// at `<region path>/.segment<k>`), it uses the region's page size, its `size` caps what the files on it can hold,
/// and its `min_size` holds its pages reserved for it so that no other user of the pool can take them.
struct HugetlbMount {
    let mountPoint: FilePath
    let regionID: Int
    let pageSize: Alignment
    let size: ByteCount
    /// The segment's number: 0 for the region's own mount.
    var segment: Int = 0

    /// The mount source daxpool gives its mounts, so that a later start recognises them.
    var source: String { Self.source(regionID: regionID, segment: segment) }

    /// `daxpool-region<id>` for segment 0, `daxpool-region<id>-segment<k>` for segment `k`.
    static func source(regionID: Int, segment: Int) -> String {
        segment == 0 ? "daxpool-region\(regionID)" : "daxpool-region\(regionID)-segment\(segment)"
    }

    /// `pagesize=2M|1G,size=<bytes>,min_size=<bytes>,mode=0700`.
    var options: String {
        "pagesize=\(pageSize),size=\(size.rawValue),min_size=\(size.rawValue),mode=0700"
    }

    /// What is mounted at the mount point now: `.ours` when it is a hugetlbfs mount from daxpool with the
    /// region's page size, `.none` when nothing is, `.foreign` with a description otherwise.
    func state() throws(Errno) -> State {
        guard let info = try HugetlbMountInfo.mounted(at: mountPoint.string) else { return .none }
        if info.fileSystemType == "hugetlbfs" && info.source == source && info.hugePageSize == pageSize.rawValue {
            return .ours
        }
        return .foreign("\(info.fileSystemType) from '\(info.source)' (\(info.superOptions.joined(separator: ",")))")
    }

    enum State: Equatable {
        case none
        case ours
        case foreign(String)
    }

    /// Mounts hugetlbfs at the mount point with `options`, `nosuid,nodev,noexec`.
    /// - Throws: `ENOMEM` when the pool cannot hold `min_size` for the mount; the `Errno` of `mount` otherwise.
    /// The corresponding C function is `mount(2)`.
    func mount() throws(Errno) {
        try Syscall.mountRestricted(source: source, at: mountPoint, type: "hugetlbfs", options: options)
    }

    /// Unmounts the mount point.
    /// - Throws: `EBUSY` while a process has a file of the mount open or mapped; the `Errno` of `umount2` otherwise.
    /// The corresponding C function is `umount2(2)`.
    func unmount() throws(Errno) {
        try Syscall.unmount(mountPoint)
    }
}
