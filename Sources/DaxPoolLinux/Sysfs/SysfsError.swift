// Linux only.
import SystemPackage

/// A sysfs attribute that could not be read, written or understood: which attribute, what was done, the `Errno`
/// (`EBADMSG` when the text does not parse) and the text or reason.
public struct SysfsError: Error, Hashable, Sendable, CustomStringConvertible {
    /// `"read"`, `"write"`, `"list"`, `"resolve"` or `"parse"`.
    public var operation: String
    /// The absolute path of the attribute.
    public var path: String
    /// What the kernel answered, or `EBADMSG` when the text did not parse.
    public var errno: Errno
    /// What was found or written, or why it failed.
    public var detail: String

    /// An error with every field given.
    public init(operation: String, path: String, errno: Errno, detail: String) {
        self.operation = operation
        self.path = path
        self.errno = errno
        self.detail = detail
    }

    /// What failed on which attribute: the text that did not parse, the value whose store failed, or the errno.
    public var description: String {
        switch operation {
        case "parse": "\(path) holds '\(detail)', which daxpool cannot parse"
        case "write": "writing '\(detail)' to \(path) failed: \(errno)"
        default: "cannot \(operation) \(path): \(errno)"
        }
    }
}
