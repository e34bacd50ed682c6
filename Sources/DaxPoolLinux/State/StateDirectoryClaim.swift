// Linux only.
import DaxPoolSystem
import Glibc
import SystemPackage

/// Proof that this process is the one daemon serving a state directory, and the directory's identity.
///
/// In the state directory:
///
/// * `daemon-id`: the directory's identity, 32 lowercase hexadecimal digits (128 random bits) and a newline,
///   made once (mode 0600) and never changed. Region directories carry it (`RegionDirectoryClaim`), so that a
///   daemon with another state directory recognises them as someone else's.
/// * `daemon.lock`: an exclusive `flock(2)`, held for as long as the value lives, and the holder's pid. The
///   kernel drops the lock when the process exits, so a crash leaves no stale lock.
///
/// The directory must be trusted (`TrustedDirectory`); every file in it is opened relative to the descriptor of
/// the directory that was checked.
public struct StateDirectoryClaim: ~Copyable, Sendable {
    /// The identity file's name.
    public static let identityFileName = "daemon-id"
    /// The lock file's name.
    public static let lockFileName = "daemon.lock"

    /// The state directory.
    public let directory: String
    /// The state directory's identity: 32 lowercase hexadecimal digits.
    public let identity: String
    private let lock: OwnedDescriptor

    /// Checks the directory, locks it without waiting, and reads its identity, making one if it has none.
    /// - Throws: `.untrusted` for a directory daxpool may not trust, `.held` with the holder's pid when another
    ///   daemon serves the directory, `.damagedIdentity` when `daemon-id` is not one daxpool wrote.
    /// The corresponding C functions are `openat(2)`, `flock(2)` with `LOCK_EX | LOCK_NB`, `pread(2)`,
    /// `pwrite(2)`, `fsync(2)` and `renameat(2)`.
    public init(directory: String) throws(StateDirectoryClaimError) {
        let directoryDescriptor: OwnedDescriptor
        do throws(TrustedDirectoryError) {
            directoryDescriptor = try TrustedDirectory.open(FilePath(directory), purpose: "state directory")
        } catch {
            throw .untrusted(error)
        }
        let lock = try Self.lock(in: directoryDescriptor, directory: directory)
        self.identity = try Self.identity(in: directoryDescriptor, directory: directory)
        self.directory = directory
        self.lock = lock
    }

    /// Unlocks now; the files stay, so the next daemon locks the same file and finds the same identity.
    public consuming func release() {
        _ = consume self
    }

