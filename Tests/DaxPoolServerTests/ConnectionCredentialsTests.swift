import CLinuxShims
import Testing

@testable import DaxPoolServer

/// The credentials the connection limiter read when it admitted a connection, which every request on that
/// connection then uses: found for that very connection only, and gone when it closes.
@Suite("connection credentials", .timeLimit(.minutes(20)))
struct ConnectionCredentialsTests {
    final class Connection: Sendable {}

    @Test("each connection finds its own credentials, never another's, and nothing once it is forgotten")
    func ownCredentialsOnly() {
        let registry = ConnectionCredentials()
        let connections = (0..<1000).map { _ in Connection() }
        for (index, connection) in connections.enumerated() {
            registry.record(
                cshim_peer_credentials(pid: Int32(index + 1), uid: UInt32(index), gid: UInt32(index + 7)),
                for: connection)
        }
        for (index, connection) in connections.enumerated() {
            let found = registry.credentials(of: connection)
            #expect(found?.uid == UInt32(index) && found?.gid == UInt32(index + 7) && found?.pid == Int32(index + 1))
        }
        #expect(registry.credentials(of: Connection()) == nil, "a connection never admitted has none")
        for connection in connections.prefix(500) { registry.forget(connection) }
        #expect(connections.prefix(500).allSatisfy { registry.credentials(of: $0) == nil })
        #expect(connections.suffix(500).allSatisfy { registry.credentials(of: $0) != nil })
        for connection in connections { registry.forget(connection) }
        #expect(connections.allSatisfy { registry.credentials(of: $0) == nil })
    }
}
