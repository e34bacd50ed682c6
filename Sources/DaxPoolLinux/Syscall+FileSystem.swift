// Linux only.
import CLinuxShims
import Glibc
import SystemPackage

extension Syscall {
    /// The magic number of the filesystem holding `path`. The corresponding C function is `statfs(2)`
    /// (field `f_type`).
    static func fileSystemType(_ path: FilePath) throws(Errno) -> Int {
        var type = 0
        try withCString(path) { cPath in nothingOrErrno { cshim_statfs_type(cPath, &type) } }
        return type
    }

    /// The corresponding C function is `statvfs(3)`.
    static func fileSystemStatistics(_ path: FilePath) throws(Errno) -> statvfs {
        var info = statvfs()
        try withCString(path) { cPath in nothingOrErrno { statvfs(cPath, &info) } }
        return info
    }

    /// The names in directory `path`, without `.` and `..`.
    /// The corresponding C functions are `opendir(3)`, `readdir(3)` and `closedir(3)`.
    static func directoryEntries(_ path: FilePath) throws(Errno) -> [String] {
        let stream = try withCString(path) { cPath -> Result<OpaquePointer, Errno> in
            while true {
                if let stream = opendir(cPath) { return .success(stream) }
                let error = Errno(rawValue: Glibc.errno)
                if error != .interrupted { return .failure(error) }
            }
        }
        defer { closedir(stream) }
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
}