    /// Whether `text` has the form of an identity: 32 lowercase hexadecimal digits.
    public static func isIdentity(_ text: some StringProtocol) -> Bool {
        text.utf8.count == 32 && text.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    /// `<directory>/<name>`, for messages.
    private static func path(_ directory: String, _ name: String) -> String {
        FilePath(directory).appending(name).string
    }

    /// Opens (creating, 0600) and locks `daemon.lock`, then writes this process's pid into it.
    private static func lock(in directory: borrowing OwnedDescriptor, directory path: String)
        throws(StateDirectoryClaimError) -> OwnedDescriptor
    {
        let lockPath = Self.path(path, lockFileName)
        let raw: CInt
        do throws(Errno) {
            raw = try Syscall.open(
                at: directory.descriptor.rawValue, lockFileName, .readWrite,
                options: [.create, .noFollow, .nonBlocking])
        } catch {
            throw .failed(FileError(operation: "open", path: lockPath, errno: error))
        }
        let file = OwnedDescriptor(taking: FileDescriptor(rawValue: raw))
        let isRegularFile: Bool
        do throws(Errno) {
            isRegularFile = try file.status().isRegularFile
        } catch {
            throw .failed(FileError(operation: "fstat", path: lockPath, errno: error))
        }
        guard isRegularFile else {
            throw .failed(FileError(operation: "open", path: lockPath, errno: .notSupported))
        }
        do throws(Errno) {
            try Syscall.lock(file.descriptor.rawValue, operation: [.exclusive, .nonBlocking])
        } catch .wouldBlock {
            let bytes = (try? file.readToEnd()) ?? []
            let pid = Int32(String(decoding: bytes, as: UTF8.self).filter { !$0.isWhitespace })
            throw .held(directory: path, pid: pid)
        } catch {
            throw .failed(FileError(operation: "flock", path: lockPath, errno: error))
        }
        do throws(Errno) {
            try file.resize(to: 0)
            try file.writeAll(Array("\(getpid())\n".utf8))
        } catch {
            throw .failed(FileError(operation: "write", path: lockPath, errno: error))
        }
        return file
    }

    /// Reads `daemon-id`, or makes it: written under a temporary name, flushed, renamed into place, and the
    /// directory flushed, so that a crash leaves no identity or the whole one. The caller holds the lock.
    private static func identity(in directory: borrowing OwnedDescriptor, directory path: String)
        throws(StateDirectoryClaimError) -> String
    {
        let identityPath = Self.path(path, identityFileName)
        let raw: CInt
        do throws(Errno) {
            raw = try Syscall.open(
                at: directory.descriptor.rawValue, identityFileName, .readOnly, options: [.noFollow, .nonBlocking])
        } catch .noSuchFileOrDirectory {
            return try makeIdentity(in: directory, directory: path)
        } catch .tooManySymbolicLinkLevels {
            throw .damagedIdentity(path: identityPath, reason: "is a symbolic link")
        } catch {
            throw .failed(FileError(operation: "open", path: identityPath, errno: error))
        }
        let file = OwnedDescriptor(taking: FileDescriptor(rawValue: raw))
        let info: stat
        let bytes: [UInt8]
        do throws(Errno) {
            info = try Syscall.rawStatus(file.descriptor.rawValue)
            bytes = info.st_mode & S_IFMT == S_IFREG && info.st_size <= 64 ? try file.readToEnd() : []
        } catch {
            throw .failed(FileError(operation: "read", path: identityPath, errno: error))
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw .damagedIdentity(path: identityPath, reason: "is not a regular file")
        }
        guard info.st_uid == geteuid() || info.st_uid == 0 else {
            throw .damagedIdentity(path: identityPath, reason: "is owned by uid \(info.st_uid)")
        }
        let text = String(decoding: bytes, as: UTF8.self)
        let identity = text.hasSuffix("\n") ? String(text.dropLast()) : text
        guard isIdentity(identity) else {
            throw .damagedIdentity(path: identityPath, reason: "does not hold 32 lowercase hexadecimal digits")
        }
        return identity
    }

    /// Writes a new random identity into `daemon-id` (mode 0600).
    private static func makeIdentity(in directory: borrowing OwnedDescriptor, directory path: String)
        throws(StateDirectoryClaimError) -> String
    {
        var generator = SystemRandomNumberGenerator()
        let identity = (0..<2).map { _ in
            let digits = String(generator.next() as UInt64, radix: 16)
            return String(repeating: "0", count: 16 - digits.count) + digits
        }.joined()
        let temporary = identityFileName + ".tmp"
        var step = "open"
        var stepPath = Self.path(path, temporary)
        do throws(Errno) {
            let raw = try Syscall.open(
                at: directory.descriptor.rawValue, temporary, .writeOnly, options: [.create, .truncate, .noFollow])
            let file = OwnedDescriptor(taking: FileDescriptor(rawValue: raw))
            step = "write"
            try file.setPermissions(.ownerReadWrite)
            try file.writeAll(Array((identity + "\n").utf8))
            try file.synchronize()
            try file.close()
            step = "rename"
            try Syscall.rename(at: directory.descriptor.rawValue, temporary, to: identityFileName)
            step = "fsync"
            stepPath = path
            try directory.synchronize()
        } catch {
            try? Syscall.unlink(at: directory.descriptor.rawValue, temporary)
            throw .failed(FileError(operation: step, path: stepPath, errno: error))
        }
        return identity
    }
}
