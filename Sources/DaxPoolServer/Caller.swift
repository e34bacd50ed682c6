#if canImport(Glibc)
import Glibc
#endif

/// Who sent a request, as the kernel told the daemon (`SO_PEERCRED` on the Unix socket).
public struct Caller: Hashable, Sendable, CustomStringConvertible {
    /// The peer's effective uid.
    public var uid: UInt32
    /// The peer's effective gid (its primary group).
    public var gid: UInt32
    /// Supplementary groups (read from `/proc/PID/status` only when the access policy names groups).
    public var groups: [UInt32]
    /// The connecting process; `nil` for the daemon itself.
    public var pid: Int32?

    /// A caller with uid `uid`, gid `gid`, supplementary `groups` (none unless given) and process `pid`.
    public init(uid: UInt32, gid: UInt32, groups: [UInt32] = [], pid: Int32?) {
        self.uid = uid
        self.gid = gid
        self.groups = groups
        self.pid = pid
    }

    /// The daemon acting on its own behalf (start-up, tests of the service). A process's real ids do not change
    /// while it runs (the daemon never calls `setuid`), so they are read once.
    public static let daemon = Caller(uid: getuid(), gid: getgid(), pid: nil)

    /// `uid U (pid P)`, or `uid U` for the daemon itself, for refusals and logs.
    public var description: String { "uid \(uid)" + (pid.map { " (pid \($0))" } ?? "") }

    /// The primary and supplementary groups.
    var allGroups: Set<UInt32> { Set(groups).union([gid]) }
}
