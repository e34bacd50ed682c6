// Linux only.
import SystemPackage

/// A sysfs attribute that could not be read, written or understood: which attribute, what was done, the `Errno`
/// (`EBADMSG` when the text does not parse) and the text or reason.
public struct SysfsError: Error, Hashable, Sendable, CustomStringConvertible {
    /// `"read"`, `"write"`, `"list"`, `"resolve"` or `"parse"`.
    public var operation: String
    /// The absolute path of the attribute.
    public var path: String
    public var errno: Errno
    /// What was found or written, or why it failed.
    public var detail: String

    public init(operation: String, path: String, errno: Errno, detail: String) {
        self.operation = operation
        self.path = path
        self.errno = errno
        self.detail = detail
    }

    public var description: String {
        switch operation {
        case "parse": "\(path) holds '\(detail)', which daxpool cannot parse"
        case "write": "writing '\(detail)' to \(path) failed: \(errno)"
        default: "cannot \(operation) \(path): \(errno)"
        }
    }
}
