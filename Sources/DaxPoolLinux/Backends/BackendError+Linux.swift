// Linux only.
import DaxPoolCore
import SystemPackage

extension BackendError {
    /// A backend failure caused by `errno` at `path`; `message` says what happened and what to do.
    init(_ operation: String, _ path: FilePath, _ errno: Errno, _ message: String) {
        self.init(operation: operation, path: path.string, errno: SystemErrorNumber(errno), message: message)
    }
}

extension SystemErrorNumber {
    /// The core's typed number for `errno`: the one place an `Errno` becomes a `SystemErrorNumber`.
    init(_ errno: Errno) {
        self.init(rawValue: errno.rawValue)
    }
}
