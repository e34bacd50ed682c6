import DaxPoolServer
import Foundation
import Testing

@Suite("access configuration file", .timeLimit(.minutes(20)))
struct AccessConfigurationTests {
    static let users: [String: UInt32] = ["alice": 1001, "bob": 1002]
    static let groups: [String: UInt32] = ["kvm": 36, "daxadm": 900]

    func parse(_ text: String) throws(ConfigurationError) -> AccessConfiguration {
        try AccessConfiguration(
            json: Data(text.utf8), source: "test.json", daemonUID: 500,
            user: { Self.users[$0] }, group: { Self.groups[$0] })
    }

    @Test("names and ids resolve; a socket group makes the socket 0660")
    func resolves() throws {
        let config = try parse(
            """
            {"admins": {"users": ["alice", 7], "groups": ["daxadm"]},
             "device_creators": {"users": ["bob", "8"], "groups": ["kvm", 40]},
             "socket": {"group": "kvm"}}
            """)
        #expect(config.policy.adminUsers == [1001, 7])
        #expect(config.policy.adminGroups == [900])
        #expect(config.policy.creatorUsers == [1002, 8])
        #expect(config.policy.creatorGroups == [36, 40])
        #expect(config.policy.daemonUID == 500)
        #expect(config.socketGroup == 36)
        #expect(config.socketMode == 0o660)
    }

    @Test("an empty document keeps the defaults: a 0600 socket and no one but root and the daemon administers")
    func defaults() throws {
        let config = try parse("{}")
        #expect(config == AccessConfiguration(policy: AccessPolicy(daemonUID: 500)))
        #expect(config.socketMode == 0o600)
    }

    @Test(
        "mistakes are refused with a message naming them",
        arguments: [
            ("{\"admin\": {}}", "unknown key 'admin'"),
            ("{\"admins\": {\"user\": [1]}}", "unknown key 'admins.user'"),
            ("{\"admins\": {\"users\": [\"carol\"]}}", "admins.users names user 'carol'"),
            ("{\"device_creators\": {\"groups\": [\"wheel\"]}}", "device_creators.groups names group 'wheel'"),
            ("{\"admins\": {\"users\": [-1]}}", "numeric id"),
            ("{\"socket\": {\"mode\": \"0666\"}}", "socket.mode '0666'"),
            ("{\"socket\": {\"mode\": \"0660\"}}", "needs socket.group"),
            ("not json", "not a valid daxpool configuration"),
        ]
    )
    func refused(document: String, expected: String) throws {
        do {
            _ = try parse(document)
            Issue.record("\(document) was accepted")
        } catch {
            #expect(error.message.contains(expected), "\(document): \(error.message)")
            #expect(error.message.hasPrefix("test.json"))
        }
    }
}
