// Linux only.
import SystemPackage

extension Syscall {
    /// Changes the options of the filesystem mounted at `target` in place (`MS_REMOUNT`), keeping the mount
    /// `nosuid,nodev,noexec`: tmpfs takes a new `size=` and keeps its files.
    /// - Throws: `EINVAL` when the filesystem refuses the options (tmpfs: a `size=` below what its files hold).
    /// The corresponding C function is `mount(2)`.
    public static func remountRestricted(at target: FilePath, type: String, options: String) throws(Errno) {
        try mount(source: nil, at: target, type: type, flags: MountFlags.restricted.union(.remount), data: options)
    }
}
