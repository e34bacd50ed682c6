// Linux only.
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

    public func absolute(_ path: FilePath) -> FilePath {
        root.pushing(path)
    }

    public func read(_ path: FilePath) throws(Errno) -> String {
        let file = try OwnedDescriptor.open(absolute(path), .readOnly)
        let bytes = try Syscall.readAll(file.descriptor.rawValue)
        var text = String(decoding: bytes, as: UTF8.self)
        if text.hasSuffix("\n") { text.removeLast() }
        return text
    }

    public func write(_ path: FilePath, _ value: String) throws(Errno) {
        let file = try OwnedDescriptor.open(absolute(path), .writeOnly)
        try Syscall.writeOnce(file.descriptor.rawValue, Array(value.utf8))
        try file.close()
    }

    public func entries(_ directory: FilePath) throws(Errno) -> [String] {
        try Syscall.directoryEntries(absolute(directory)).sorted()
    }

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

    public func exists(_ path: FilePath) -> Bool {
        (try? Syscall.linkStatusIfPresent(absolute(path))).flatMap { $0 } != nil
    }
}
