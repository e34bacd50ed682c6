// Linux only: SO_PEERCRED.
import CLinuxShims
import Synchronization

/// The peer credentials of every connection `ConnectionLimiter` admitted, from its admission until it closes: a
/// request context reads them here instead of asking the socket on the channel's event loop for every request (a
/// round trip between threads). A connection's `SO_PEERCRED` is fixed when it connects, so they are the same.
///
/// Each entry holds its channel: an entry is found only for that very channel, and a channel's address cannot be
/// reused by another while its entry lives.
final class ConnectionCredentials: Sendable {
    /// The daemon's one registry (every server in the process shares it; channels are told apart by identity).
    static let shared = ConnectionCredentials()

    /// A connection's entry: the channel itself, so that only it matches, and its credentials.
    typealias Entry = (channel: any AnyObject & Sendable, credentials: cshim_peer_credentials)

    private let entries = Mutex<[ObjectIdentifier: Entry]>([:])

    /// Keeps `credentials` for `channel` until `forget`.
    func record(_ credentials: cshim_peer_credentials, for channel: any AnyObject & Sendable) {
        entries.withLock { $0[ObjectIdentifier(channel)] = (channel, credentials) }
    }

    /// Drops what is kept for `channel`.
    func forget(_ channel: any AnyObject & Sendable) {
        _ = entries.withLock { $0.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    /// The credentials `channel` was admitted with, or `nil`.
    func credentials(of channel: any AnyObject & Sendable) -> cshim_peer_credentials? {
        entries.withLock { entries in
            guard let entry = entries[ObjectIdentifier(channel)], entry.channel === channel else { return nil }
            return entry.credentials
        }
    }
}
