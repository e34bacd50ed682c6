// Linux only.
import DaxPoolCore
import DaxPoolSystem
import SystemPackage

/// What a file backend needs to claim the directories of the regions it serves for one daemon
/// (`RegionDirectoryClaim`): the daemon's registry of claims and its state directory's identity.
public struct RegionOwnership: Sendable {
    /// The daemon's registry of the region directories it has claimed.
    public let claims: RegionClaims
    /// `StateDirectoryClaim.identity` of the daemon's state directory.
    public let stateIdentity: String

    /// Ownership recorded in `claims`, for the state directory whose identity is `stateIdentity`.
    public init(claims: RegionClaims, stateIdentity: String) {
        self.claims = claims
        self.stateIdentity = stateIdentity
    }

    /// Claims `directory` for `region`, or refuses with what holds it: another running daemon, another state
    /// directory, or another region.
    func claim(_ directory: FilePath, for region: RegionConfig, operation: String) throws(BackendError) {
        do throws(RegionDirectoryClaimError) {
            try claims.claim(directory: directory, stateIdentity: stateIdentity, regionID: region.id)
        } catch {
            throw BackendError(operation, directory, .resourceBusy, "\(error)")
        }
    }

    /// Releases the claim on a destroyed region's directory and removes its marker.
    func releaseDestroyed(_ directory: FilePath) {
        claims.release(directory: directory, removingMarker: true)
    }
}

/// Region directories are trusted or refused (`TrustedDirectory`).
extension TrustedDirectoryError {
    /// The backend error for a region directory that cannot be trusted.
    func backendError(_ operation: String, _ path: FilePath) -> BackendError {
        switch problem {
        case .system(_, let errno):
            BackendError(operation, path, errno, message)
        default:
            BackendError(operation, path, .invalidArgument, message)
        }
    }
}
