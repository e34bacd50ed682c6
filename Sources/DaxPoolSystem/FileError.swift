// Linux only.
import SystemPackage

/// A failed file operation: what was attempted, on which path, and the `Errno` the kernel returned.
public struct FileError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What was attempted, e.g. `"open"`, `"rename"`.
    public var operation: String
    /// The path it was attempted on.
    public var path: String
    /// What the kernel answered.
    public var errno: Errno

    /// An error for `operation` on `path` that failed with `errno`.
    public init(operation: String, path: String, errno: Errno) {
        self.operation = operation
        self.path = path
        self.errno = errno
    }

    /// An error for `operation` on `path` that failed with `errno`.
    public init(_ operation: String, _ path: FilePath, _ errno: Errno) {
        self.init(operation: operation, path: path.string, errno: errno)
    }

    /// `operation path: errno`, for logs and error messages.
    public var description: String { "\(operation) \(path): \(errno)" }
}
