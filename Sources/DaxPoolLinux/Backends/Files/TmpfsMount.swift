// Linux only.
import DaxPoolCore
import DaxPoolSystem
import Glibc
import SystemPackage

/// The tmpfs mount of one shm region when the daemon runs as root: daxpool owns it (source
/// `daxpool-region<id>`), its `size` caps everything the region's files hold, device files grown by their owners
/// included, at the region's size, its `nr_inodes` bounds how many files it can hold, and no directory anyone else
/// may write shares its filesystem, so nobody can make a hard link to a device file from outside the region.
///
/// Its files take transparent huge pages (`huge=within_size`) where a whole 2 MiB page lies within the file: a VM's
/// memory is then mapped with 2 MiB pages, allocating a 2 MiB file is one page instead of 512, and finding whether a
/// destroyed device's file holds data (`SEEK_DATA`) looks at one page instead of 512. A kernel that does not know
/// the option gets the mount without it.
struct TmpfsMount {
    let mountPoint: FilePath
    let regionID: Int
    let size: ByteCount
    /// The mode of the mount's root directory: 0700, or 0711 when other users own devices.
    let mode: mode_t

    /// The most files (and directories) a region's mount holds: devices, the pool and its files.
    static let inodeLimit = 16384

    /// The mount source daxpool gives its mounts, so that a later start recognises them.
    var source: String { "daxpool-region\(regionID)" }

    /// `size=<bytes>,nr_inodes=<n>,mode=<mode>,uid=<euid>,gid=<egid>,huge=within_size`.
    var options: String { plainOptions + "," + Self.hugePagesOption }

    /// `options` without `huge=`: for a kernel without transparent huge pages for tmpfs.
    var plainOptions: String {
        "size=\(size.rawValue),nr_inodes=\(Self.inodeLimit),mode=\(String(mode, radix: 8)),uid=\(geteuid()),"
            + "gid=\(getegid())"
    }

    /// Huge pages only where a whole one lies within the file's size, so that a file never holds more memory than
    /// its size rounded up to a small page.
    static let hugePagesOption = "huge=within_size"

    /// What is mounted at the mount point now.
    func state() throws(Errno) -> State {
        guard let info = try HugetlbMountInfo.mounted(at: mountPoint.string) else { return .none }
        if info.fileSystemType == "tmpfs" && info.source == source { return .ours }
        return .foreign("\(info.fileSystemType) from '\(info.source)'")
    }

    enum State: Equatable {
        case none
        case ours
        case foreign(String)
    }

    /// Mounts tmpfs at the mount point with `options`, `nosuid,nodev,noexec`; with `plainOptions` when the kernel
    /// refuses `huge=` (`EINVAL`: built without transparent huge pages).
    /// - Returns: the options it was mounted with.
    /// The corresponding C function is `mount(2)`.
    func mount() throws(Errno) -> String {
        do throws(Errno) {
            try Syscall.mountRestricted(source: source, at: mountPoint, type: "tmpfs", options: options)
            return options
        } catch .invalidArgument {
            try Syscall.mountRestricted(source: source, at: mountPoint, type: "tmpfs", options: plainOptions)
            return plainOptions
        }
    }

    /// Unmounts the mount point; while a process still holds a file of it (a kept descriptor or mapping of a
    /// destroyed device), detaches it instead, and the kernel frees it when the last holder lets go.
    /// - Returns: whether the mount had to be detached.
    /// The corresponding C function is `umount2(2)`.
    func unmount() throws(Errno) -> Bool {
        do throws(Errno) {
            try Syscall.unmount(mountPoint)
            return false
        } catch .resourceBusy {
            try Syscall.unmount(mountPoint, flags: .detach)
            return true
        }
    }
}
