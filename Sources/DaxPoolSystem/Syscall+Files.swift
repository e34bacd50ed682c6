// Linux only.
import CLinuxShims
import Glibc
import SystemPackage

extension Syscall {
    /// Opens `path`; close-on-exec is always added. The corresponding C function is `open(2)`.
    /// - Parameters:
    ///   - permissions: the mode of a file that `.create` creates.
    public static func open(
        _ path: FilePath, _ access: FileDescriptor.AccessMode, options: FileDescriptor.OpenOptions = [],
        permissions: FilePermissions = .ownerReadWrite
    ) throws(Errno) -> CInt {
        let options = options.union(.closeOnExec)
        return try withCString(path) { cPath in
            valueOrErrno(.open(path, access, options, permissions)) {
                Glibc.open(cPath, access.rawValue | options.rawValue, mode_t(permissions.rawValue))
            }
        }
    }

    /// Closes without retrying: on Linux the descriptor is gone even when `close` reports `EINTR`.
    /// The corresponding C function is `close(2)`.
    public static func close(_ descriptor: CInt) throws(Errno) {
        try nothingOrErrno(.close(descriptor), retryOnInterrupt: false) { Glibc.close(descriptor) }.get()
    }

    /// The corresponding C function is `fstat(2)`.
    public static func fileStatus(_ descriptor: CInt) throws(Errno) -> FileStatus {
        FileStatus(try rawStatus(descriptor))
    }

    /// The status of what `path` leads to (symbolic links followed). The corresponding C function is `stat(2)`.
    public static func status(_ path: FilePath) throws(Errno) -> FileStatus {
        var info = stat()
        try withCString(path) { cPath in nothingOrErrno(.pathStatus(path)) { stat(cPath, &info) } }
        return FileStatus(info)
    }

    /// The status of `path` itself, not of a symbolic link's target. The corresponding C function is `lstat(2)`.
    public static func linkStatus(_ path: FilePath) throws(Errno) -> FileStatus {
        var info = stat()
        try withCString(path) { cPath in nothingOrErrno(.linkStatus(path)) { lstat(cPath, &info) } }
        return FileStatus(info)
    }

    /// `linkStatus`, or `nil` when nothing is at `path`.
    public static func linkStatusIfPresent(_ path: FilePath) throws(Errno) -> FileStatus? {
        do throws(Errno) {
            return try linkStatus(path)
        } catch .noSuchFileOrDirectory {
            return nil
        }
    }

    /// The corresponding C function is `ftruncate(2)`.
    public static func truncate(_ descriptor: CInt, length: Int64) throws(Errno) {
        try nothingOrErrno(.resize(descriptor, length: length)) { ftruncate(descriptor, off_t(length)) }.get()
    }

    /// Allocates (or with `.punchHole` frees) `length` bytes from `offset`. The corresponding C function is
    /// `fallocate(2)`.
    public static func allocate(
        _ descriptor: CInt, mode: FileAllocationMode = [], offset: Int64, length: Int64
    ) throws(Errno) {
        try nothingOrErrno(.allocate(descriptor, offset: offset, length: length, mode: mode)) {
            cshim_fallocate(descriptor, mode.rawValue, off_t(offset), off_t(length))
        }.get()
    }

    /// The offset of the first byte of data at or after `offset` (`SEEK_DATA`), or `nil` when none follows.
    /// The corresponding C function is `lseek(2)`.
    public static func nextData(_ descriptor: CInt, from offset: Int64) throws(Errno) -> Int64? {
        do throws(Errno) {
            return try seek(descriptor, .data, from: offset)
        } catch  where error == .noSuchAddressOrDevice {
            return nil
        }
    }

    /// The offset of the first hole at or after `offset` (`SEEK_HOLE`); the end of a file counts as a hole.
    /// The corresponding C function is `lseek(2)`.
    public static func nextHole(_ descriptor: CInt, from offset: Int64) throws(Errno) -> Int64 {
        try seek(descriptor, .hole, from: offset)
    }

