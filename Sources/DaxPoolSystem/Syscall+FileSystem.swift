// Linux only.
import CLinuxShims
import Glibc
import SystemPackage

extension Syscall {
    /// The magic number of the filesystem holding `path`. The corresponding C function is `statfs(2)`
    /// (field `f_type`).
    public static func fileSystemType(_ path: FilePath) throws(Errno) -> Int {
        var type = 0
        try withCString(path) { cPath in nothingOrErrno(.fileSystemType(path)) { cshim_statfs_type(cPath, &type) } }
        return type
    }

    /// The corresponding C function is `statvfs(3)`.
    public static func fileSystemStatistics(_ path: FilePath) throws(Errno) -> statvfs {
        var info = statvfs()
        try withCString(path) { cPath in nothingOrErrno(.fileSystemStatistics(path)) { statvfs(cPath, &info) } }
        return info
    }

    /// The names in directory `path`, without `.` and `..`.
    /// The corresponding C functions are `opendir(3)`, `readdir(3)` and `closedir(3)`.
    public static func directoryEntries(_ path: FilePath) throws(Errno) -> [String] {
        var names: [String] = []
        _ = try withCString(path) { cPath in
            outcome(.listDirectory(path)) {
                guard let stream = opendir(cPath) else { return .failure(currentErrno) }
                defer { closedir(stream) }
                names = []
                return entries(of: stream, into: &names)
            }
        }
        return names
    }

    /// Appends the names an open directory stream holds, without `.` and `..`, to `names`; the success value is
    /// their number. The corresponding C function is `readdir(3)`.
    static func entries(of stream: OpaquePointer, into names: inout [String]) -> Result<Int, Errno> {
        while true {
            Glibc.errno = 0
            guard let entry = readdir(stream) else {
                let error = Glibc.errno
                return error != 0 ? .failure(Errno(rawValue: error)) : .success(names.count)
            }
            let name = withUnsafeBytes(of: entry.pointee.d_name) { bytes in
                String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
    }

    /// Mounts a filesystem of `type` from `source` at `target` with `flags` and the filesystem's options `data`.
    /// The corresponding C function is `mount(2)`.
    public static func mount(
        source: String?, at target: FilePath, type: String, flags: MountFlags, data: String
    ) throws(Errno) {
        try withCString(target) { cTarget in
            data.withCString { cData in
                nothingOrErrno(.mount(source: source, target: target, type: type, flags: flags, data: data)) {
                    if let source {
                        source.withCString { cSource in Glibc.mount(cSource, cTarget, type, flags.rawValue, cData) }
                    } else {
                        Glibc.mount(nil, cTarget, type, flags.rawValue, cData)
                    }
                }
            }
        }
    }

    /// Mounts a filesystem of `type` from `source` at `target` with `options`, `nosuid,nodev,noexec`.
    /// The corresponding C function is `mount(2)`.
    public static func mountRestricted(source: String, at target: FilePath, type: String, options: String)
        throws(Errno)
    {
        try mount(source: source, at: target, type: type, flags: .restricted, data: options)
    }

    /// Unmounts the filesystem mounted at `target`. The corresponding C function is `umount2(2)`.
    /// - Throws: `EBUSY` while a process has a file of the mount open or mapped (without `.detach`); the `Errno` of
    ///   `umount2` otherwise.
    public static func unmount(_ target: FilePath, flags: UnmountFlags = []) throws(Errno) {
        try withCString(target) { cTarget in
            nothingOrErrno(.unmount(target, flags)) { umount2(cTarget, flags.rawValue) }
        }
    }
}
