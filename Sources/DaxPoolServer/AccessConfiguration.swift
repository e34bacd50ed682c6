#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The `daxpool serve --config FILE` document: who administers the daemon, who may create devices, and who
/// may connect to its socket.
///
/// ```json
/// {
///   "admins": { "users": ["alice", 1001], "groups": ["daxpool-admin"] },
///   "device_creators": { "users": [], "groups": ["kvm"] },
///   "socket": { "group": "kvm", "mode": "0660" }
/// }
/// ```
///
/// Users and groups are names or numeric ids. Every key is optional; unknown keys are errors.
/// `socket.mode` is `"0600"` (the default: only the daemon's user and root connect) or `"0660"` (members of
/// `socket.group` connect too; then `socket.group` is required).
public struct AccessConfiguration: Sendable, Equatable {
    /// Who administers the daemon and who may create devices (`admins`, `device_creators`), names resolved to ids.
    public var policy: AccessPolicy
    /// The socket's group, when members of a group may connect.
    public var socketGroup: UInt32?
    /// The socket's mode: 0o600 or 0o660.
    public var socketMode: UInt32

    /// A configuration with `policy`; by default no socket group and mode 0o600, so only the daemon's user and root
    /// connect.
    public init(policy: AccessPolicy = AccessPolicy(), socketGroup: UInt32? = nil, socketMode: UInt32 = 0o600) {
        self.policy = policy
        self.socketGroup = socketGroup
        self.socketMode = socketMode
    }

    /// Looks up a user or group name; `nil` when there is none.
    public typealias Resolver = @Sendable (String) -> UInt32?

    /// Parses and validates a configuration document, resolving names with `user` and `group`.
    public init(
        json data: Data,
        source: String,
        daemonUID: UInt32,
        user: Resolver,
        group: Resolver
    ) throws(ConfigurationError) {
        let document: Document
        do {
            document = try JSONDecoder().decode(Document.self, from: data)
        } catch let error as ConfigurationError {
            throw ConfigurationError("\(source): \(error.message)")
        } catch {
            throw ConfigurationError("\(source) is not a valid daxpool configuration: \(Self.describe(error))")
        }
        func resolve(_ names: [Principal]?, _ field: String, _ lookup: Resolver, kind: String)
            throws(ConfigurationError)
            -> Set<UInt32>
        {
            var ids: Set<UInt32> = []
            for name in names ?? [] {
                switch name {
                case .id(let id):
                    ids.insert(id)
                case .name(let text):
                    guard let id = lookup(text) else {
                        throw ConfigurationError("\(source): \(field) names \(kind) '\(text)', which does not exist")
                    }
                    ids.insert(id)
                }
            }
            return ids
        }
        policy = AccessPolicy(
            daemonUID: daemonUID,
            adminUsers: try resolve(document.admins?.users, "admins.users", user, kind: "user"),
            adminGroups: try resolve(document.admins?.groups, "admins.groups", group, kind: "group"),
            creatorUsers: try resolve(document.deviceCreators?.users, "device_creators.users", user, kind: "user"),
            creatorGroups: try resolve(document.deviceCreators?.groups, "device_creators.groups", group, kind: "group")
        )
        socketGroup = try resolve(document.socket?.group.map { [$0] }, "socket.group", group, kind: "group").first
        switch document.socket?.mode {
        case nil: socketMode = socketGroup == nil ? 0o600 : 0o660
        case "0600", "600": socketMode = 0o600
        case "0660", "660": socketMode = 0o660
        case let other?:
            throw ConfigurationError("\(source): socket.mode '\(other)' is not allowed: use \"0600\" or \"0660\"")
        }
        if socketMode == 0o660, socketGroup == nil {
            throw ConfigurationError("\(source): socket.mode 0660 needs socket.group: name the group that may connect")
        }
    }

    private static func describe(_ error: any Error) -> String {
        guard let error = error as? DecodingError else { return "\(error)" }
        switch error {
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return (path.isEmpty ? "" : "at '\(path)': ") + context.debugDescription
        case .keyNotFound(let key, _):
            return "missing '\(key.stringValue)'"
        @unknown default:
            return "\(error)"
        }
    }

    /// A user or group: a name or a numeric id.
    enum Principal: Decodable {
        case id(UInt32)
        case name(String)

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let id = try? container.decode(UInt32.self) {
                self = .id(id)
            } else if let text = try? container.decode(String.self), !text.isEmpty, text.utf8.count <= 256 {
                self = UInt32(text).map(Principal.id) ?? .name(text)
            } else {
                throw DecodingError.dataCorrupted(
                    .init(
                        codingPath: decoder.codingPath,
                        debugDescription: "expected a user or group name or a numeric id from 0 to 4294967295"))
            }
        }
    }

    struct Members: Decodable {
        var users: [Principal]?
        var groups: [Principal]?

        enum CodingKeys: String, CodingKey, CaseIterable { case users, groups }

        init(from decoder: any Decoder) throws {
            try AccessConfiguration.checkKeys(decoder, CodingKeys.allCases.map(\.rawValue))
            let container = try decoder.container(keyedBy: CodingKeys.self)
            users = try container.decodeIfPresent([Principal].self, forKey: .users)
            groups = try container.decodeIfPresent([Principal].self, forKey: .groups)
        }
    }

    struct SocketSettings: Decodable {
        var group: Principal?
        var mode: String?

        enum CodingKeys: String, CodingKey, CaseIterable { case group, mode }

        init(from decoder: any Decoder) throws {
            try AccessConfiguration.checkKeys(decoder, CodingKeys.allCases.map(\.rawValue))
            let container = try decoder.container(keyedBy: CodingKeys.self)
            group = try container.decodeIfPresent(Principal.self, forKey: .group)
            mode = try container.decodeIfPresent(String.self, forKey: .mode)
        }
    }

    struct Document: Decodable {
        var admins: Members?
        var deviceCreators: Members?
        var socket: SocketSettings?

        enum CodingKeys: String, CodingKey, CaseIterable {
            case admins, socket
            case deviceCreators = "device_creators"
        }

        init(from decoder: any Decoder) throws {
            try AccessConfiguration.checkKeys(decoder, CodingKeys.allCases.map(\.rawValue))
            let container = try decoder.container(keyedBy: CodingKeys.self)
            admins = try container.decodeIfPresent(Members.self, forKey: .admins)
            deviceCreators = try container.decodeIfPresent(Members.self, forKey: .deviceCreators)
            socket = try container.decodeIfPresent(SocketSettings.self, forKey: .socket)
        }
    }

    private struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// Refuses keys other than `known`, so that a misspelt key is an error rather than silently ignored.
    fileprivate static func checkKeys(_ decoder: any Decoder, _ known: [String]) throws {
        let container = try decoder.container(keyedBy: AnyKey.self)
        let path = decoder.codingPath.map(\.stringValue).joined(separator: ".")
        for key in container.allKeys where !known.contains(key.stringValue) {
            throw ConfigurationError(
                "unknown key '\(path.isEmpty ? "" : path + ".")\(key.stringValue)' (known: \(known.joined(separator: ", ")))"
            )
        }
    }
}

/// A configuration file the daemon cannot use; the message says what to fix.
public struct ConfigurationError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What is wrong with the file and what to fix, prefixed with the file's name.
    public var message: String
    /// An error saying `message`.
    public init(_ message: String) { self.message = message }
    /// The message.
    public var description: String { message }
}
