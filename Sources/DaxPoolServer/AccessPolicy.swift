#if canImport(Glibc)
import Glibc
#endif

/// Who may do what. Administrators manage regions, memory errors and every device; device creators may
/// create devices, which they then own; a device's owner may read, lease, resize, enable, disable and
/// destroy it. root and the daemon's own uid are always administrators.
public struct AccessPolicy: Sendable, Equatable {
    /// The daemon's uid (an administrator).
    public var daemonUID: UInt32
    /// Uids that are administrators (`admins.users`).
    public var adminUsers: Set<UInt32>
    /// Gids whose members, by primary or supplementary group, are administrators (`admins.groups`).
    public var adminGroups: Set<UInt32>
    /// Uids that may create devices (`device_creators.users`).
    public var creatorUsers: Set<UInt32>
    /// Gids whose members may create devices (`device_creators.groups`).
    public var creatorGroups: Set<UInt32>

    /// A policy; by default the current process's uid is the daemon's and nobody else is named, so only root and
    /// that uid administer.
    public init(
        daemonUID: UInt32 = getuid(),
        adminUsers: Set<UInt32> = [],
        adminGroups: Set<UInt32> = [],
        creatorUsers: Set<UInt32> = [],
        creatorGroups: Set<UInt32> = []
    ) {
        self.daemonUID = daemonUID
        self.adminUsers = adminUsers
        self.adminGroups = adminGroups
        self.creatorUsers = creatorUsers
        self.creatorGroups = creatorGroups
    }

    /// Whether deciding needs the caller's supplementary groups.
    var namesGroups: Bool { !adminGroups.isEmpty || !creatorGroups.isEmpty }

    /// Whether `caller` is root, the daemon's uid, a named administrator, or in an administrators' group.
    public func isAdministrator(_ caller: Caller) -> Bool {
        caller.uid == 0 || caller.uid == daemonUID || adminUsers.contains(caller.uid)
            || !adminGroups.isDisjoint(with: caller.allGroups)
    }

    /// Whether `caller` is an administrator, a named device creator, or in a device creators' group.
    public func mayCreateDevices(_ caller: Caller) -> Bool {
        isAdministrator(caller) || creatorUsers.contains(caller.uid)
            || !creatorGroups.isDisjoint(with: caller.allGroups)
    }

    /// Refuses a caller who is not an administrator.
    func requireAdministrator(_ caller: Caller, to action: String) throws(AccessDenied) {
        guard isAdministrator(caller) else {
            throw AccessDenied(
                "\(caller) may not \(action): only daxpool administrators may (see 'Security' in the README)")
        }
    }

    /// Refuses a caller who neither owns `device` nor is an administrator.
    func requireOwner(_ caller: Caller, owner: UInt32, device: String, to action: String) throws(AccessDenied) {
        guard caller.uid == owner || isAdministrator(caller) else {
            throw AccessDenied(
                "\(caller) may not \(action) \(device): it belongs to uid \(owner); only its owner or an administrator may"
            )
        }
    }
}

/// A caller is not allowed to do what it asked (HTTP 403 `forbidden`).
public struct AccessDenied: Error, Equatable, Sendable, CustomStringConvertible {
    /// Who was refused what, and who may do it instead.
    public var message: String

    /// A refusal saying `message`.
    public init(_ message: String) { self.message = message }

    /// The message.
    public var description: String { message }
}
