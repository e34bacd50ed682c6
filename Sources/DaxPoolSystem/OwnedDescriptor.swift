// Linux only.
import CLinuxShims
import Glibc
import SystemPackage

/// A file descriptor that this value owns: it is closed exactly once, by `close()` or when the value goes away.
///
/// A bare `FileDescriptor` (from `descriptor`) is only for borrowing.
public struct OwnedDescriptor: ~Copyable, Sendable {
    /// The descriptor, for calls that borrow it. Do not close it.
    public let descriptor: FileDescriptor

    /// Takes ownership of `descriptor`.
    public init(taking descriptor: FileDescriptor) {
        self.descriptor = descriptor
    }

    /// Opens `path`; close-on-exec is always added.
    /// - Parameters:
    ///   - permissions: the mode of a file that `.create` creates.
    /// - Throws: the `Errno` of `open`.
    /// The corresponding C function is `open(2)`.
    public static func open(
        _ path: FilePath,
        _ access: FileDescriptor.AccessMode,
        options: FileDescriptor.OpenOptions = [],
        permissions: FilePermissions = .ownerReadWrite
    ) throws(Errno) -> OwnedDescriptor {
        let raw = try Syscall.open(path, access, options: options, permissions: permissions)
        return OwnedDescriptor(taking: FileDescriptor(rawValue: raw))
    }

    /// Creates an anonymous memory file (close-on-exec), for tests and scratch memory.
    /// The corresponding C function is `memfd_create(2)`.
    public static func memoryFile(named name: String) throws(Errno) -> OwnedDescriptor {
        let raw = try Syscall.createMemoryFile(name: name)
        return OwnedDescriptor(taking: FileDescriptor(rawValue: raw))
    }

    /// The corresponding C function is `fstat(2)`.
    public func status() throws(Errno) -> FileStatus {
        try Syscall.fileStatus(descriptor.rawValue)
    }

    /// Sets the file's length; pages past the new end are freed. The corresponding C function is `ftruncate(2)`.
    public func resize(to length: Int64) throws(Errno) {
        try Syscall.truncate(descriptor.rawValue, length: length)
    }

    /// Allocates (commits) or, with `.punchHole`, frees `length` bytes from `offset`. Without `.keepSize` the
    /// file grows to cover the range. The corresponding C function is `fallocate(2)`.
    public func allocate(offset: Int64, length: Int64, mode: FileAllocationMode = []) throws(Errno) {
        try Syscall.allocate(descriptor.rawValue, mode: mode, offset: offset, length: length)
    }

    /// The corresponding C function is `fchmod(2)`.
    public func setPermissions(_ permissions: FilePermissions) throws(Errno) {
        try Syscall.changeMode(descriptor.rawValue, mode_t(permissions.rawValue))
    }

    /// Gives the file to `uid`, keeping its group. The corresponding C function is `fchown(2)`.
    public func changeOwner(uid: UInt32) throws(Errno) {
        try Syscall.changeOwner(descriptor.rawValue, uid: uid)
    }

    /// Flushes the file's data and metadata to stable storage. The corresponding C function is `fsync(2)`.
    public func synchronize() throws(Errno) {
        try Syscall.synchronize(descriptor.rawValue)
    }

    /// Flushes the file's data, and the metadata needed to read it back (its size, its blocks), to stable storage,
    /// without the timestamps a `synchronize` would also journal. The corresponding C function is `fdatasync(2)`.
    public func synchronizeData() throws(Errno) {
        try Syscall.synchronizeData(descriptor.rawValue)
    }

    /// Writes all of `bytes` at `offset`, looping over short writes. The corresponding C function is `pwrite(2)`.
    public func writeAll(_ bytes: UnsafeRawBufferPointer, at offset: Int64 = 0) throws(Errno) {
        var written = 0
        while written < bytes.count {
            let rest = UnsafeRawBufferPointer(rebasing: bytes[written...])
            written += try Syscall.write(descriptor.rawValue, from: rest, at: offset + Int64(written))
        }
    }

    /// Writes all of `bytes` at `offset`. The corresponding C function is `pwrite(2)`.
    public func writeAll(_ bytes: [UInt8], at offset: Int64 = 0) throws(Errno) {
        let result = bytes.withUnsafeBytes { buffer in
            Result { () throws(Errno) in try writeAll(buffer, at: offset) }
        }
        try result.get()
    }

    /// Reads from `offset` to the end of the file. The corresponding C function is `pread(2)`.
    public func readToEnd(from offset: Int64 = 0) throws(Errno) -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        var position = offset
        while true {
            let result = chunk.withUnsafeMutableBytes { buffer in
                Result { () throws(Errno) in try Syscall.read(descriptor.rawValue, into: buffer, at: position) }
            }
            let count = try result.get()
            if count == 0 { return bytes }
            bytes.append(contentsOf: chunk[..<count])
            position += Int64(count)
        }
    }

    /// Closes the descriptor now and reports a failure. The corresponding C function is `close(2)`.
    public consuming func close() throws(Errno) {
        let raw = descriptor.rawValue
        discard self
        try Syscall.close(raw)
    }

    deinit {
        try? Syscall.close(descriptor.rawValue)
    }
}
