// Linux only.
import Glibc
import SystemPackage

extension Syscall {
    /// Changes the options of the filesystem mounted at `target` in place (`MS_REMOUNT`), keeping the mount
    /// `nosuid,nodev,noexec`: tmpfs takes a new `size=` and keeps its files.
    /// - Throws: `EINVAL` when the filesystem refuses the options (tmpfs: a `size=` below what its files hold).
    /// The corresponding C function is `mount(2)`.
    public static func remountRestricted(at target: FilePath, type: String, options: String) throws(Errno) {
        let flags = UInt(MS_REMOUNT) | UInt(MS_NOSUID) | UInt(MS_NODEV) | UInt(MS_NOEXEC)
        try withCString(target) { cTarget in
            options.withCString { cOptions in
                nothingOrErrno { Glibc.mount(nil, cTarget, type, flags, cOptions) }
            }
        }
    }
}
