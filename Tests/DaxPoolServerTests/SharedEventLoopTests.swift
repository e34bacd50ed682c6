import DaxPoolAPI
import DaxPoolClient
import DaxPoolCore
import DaxPoolServer
import DaxPoolTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The API's sockets share one event loop thread (`apiEventLoopGroup`). The threat model's tenant "sends any bytes,
/// slowly" and may never read what it is sent: on a shared loop that must only hold up the tenant's own connection.
@Suite("one event loop for every connection", .timeLimit(.minutes(20)), .serialized)
struct SharedEventLoopTests {
    /// A request the tenant repeats without reading the answers.
    static let request = Array("GET /v1/devices HTTP/1.1\r\nHost: daxpool\r\n\r\n".utf8)

    /// A connected, non-blocking Unix socket to `path`.
    static func connect(_ path: String) throws -> CInt {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw POSIXError(.EMFILE) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in path.utf8.enumerated() where index < buffer.count - 1 { buffer[index] = byte }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard connected == 0 else {
            close(descriptor)
            throw POSIXError(.ECONNREFUSED)
        }
        _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
        return descriptor
    }

    /// Writes `request` on `descriptor` until the socket takes no more (the daemon stopped reading: its answers
    /// fill the tenant's receive buffer, which the tenant never reads) or `limit` requests went; returns how many
    /// bytes went.
    static func flood(_ descriptor: CInt, limit: Int) -> Int {
        var sent = 0
        var stalls = 0
        for _ in 0..<limit {
            let written = request.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            if written > 0 {
                sent += written
                stalls = 0
                continue
            }
            // Give the daemon a moment to read what is there; three stalls in a row mean it stopped reading.
            stalls += 1
            if stalls == 3 { break }
            usleep(50_000)
        }
        return sent
    }

    @Test(
        "a tenant that pipelines requests and never reads the answers, and one that stops mid-request, hold up no one else"
    )
    func stalledTenantsHoldUpNoOne() async throws {
        try await RouterCalls.withServer(backends: [RecordingBackendFake()]) { client, _ in
            let socket = client.socketPath
            let flooder = try Self.connect(socket)
            let halfway = try Self.connect(socket)
            defer {
                close(flooder)
                close(halfway)
            }
            let limit = 100_000
            let sent = Self.flood(flooder, limit: limit)
            #expect(
                sent > 0 && sent < limit * Self.request.count,
                "the daemon stopped reading the tenant's requests after \(sent) bytes, its answers unread")
            let partial = Array("POST /v1/devices HTTP/1.1\r\nHost: daxpool\r\nContent-Length: 100\r\n\r\n{\"si".utf8)
            #expect(partial.withUnsafeBytes { write(halfway, $0.baseAddress, $0.count) } == partial.count)

            // Meanwhile another client is served in full, on the same event loop.
            let answered = try await RouterCalls.blocking {
                let other = DaxPoolClient(socketPath: socket)
                var answered = 0
                for _ in 0..<20 {
                    let device = try other.createDevice(CreateDeviceRequest(size: .mebibytes(2)))
                    let listed = try other.devices().contains { $0.chardev == device.chardev }
                    try other.destroyDevice(device.chardev, force: true)
                    if listed { answered += 1 }
                }
                return answered
            }
            #expect(answered == 20, "every create was answered, listed and destroyed")
            // The stalled tenant's connection is still open: it was held up, not dropped.
            var probe = pollfd(fd: flooder, events: Int16(POLLOUT), revents: 0)
            _ = poll(&probe, 1, 0)
            #expect(probe.revents & Int16(POLLHUP | POLLERR) == 0)
        }
    }
}