    /// `lseek(descriptor, offset, SEEK_DATA or SEEK_HOLE)`.
    private static func seek(_ descriptor: CInt, _ whence: FileSeek, from offset: Int64) throws(Errno) -> Int64 {
        Int64(
            try valueOrErrno(.seek(descriptor, whence, from: offset)) {
                lseek(descriptor, off_t(offset), whence.rawValue)
            }.get())
    }

    /// The corresponding C function is `fchmod(2)`.
    public static func changeMode(_ descriptor: CInt, _ mode: mode_t) throws(Errno) {
        try nothingOrErrno(.changeMode(descriptor, FilePermissions(rawValue: mode))) { fchmod(descriptor, mode) }.get()
    }

    /// The corresponding C function is `chmod(2)`.
    public static func changeMode(_ path: FilePath, _ mode: mode_t) throws(Errno) {
        try withCString(path) { cPath in
            nothingOrErrno(.changePathMode(path, FilePermissions(rawValue: mode))) { chmod(cPath, mode) }
        }
    }

    /// Changes the owner, keeping the group. The corresponding C function is `fchown(2)`.
    public static func changeOwner(_ descriptor: CInt, uid: uid_t) throws(Errno) {
        try nothingOrErrno(.changeOwner(descriptor, uid: uid, gid: nil)) { fchown(descriptor, uid, gid_t.max) }.get()
    }

    /// Changes the owner and the group. The corresponding C function is `fchown(2)`.
    public static func changeOwner(_ descriptor: CInt, uid: uid_t, gid: gid_t) throws(Errno) {
        try nothingOrErrno(.changeOwner(descriptor, uid: uid, gid: gid)) { fchown(descriptor, uid, gid) }.get()
    }

    /// Changes the owner and the group of what `path` leads to; `nil` keeps either.
    /// The corresponding C function is `chown(2)`.
    public static func changeOwner(_ path: FilePath, uid: uid_t?, gid: gid_t?) throws(Errno) {
        try withCString(path) { cPath in
            nothingOrErrno(.changePathOwner(path, uid: uid, gid: gid)) {
                chown(cPath, uid ?? uid_t.max, gid ?? gid_t.max)
            }
        }
    }

    /// The corresponding C function is `fsync(2)`.
    public static func synchronize(_ descriptor: CInt) throws(Errno) {
        try nothingOrErrno(.synchronize(descriptor)) { fsync(descriptor) }.get()
    }

    /// Flushes a file's data, and the metadata needed to read it back (its length), to stable storage.
    /// The corresponding C function is `fdatasync(2)`.
    public static func synchronizeData(_ descriptor: CInt) throws(Errno) {
        try nothingOrErrno(.synchronizeData(descriptor)) { fdatasync(descriptor) }.get()
    }

    /// The corresponding C function is `flock(2)`.
    public static func lock(_ descriptor: CInt, operation: LockOperation) throws(Errno) {
        // `flock` names both this function and a struct in Glibc; the type picks the function.
        let flockFunction = Glibc.flock(_:_:)
        try nothingOrErrno(.lock(descriptor, operation)) { flockFunction(descriptor, operation.rawValue) }.get()
    }

    /// Takes (or with `.none` gives back) a lease on the open file. The corresponding C function is `fcntl(2)`
    /// with `F_SETLEASE`.
    /// - Throws: `EAGAIN` when another process has the file open (or mapped) for a write lease.
    public static func setLease(_ descriptor: CInt, _ lease: FileLease) throws(Errno) {
        try nothingOrErrno(.setLease(descriptor, lease)) { fcntl(descriptor, cshim_F_SETLEASE, lease.rawValue) }.get()
    }

    /// The lease this process holds on the open file. The corresponding C function is `fcntl(2)` with
    /// `F_GETLEASE`.
    public static func lease(_ descriptor: CInt) throws(Errno) -> FileLease {
        FileLease(rawValue: try valueOrErrno(.lease(descriptor)) { fcntl(descriptor, cshim_F_GETLEASE) }.get())
    }

    /// Makes reads and writes of the open file return `EAGAIN` instead of waiting. The corresponding C function is
    /// `fcntl(2)` with `F_GETFL` and `F_SETFL`.
    public static func setNonBlocking(_ descriptor: CInt) throws(Errno) {
        try nothingOrErrno(.setNonBlocking(descriptor)) {
            let flags = fcntl(descriptor, F_GETFL)
            return flags == -1 ? -1 : fcntl(descriptor, F_SETFL, flags | O_NONBLOCK)
        }.get()
    }

