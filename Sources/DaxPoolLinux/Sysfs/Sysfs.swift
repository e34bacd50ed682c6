// Linux only.
import DaxPoolSystem
import Glibc
import SystemPackage

/// The kernel's sysfs tree, or a copy of one laid out under another directory (tests).
///
/// Reads open the attribute `O_RDONLY` and read it whole; writes open it `O_WRONLY` (no `O_CREAT`, no `O_TRUNC`)
/// and store the value with exactly one `write(2)`, so the errno a store returns (`EBUSY`, `ENOSPC`, `EINVAL`,
/// `ENXIO`...) reaches the caller unchanged.
public struct Sysfs: SysfsAccess {
    /// The directory standing for `/sys`.
    public let root: FilePath

    /// - Parameter root: `/sys` on a real host, or a directory laid out like it.
    public init(root: FilePath = "/sys") {
        self.root = root
    }

    /// `path` under the root: `/sys/...` on a real host.
    public func absolute(_ path: FilePath) -> FilePath {
        root.pushing(path)
    }

    /// Opens the attribute read-only and reads it whole; one trailing newline is removed.
    /// - Throws: the `Errno` of `open(2)` or `read(2)`.
    public func read(_ path: FilePath) throws(Errno) -> String {
        let file = try OwnedDescriptor.open(absolute(path), .readOnly)
        let bytes = try Syscall.readAll(file.descriptor.rawValue)
        var text = String(decoding: bytes, as: UTF8.self)
        if text.hasSuffix("\n") { text.removeLast() }
        return text
    }

    /// Opens the attribute write-only (no `O_CREAT`, no `O_TRUNC`) and stores `value` with one `write(2)`.
    /// - Throws: the kernel's `Errno` for the open or the store, unchanged.
    public func write(_ path: FilePath, _ value: String) throws(Errno) {
        let file = try OwnedDescriptor.open(absolute(path), .writeOnly)
        try Syscall.writeOnce(file.descriptor.rawValue, Array(value.utf8))
        try file.close()
    }

    /// The names in `directory`, sorted, without `.` and `..`.
    /// - Throws: the `Errno` of opening or reading the directory.
    public func entries(_ directory: FilePath) throws(Errno) -> [String] {
        try Syscall.directoryEntries(absolute(directory)).sorted()
    }

    /// `path` with every symbolic link resolved (`realpath(3)`), relative to the root.
    /// - Throws: the `Errno` of the resolution, or `EINVAL` when a link leads out of the tree.
    public func resolve(_ path: FilePath) throws(Errno) -> FilePath {
        let canonicalRoot = try Syscall.canonicalPath(root)
        let resolved = try Syscall.canonicalPath(absolute(path))
        guard resolved.starts(with: canonicalRoot) else {
            // A link that leaves the tree (only possible in a malformed test tree).
            throw Errno.invalidArgument
        }
        var relative = FilePath("")
        for component in resolved.components.dropFirst(canonicalRoot.components.count) {
            relative.append(component)
        }
        return relative
    }

    /// Whether anything is at `path` (`lstat(2)`: a dangling link counts).
    public func exists(_ path: FilePath) -> Bool {
        (try? Syscall.linkStatusIfPresent(absolute(path))).flatMap { $0 } != nil
    }
}
