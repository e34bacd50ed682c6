// Linux only.
import CLinuxShims
import Glibc
import SystemPackage

extension Syscall {
    /// The magic number of the filesystem holding `path`. The corresponding C function is `statfs(2)`
    /// (field `f_type`).
    public static func fileSystemType(_ path: FilePath) throws(Errno) -> Int {
        var type = 0
        try withCString(path) { cPath in nothingOrErrno { cshim_statfs_type(cPath, &type) } }
        return type
    }

    /// The corresponding C function is `statvfs(3)`.
    public static func fileSystemStatistics(_ path: FilePath) throws(Errno) -> statvfs {
        var info = statvfs()
        try withCString(path) { cPath in nothingOrErrno { statvfs(cPath, &info) } }
        return info
    }

    /// The names in directory `path`, without `.` and `..`.
    /// The corresponding C functions are `opendir(3)`, `readdir(3)` and `closedir(3)`.
    public static func directoryEntries(_ path: FilePath) throws(Errno) -> [String] {
        let stream = try withCString(path) { cPath -> Result<OpaquePointer, Errno> in
            while true {
                if let stream = opendir(cPath) { return .success(stream) }
                let error = Errno(rawValue: Glibc.errno)
                if error != .interrupted { return .failure(error) }
            }
        }
        defer { closedir(stream) }
        return try entries(of: stream)
    }

    /// The names an open directory stream holds, without `.` and `..`. The corresponding C function is `readdir(3)`.
    public static func entries(of stream: OpaquePointer) throws(Errno) -> [String] {
        var names: [String] = []
        while true {
            Glibc.errno = 0
            guard let entry = readdir(stream) else {
                let error = Glibc.errno
                if error != 0 { throw Errno(rawValue: error) }
                return names
            }
            let name = withUnsafeBytes(of: entry.pointee.d_name) { bytes in
                String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
    }

    /// Mounts a filesystem of `type` from `source` at `target` with `options`, `nosuid,nodev,noexec`.
    /// The corresponding C function is `mount(2)`.
    public static func mountRestricted(source: String, at target: FilePath, type: String, options: String) throws(Errno) {
        let flags = UInt(MS_NOSUID) | UInt(MS_NODEV) | UInt(MS_NOEXEC)
        try withCString(target) { cTarget in
            source.withCString { cSource in
                options.withCString { cOptions in
                    nothingOrErrno { Glibc.mount(cSource, cTarget, type, flags, cOptions) }
                }
            }
        }
    }
}
