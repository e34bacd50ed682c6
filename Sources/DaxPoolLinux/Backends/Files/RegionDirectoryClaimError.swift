// Linux only.
import DaxPoolSystem
import SystemPackage

/// Why a region's directory could not be claimed.
public enum RegionDirectoryClaimError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The directory may not be trusted (see `TrustedDirectory`).
    case untrusted(TrustedDirectoryError)
    /// The directory carries the marker of another state directory (`stateIdentity`, `nil` when the marker's name
    /// cannot be read) and region.
    case foreignState(directory: String, marker: String, stateIdentity: String?, regionID: Int?)
    /// The directory belongs to another region (`regionID`) of the same state directory.
    case otherRegion(directory: String, marker: String, regionID: Int)
    /// Another running daemon holds the directory's lock; `pid` is the holder's, when `/proc/locks` names it.
    case inUse(directory: String, marker: String, pid: Int32?)
    /// The state identity is not 32 lowercase hexadecimal digits.
    case invalidIdentity(String)
    /// A file operation failed.
    case failed(FileError)

    /// What is wrong and what to do, naming the directory.
    public var message: String {
        switch self {
        case .untrusted(let error):
            return error.message
        case .foreignState(let directory, let marker, let identity, let region):
            let owner =
                identity.map { "another daxpool state (identity \($0))" }
                ?? "another daxpool state (marker \(marker))"
            return "the region directory \(directory) belongs to \(owner)\(region.map { ", region \($0)" } ?? ""): "
                + "start that daemon, or choose another path (if that state is gone for good, remove "
                + "\(FilePath(directory).appending(marker)) and try again)"
        case .otherRegion(let directory, let marker, let region):
            return "the region directory \(directory) belongs to region \(region) of this daemon's state: choose "
                + "another path (if region \(region) is gone, remove \(FilePath(directory).appending(marker)))"
        case .inUse(let directory, _, let pid):
            return "the region directory \(directory) is in use by another running daxpool daemon"
                + "\(pid.map { " (pid \($0))" } ?? ""): stop it, or choose another path"
        case .invalidIdentity(let identity):
            return "'\(identity)' is not a state identity (32 lowercase hexadecimal digits)"
        case .failed(let error):
            return "cannot claim the region directory (\(error))"
        }
    }

    /// The `Errno` a `BackendError` made from this error should carry: `EBUSY` when another state, region or
    /// daemon holds the directory, `EACCES` for a directory daxpool may not trust, `EINVAL` for a bad identity,
    /// else the failed call's.
    public var errno: Errno {
        switch self {
        case .untrusted: .permissionDenied
        case .foreignState, .otherRegion, .inUse: .resourceBusy
        case .invalidIdentity: .invalidArgument
        case .failed(let error): error.errno
        }
    }

    /// The message: what was found and what to do.
    public var description: String { message }
}
