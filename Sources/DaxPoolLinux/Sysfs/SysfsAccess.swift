// Linux only.
import SystemPackage

/// Reads and writes sysfs attributes. `Sysfs` is the kernel's tree (or a copy of one under another root); tests
/// also use an in-memory fake of the dax bus.
///
/// Every path is relative to the sysfs root, e.g. `bus/dax/devices/dax0.1/size`, so the same code runs against
/// `/sys` and against a test tree.
public protocol SysfsAccess: Sendable {
    /// The attribute's text with one trailing newline removed.
    /// - Throws: the `Errno` of `open(2)` or `read(2)` (`ENOENT` when the attribute does not exist, `EACCES` for
    ///   root-only attributes read by another user, `ENXIO` for attributes of an unbound nd seed device).
    func read(_ path: FilePath) throws(Errno) -> String

    /// Writes `value` with a single `write(2)`, as the kernel expects, and reports the kernel's errno exactly.
    func write(_ path: FilePath, _ value: String) throws(Errno)

    /// The names in a directory, without `.` and `..`.
    func entries(_ directory: FilePath) throws(Errno) -> [String]

    /// The canonical path of `path` with every symbolic link resolved, relative to the root (as `readlink -f`).
    func resolve(_ path: FilePath) throws(Errno) -> FilePath

    /// Whether anything (file, directory or link) is at `path`.
    func exists(_ path: FilePath) -> Bool

    /// The absolute path of `path` on this host, for error messages and for `RegionConfig.path`.
    func absolute(_ path: FilePath) -> FilePath
}
