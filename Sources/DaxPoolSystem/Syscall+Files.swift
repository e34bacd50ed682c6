// Linux only.
import CLinuxShims
import Glibc
import SystemPackage

extension Syscall {
    /// The corresponding C function is `open(2)`.
    public static func open(_ path: FilePath, flags: CInt, mode: mode_t) throws(Errno) -> CInt {
        try withCString(path) { cPath in valueOrErrno { Glibc.open(cPath, flags, mode) } }
    }

    /// Closes without retrying: on Linux the descriptor is gone even when `close` reports `EINTR`.
    /// The corresponding C function is `close(2)`.
    public static func close(_ descriptor: CInt) throws(Errno) {
        try nothingOrErrno(retryOnInterrupt: false) { Glibc.close(descriptor) }.get()
    }

    /// The corresponding C function is `fstat(2)`.
    public static func fileStatus(_ descriptor: CInt) throws(Errno) -> FileStatus {
        var info = stat()
        try nothingOrErrno { fstat(descriptor, &info) }.get()
        return FileStatus(info)
    }

    /// The status of `path` itself, not of a symbolic link's target. The corresponding C function is `lstat(2)`.
    public static func linkStatus(_ path: FilePath) throws(Errno) -> FileStatus {
        var info = stat()
        try withCString(path) { cPath in nothingOrErrno { lstat(cPath, &info) } }
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
        try nothingOrErrno { ftruncate(descriptor, off_t(length)) }.get()
    }

    /// The corresponding C function is `fallocate(2)`.
    public static func allocate(_ descriptor: CInt, mode: CInt, offset: Int64, length: Int64) throws(Errno) {
        try nothingOrErrno { cshim_fallocate(descriptor, mode, off_t(offset), off_t(length)) }.get()
    }

    /// The offset of the first byte of data at or after `offset` (`SEEK_DATA`), or `nil` when none follows.
    /// The corresponding C function is `lseek(2)`.
    public static func nextData(_ descriptor: CInt, from offset: Int64) throws(Errno) -> Int64? {
        do throws(Errno) {
            return Int64(try valueOrErrno { lseek(descriptor, off_t(offset), cshim_SEEK_DATA) }.get())
        } catch  where error.rawValue == ENXIO {
            return nil
        }
    }

    /// The offset of the first hole at or after `offset` (`SEEK_HOLE`); the end of a file counts as a hole.
    /// The corresponding C function is `lseek(2)`.
    public static func nextHole(_ descriptor: CInt, from offset: Int64) throws(Errno) -> Int64 {
        Int64(try valueOrErrno { lseek(descriptor, off_t(offset), cshim_SEEK_HOLE) }.get())
    }

    /// The corresponding C function is `fchmod(2)`.
    public static func changeMode(_ descriptor: CInt, _ mode: mode_t) throws(Errno) {
        try nothingOrErrno { fchmod(descriptor, mode) }.get()
    }

    /// The corresponding C function is `chmod(2)`.
    public static func changeMode(_ path: FilePath, _ mode: mode_t) throws(Errno) {
        try withCString(path) { cPath in nothingOrErrno { chmod(cPath, mode) } }
    }

    /// Changes the owner, keeping the group. The corresponding C function is `fchown(2)`.
    public static func changeOwner(_ descriptor: CInt, uid: uid_t) throws(Errno) {
        try nothingOrErrno { fchown(descriptor, uid, gid_t.max) }.get()
    }

    /// Changes the owner and the group. The corresponding C function is `fchown(2)`.
    public static func changeOwner(_ descriptor: CInt, uid: uid_t, gid: gid_t) throws(Errno) {
        try nothingOrErrno { fchown(descriptor, uid, gid) }.get()
    }

    /// The corresponding C function is `fsync(2)`.
    public static func synchronize(_ descriptor: CInt) throws(Errno) {
        try nothingOrErrno { fsync(descriptor) }.get()
    }

    /// The corresponding C function is `flock(2)`.
    public static func lock(_ descriptor: CInt, operation: CInt) throws(Errno) {
        // `flock` names both this function and a struct in Glibc; the type picks the function.
        let flockFunction = Glibc.flock(_:_:)
        try nothingOrErrno { flockFunction(descriptor, operation) }.get()
    }

    /// Reads up to `buffer.count` bytes at `offset`. The corresponding C function is `pread(2)`.
    public static func read(_ descriptor: CInt, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws(Errno)
        -> Int
    {
        try valueOrErrno { pread(descriptor, buffer.baseAddress, buffer.count, off_t(offset)) }.get()
    }

    /// Writes up to `buffer.count` bytes at `offset`. The corresponding C function is `pwrite(2)`.
    public static func write(_ descriptor: CInt, from buffer: UnsafeRawBufferPointer, at offset: Int64) throws(Errno) -> Int {
        try valueOrErrno { pwrite(descriptor, buffer.baseAddress, buffer.count, off_t(offset)) }.get()
    }

    /// The corresponding C function is `rename(2)`.
    public static func rename(_ source: FilePath, to destination: FilePath) throws(Errno) {
        try withCString(source) { cSource in
            destination.withPlatformString { cDestination in
                nothingOrErrno { Glibc.rename(cSource, cDestination) }
            }
        }
    }

    /// The corresponding C function is `unlink(2)`.
    public static func unlink(_ path: FilePath) throws(Errno) {
        try withCString(path) { cPath in nothingOrErrno { Glibc.unlink(cPath) } }
    }

    /// The corresponding C function is `mkdir(2)`.
    public static func makeDirectory(_ path: FilePath, mode: mode_t) throws(Errno) {
        try withCString(path) { cPath in nothingOrErrno { mkdir(cPath, mode) } }
    }

    /// The corresponding C function is `rmdir(2)`.
    public static func removeDirectory(_ path: FilePath) throws(Errno) {
        try withCString(path) { cPath in nothingOrErrno { rmdir(cPath) } }
    }

    /// Flushes a file's data, and the metadata needed to read it back (its length), to stable storage.
    /// The corresponding C function is `fdatasync(2)`.
    public static func synchronizeData(_ descriptor: CInt) throws(Errno) {
        try nothingOrErrno { fdatasync(descriptor) }.get()
    }
}