    /// Reads up to `buffer.count` bytes at `offset`. The corresponding C function is `pread(2)`.
    public static func read(_ descriptor: CInt, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64)
        throws(Errno) -> Int
    {
        try valueOrErrno(.read(descriptor, count: buffer.count, offset: offset)) {
            pread(descriptor, buffer.baseAddress, buffer.count, off_t(offset))
        }.get()
    }

    /// Reads up to `buffer.count` bytes at the current position; `0` at the end of the file.
    /// The corresponding C function is `read(2)`.
    public static func read(_ descriptor: CInt, into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
        try valueOrErrno(.read(descriptor, count: buffer.count, offset: nil)) {
            Glibc.read(descriptor, buffer.baseAddress, buffer.count)
        }.get()
    }

    /// Writes up to `buffer.count` bytes at `offset`. The corresponding C function is `pwrite(2)`.
    public static func write(_ descriptor: CInt, from buffer: UnsafeRawBufferPointer, at offset: Int64)
        throws(Errno) -> Int
    {
        try valueOrErrno(.write(descriptor, count: buffer.count, offset: offset)) {
            pwrite(descriptor, buffer.baseAddress, buffer.count, off_t(offset))
        }.get()
    }

    /// Writes up to `buffer.count` bytes at the current position. The corresponding C function is `write(2)`.
    public static func write(_ descriptor: CInt, from buffer: UnsafeRawBufferPointer) throws(Errno) -> Int {
        try valueOrErrno(.write(descriptor, count: buffer.count, offset: nil)) {
            Glibc.write(descriptor, buffer.baseAddress, buffer.count)
        }.get()
    }

    /// The corresponding C function is `rename(2)`.
    public static func rename(_ source: FilePath, to destination: FilePath) throws(Errno) {
        try withCString(source) { cSource in
            destination.withPlatformString { cDestination in
                nothingOrErrno(.rename(source, to: destination)) { Glibc.rename(cSource, cDestination) }
            }
        }
    }

    /// The corresponding C function is `unlink(2)`.
    public static func unlink(_ path: FilePath) throws(Errno) {
        try withCString(path) { cPath in nothingOrErrno(.unlink(path)) { Glibc.unlink(cPath) } }
    }

    /// The corresponding C function is `mkdir(2)`.
    public static func makeDirectory(_ path: FilePath, mode: mode_t) throws(Errno) {
        try withCString(path) { cPath in
            nothingOrErrno(.makeDirectory(path, FilePermissions(rawValue: mode))) { mkdir(cPath, mode) }
        }
    }

    /// The corresponding C function is `rmdir(2)`.
    public static func removeDirectory(_ path: FilePath) throws(Errno) {
        try withCString(path) { cPath in nothingOrErrno(.removeDirectory(path)) { rmdir(cPath) } }
    }

    /// A pipe: the ends to read and to write, each with `options`. The corresponding C functions are `pipe(2)` and
    /// `fcntl(2)` (Glibc's `pipe2` is hidden from Swift).
    public static func pipe(options: FileDescriptor.PipeOptions = [.closeOnExec]) throws(Errno) -> (
        read: CInt, write: CInt
    ) {
        var ends: [CInt] = [-1, -1]
        let read = try outcome(.pipe(options)) {
            guard Glibc.pipe(&ends) == 0 else { return .failure(currentErrno) }
            for end in ends {
                let descriptorFlags = options.contains(.closeOnExec) ? fcntl(end, F_SETFD, FD_CLOEXEC) : 0
                let statusFlags = options.contains(.nonBlocking) ? fcntl(end, F_SETFL, O_NONBLOCK) : 0
                if descriptorFlags == -1 || statusFlags == -1 {
                    let error = currentErrno
                    _ = Glibc.close(ends[0])
                    _ = Glibc.close(ends[1])
                    return .failure(error)
                }
            }
            return .success(Int(ends[0]))
        }.get()
        return (CInt(truncatingIfNeeded: read), ends[1])
    }
}
