// Linux only.
import DaxPoolSystem

/// Why a `StateDirectoryClaim` could not be taken.
public enum StateDirectoryClaimError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The state directory may not be trusted (see `TrustedDirectory`).
    case untrusted(TrustedDirectoryError)
    /// Another process holds the state directory's lock; `pid` is the one it wrote into the lock file, if readable.
    case held(directory: String, pid: Int32?)
    /// The identity file is not what daxpool writes (32 hexadecimal digits, owned by the daemon's uid).
    case damagedIdentity(path: String, reason: String)
    /// A file operation failed.
    case failed(FileError)

    /// What is wrong and what to do.
    public var message: String {
        switch self {
        case .untrusted(let error):
            error.message
        case .held(let directory, let pid):
            "another daxpool daemon\(pid.map { " (pid \($0))" } ?? "") serves the state directory \(directory): "
                + "stop it, or give this daemon another --state-dir"
        case .damagedIdentity(let path, let reason):
            "the state directory's identity file \(path) \(reason): restore it from a backup, or remove it to give "
                + "the state directory a new identity (its regions' directories then refuse this daemon until their "
                + ".daxpool-region.* files are removed)"
        case .failed(let error):
            "cannot claim the state directory (\(error)): check that it exists and that the daemon may write it"
        }
    }

    /// The message: what was found and what to do.
    public var description: String { message }
}
