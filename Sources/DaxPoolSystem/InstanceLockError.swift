/// Why an `InstanceLock` could not be taken.
public enum InstanceLockError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Another process holds the lock; `pid` is the one it wrote into the lock file, if readable.
    case held(path: String, pid: Int32?)
    /// The lock file could not be opened or locked.
    case failed(FileError)

    /// What holds the lock or what failed, and what to do.
    public var description: String {
        switch self {
        case .held(let path, let pid):
            "another daxpool daemon\(pid.map { " (pid \($0))" } ?? "") holds \(path) and serves its socket: "
                + "stop it, or give this daemon another socket path"
        case .failed(let error):
            "cannot take the daemon lock (\(error)): check that the socket's directory exists and is writable"
        }
    }
}
