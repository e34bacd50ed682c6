import DaxPoolSystem

/// Why the pool state could not be saved or loaded.
public enum StateStoreError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Reading or writing the state file failed.
    case io(FileError)
    /// The state file exists but does not hold daxpool state.
    case unreadable(path: String, reason: String)
    /// The snapshot could not be encoded.
    case unencodable(reason: String)

    /// What went wrong with the daxpool state and what to do about it, for logs and error bodies.
    public var description: String {
        switch self {
        case .io(let error):
            "cannot access the daxpool state (\(error)): check that the state directory is writable by the "
                + "daemon's user and that its filesystem has room"
        case .unreadable(let path, let reason):
            "\(path) is not valid daxpool state (\(reason)): restore it from a backup, or move it aside to start "
                + "with an empty pool"
        case .unencodable(let reason):
            "cannot encode the daxpool state: \(reason)"
        }
    }
}
