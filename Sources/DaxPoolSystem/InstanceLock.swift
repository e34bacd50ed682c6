// Linux only.
import Glibc
import SystemPackage

/// Proof that this process is the only daemon serving a socket: an exclusive `flock(2)` on `<socket>.lock`,
/// which holds the holder's pid. The kernel drops the lock when the process exits, so a crash leaves no stale
/// lock. Keep the value alive for as long as the socket is served; `release()` or dropping it unlocks.
public struct InstanceLock: ~Copyable, Sendable {
    /// The lock file.
    public let path: String
    private let file: OwnedDescriptor

    /// Locks `<socketPath>.lock`.
    public init(socketPath: String) throws(InstanceLockError) {
        try self.init(path: socketPath + ".lock")
    }

    /// Creates `path` (mode 0600) if needed, locks it without waiting and writes this process's pid into it.
    /// - Throws: `.held` with the holder's pid when another open file holds the lock.
    /// The corresponding C functions are `open(2)` and `flock(2)` with `LOCK_EX | LOCK_NB`.
    public init(path: String) throws(InstanceLockError) {
        let lockPath = FilePath(path)
        let file: OwnedDescriptor
        do throws(Errno) {
            file = try OwnedDescriptor.open(
                lockPath, .readWrite, options: [.create, .noFollow], permissions: .ownerReadWrite
            )
        } catch {
            throw .failed(FileError("open", lockPath, error))
        }
        do throws(Errno) {
            try Syscall.lock(file.descriptor.rawValue, operation: [.exclusive, .nonBlocking])
        } catch .wouldBlock {
            throw .held(path: path, pid: Self.recordedHolder(of: file))
        } catch {
            throw .failed(FileError("flock", lockPath, error))
        }
        do throws(Errno) {
            try file.resize(to: 0)
            try file.writeAll(Array("\(getpid())\n".utf8))
        } catch {
            throw .failed(FileError("write", lockPath, error))
        }
        self.path = path
        self.file = file
    }

    /// Unlocks now (closing the lock file); the file stays, so the next daemon locks the same inode.
    public consuming func release() {
        _ = consume self
    }

    /// The pid written in the lock file, if it holds one.
    private static func recordedHolder(of file: borrowing OwnedDescriptor) -> Int32? {
        guard let bytes = try? file.readToEnd() else { return nil }
        let text = String(decoding: bytes, as: UTF8.self).filter { !$0.isWhitespace }
        return Int32(text)
    }
}
