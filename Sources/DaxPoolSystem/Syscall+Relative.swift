// Linux only.
import Glibc
import SystemPackage

extension FileDescriptor.OpenOptions {
    /// A descriptor that names a file or directory for `*at` calls and `fstat` without opening it for reading, so
    /// that directories the daemon may only search can be walked. The corresponding C constant is `O_PATH`
    /// (`__O_PATH`, 010000000 in asm-generic, so on x86-64 and arm64), which `import Glibc` does not bring into
    /// Swift.
    public static var pathOnly: FileDescriptor.OpenOptions { FileDescriptor.OpenOptions(rawValue: 0o1000_0000) }
}

extension Syscall {
    /// Opens `name` relative to the directory `directory`; close-on-exec is always added.
    /// The corresponding C function is `openat(2)`.
    /// - Parameters:
    ///   - permissions: the mode of a file that `.create` creates.
    public static func open(
        at directory: CInt, _ name: String, _ access: FileDescriptor.AccessMode,
        options: FileDescriptor.OpenOptions = [], permissions: FilePermissions = .ownerReadWrite
    ) throws(Errno) -> CInt {
        let options = options.union(.closeOnExec)
        return try withCString(FilePath(name)) { cName in
            valueOrErrno(.openRelative(directory: directory, name: name, access, options, permissions)) {
                openat(directory, cName, access.rawValue | options.rawValue, mode_t(permissions.rawValue))
            }
        }
    }

    /// Creates the directory `name` in `directory`. The corresponding C function is `mkdirat(2)`.
    public static func makeDirectory(at directory: CInt, _ name: String, mode: mode_t) throws(Errno) {
        try withCString(FilePath(name)) { cName in
            nothingOrErrno(.makeDirectoryRelative(directory: directory, name: name, FilePermissions(rawValue: mode))) {
                mkdirat(directory, cName, mode)
            }
        }
    }

    /// The raw status of `name` in `directory` itself, not of a symbolic link's target.
    /// The corresponding C function is `fstatat(2)` with `AT_SYMLINK_NOFOLLOW`.
    public static func rawLinkStatus(at directory: CInt, _ name: String) throws(Errno) -> stat {
        var info = stat()
        try withCString(FilePath(name)) { cName in
            nothingOrErrno(.linkStatusRelative(directory: directory, name: name)) {
                fstatat(directory, cName, &info, AT_SYMLINK_NOFOLLOW)
            }
        }
        return info
    }

    /// The raw status of an open file, owner and all mode bits included. The corresponding C function is `fstat(2)`.
    public static func rawStatus(_ descriptor: CInt) throws(Errno) -> stat {
        var info = stat()
        try nothingOrErrno(.status(descriptor)) { fstat(descriptor, &info) }.get()
        return info
    }

    /// What the symbolic link `name` in `directory` points to. The corresponding C function is `readlinkat(2)`.
    public static func readLink(at directory: CInt, _ name: String) throws(Errno) -> String {
        var buffer = [CChar](repeating: 0, count: 4097)
        let count = try withCString(FilePath(name)) { cName in
            buffer.withUnsafeMutableBufferPointer { bytes -> Result<Int, Errno> in
                guard let base = bytes.baseAddress else { return .failure(.invalidArgument) }
                return valueOrErrno(.readLinkRelative(directory: directory, name: name)) {
                    readlinkat(directory, cName, base, bytes.count - 1)
                }
            }
        }
        return String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Removes the file `name` from `directory`. The corresponding C function is `unlinkat(2)`.
    public static func unlink(at directory: CInt, _ name: String) throws(Errno) {
        try withCString(FilePath(name)) { cName in
            nothingOrErrno(.unlinkRelative(directory: directory, name: name)) { unlinkat(directory, cName, 0) }
        }
    }

    /// Renames `source` to `destination`, both in `directory`. The corresponding C function is `renameat(2)`.
    public static func rename(at directory: CInt, _ source: String, to destination: String) throws(Errno) {
        try withCString(FilePath(source)) { cSource in
            FilePath(destination).withPlatformString { cDestination in
                nothingOrErrno(.renameRelative(directory: directory, source, to: destination)) {
                    renameat(directory, cSource, directory, cDestination)
                }
            }
        }
    }

    /// The names in the open directory `directory`, without `.` and `..`; `directory` itself stays open.
    /// The corresponding C functions are `openat(2)` of `"."`, `fdopendir(3)`, `readdir(3)` and `closedir(3)`.
    public static func directoryEntries(of directory: CInt) throws(Errno) -> [String] {
        var names: [String] = []
        _ = try outcome(.listDirectoryRelative(directory)) {
            // fdopendir takes the descriptor it is given, so it gets a fresh one.
            let own = openat(directory, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard own >= 0 else { return .failure(currentErrno) }
            guard let stream = fdopendir(own) else {
                let error = currentErrno
                Glibc.close(own)
                return .failure(error)
            }
            defer { closedir(stream) }
            names = []
            return entries(of: stream, into: &names)
        }.get()
        return names
    }
}
