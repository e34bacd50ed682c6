// Linux only.
import Glibc
import SystemPackage

extension Syscall {
    /// `O_PATH` from `<fcntl.h>` (`__O_PATH`, 010000000 in asm-generic, so on x86-64 and arm64), which `import Glibc`
    /// does not bring into Swift: a descriptor that names a directory for `*at` calls without opening it for
    /// reading, so that directories the daemon may only search can be walked.
    public static let openPathOnly: CInt = 0o1000_0000

    /// Opens `name` relative to the directory `directory`; close-on-exec is always added.
    /// The corresponding C function is `openat(2)`.
    public static func open(at directory: CInt, _ name: String, flags: CInt, mode: mode_t = 0) throws(Errno) -> CInt {
        try withCString(FilePath(name)) { cName in
            valueOrErrno { openat(directory, cName, flags | O_CLOEXEC, mode) }
        }
    }

    /// Creates the directory `name` in `directory`. The corresponding C function is `mkdirat(2)`.
    public static func makeDirectory(at directory: CInt, _ name: String, mode: mode_t) throws(Errno) {
        try withCString(FilePath(name)) { cName in nothingOrErrno { mkdirat(directory, cName, mode) } }
    }

    /// The raw status of `name` in `directory` itself, not of a symbolic link's target.
    /// The corresponding C function is `fstatat(2)` with `AT_SYMLINK_NOFOLLOW`.
    public static func rawLinkStatus(at directory: CInt, _ name: String) throws(Errno) -> stat {
        var info = stat()
        try withCString(FilePath(name)) { cName in
            nothingOrErrno { fstatat(directory, cName, &info, AT_SYMLINK_NOFOLLOW) }
        }
        return info
    }

    /// The raw status of an open file, owner and all mode bits included. The corresponding C function is `fstat(2)`.
    public static func rawStatus(_ descriptor: CInt) throws(Errno) -> stat {
        var info = stat()
        try nothingOrErrno { fstat(descriptor, &info) }.get()
        return info
    }

    /// What the symbolic link `name` in `directory` points to. The corresponding C function is `readlinkat(2)`.
    public static func readLink(at directory: CInt, _ name: String) throws(Errno) -> String {
        var buffer = [CChar](repeating: 0, count: 4097)
        let count = try withCString(FilePath(name)) { cName in
            buffer.withUnsafeMutableBufferPointer { bytes -> Result<Int, Errno> in
                guard let base = bytes.baseAddress else { return .failure(.invalidArgument) }
                return valueOrErrno { readlinkat(directory, cName, base, bytes.count - 1) }
            }
        }
        return String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Removes the file `name` from `directory`. The corresponding C function is `unlinkat(2)`.
    public static func unlink(at directory: CInt, _ name: String) throws(Errno) {
        try withCString(FilePath(name)) { cName in nothingOrErrno { unlinkat(directory, cName, 0) } }
    }

    /// Renames `source` to `destination`, both in `directory`. The corresponding C function is `renameat(2)`.
    public static func rename(at directory: CInt, _ source: String, to destination: String) throws(Errno) {
        try withCString(FilePath(source)) { cSource in
            FilePath(destination).withPlatformString { cDestination in
                nothingOrErrno { renameat(directory, cSource, directory, cDestination) }
            }
        }
    }

    /// The names in the open directory `directory`, without `.` and `..`; `directory` itself stays open.
    /// The corresponding C functions are `openat(2)` of `"."`, `fdopendir(3)`, `readdir(3)` and `closedir(3)`.
    public static func directoryEntries(of directory: CInt) throws(Errno) -> [String] {
        // fdopendir takes the descriptor it is given, so it gets a fresh one.
        let own = try open(at: directory, ".", flags: O_RDONLY | O_DIRECTORY)
        guard let stream = fdopendir(own) else {
            let error = Errno(rawValue: Glibc.errno)
            Glibc.close(own)
            throw error
        }
        defer { closedir(stream) }
        return try entries(of: stream)
    }
}
