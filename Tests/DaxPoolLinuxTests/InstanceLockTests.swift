import DaxPoolLinux
import DaxPoolSystem
import Glibc
import Testing

@Suite("instance lock", .timeLimit(.minutes(20)))
struct InstanceLockTests {
    @Test("a second holder is refused with the first holder's pid until the first releases")
    func secondHolderRefused() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let socket = "\(root)/daxpool.sock"
        let first = try InstanceLock(socketPath: socket)
        #expect(first.path == socket + ".lock")
        #expect(String(decoding: Scratch.read(64, from: socket + ".lock"), as: UTF8.self) == "\(getpid())\n")
        #expect(Scratch.status(socket + ".lock").map { $0.st_mode & 0o777 } == 0o600)

        let error = try #require(throws: InstanceLockError.self) { _ = try InstanceLock(socketPath: socket) }
        #expect(error == .held(path: socket + ".lock", pid: getpid()))
        #expect(error.description.contains("pid \(getpid())"))

        first.release()
        let second = try InstanceLock(socketPath: socket)
        second.release()
    }

    @Test("a lock in a missing directory fails with the path")
    func missingDirectory() throws {
        let error = try #require(throws: InstanceLockError.self) {
            _ = try InstanceLock(path: "/dev/shm/daxpool-no-such-directory/x.lock")
        }
        guard case .failed(let fileError) = error else {
            Issue.record("expected .failed, got \(error)")
            return
        }
        #expect(fileError.path == "/dev/shm/daxpool-no-such-directory/x.lock")
    }
}
