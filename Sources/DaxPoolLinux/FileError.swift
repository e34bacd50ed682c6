// Linux only.
import SystemPackage

/// A failed file operation: what was attempted, on which path, and the `Errno` the kernel returned.
public struct FileError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What was attempted, e.g. `"open"`, `"rename"`.
    public var operation: String
    public var path: String
    public var errno: Errno

    public init(operation: String, path: String, errno: Errno) {
        self.operation = operation
        self.path = path
        self.errno = errno
    }

    init(_ operation: String, _ path: FilePath, _ errno: Errno) {
        self.init(operation: operation, path: path.string, errno: errno)
    }

    public var description: String { "\(operation) \(path): \(errno)" }
}
