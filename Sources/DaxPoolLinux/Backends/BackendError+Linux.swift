// Linux only.
import DaxPoolCore
import SystemPackage

extension BackendError {
    /// A backend failure caused by `errno` at `path`; `message` says what happened and what to do.
    init(_ operation: String, _ path: FilePath, _ errno: Errno, _ message: String) {
        self.init(operation: operation, path: path.string, errno: errno.rawValue, message: message)
    }
}
