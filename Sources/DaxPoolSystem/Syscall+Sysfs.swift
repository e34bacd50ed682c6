// Linux only.
import Glibc
import SystemPackage

/// The system calls the sysfs layer needs beyond `Syscall+Files`.
extension Syscall {
    /// The canonical absolute path of `path`, every symbolic link resolved. The corresponding C function is
    /// `realpath(3)`. A scripted success (`SystemCallInterposer`) answers `path` itself.
    public static func canonicalPath(_ path: FilePath) throws(Errno) -> FilePath {
        var canonical = path
        _ = try withCString(path) { cPath in
            outcome(.canonicalPath(path)) {
                guard let resolved = realpath(cPath, nil) else { return .failure(currentErrno) }
                defer { free(resolved) }
                canonical = FilePath(platformString: resolved)
                return .success(0)
            }
        }
        return canonical
    }

    /// Reads from the current position until end of file. The corresponding C function is `read(2)`.
    public static func readAll(_ descriptor: CInt) throws(Errno) -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = try chunk.withUnsafeMutableBytes { buffer in
                Result { () throws(Errno) in try read(descriptor, into: buffer) }
            }.get()
            if count == 0 { return bytes }
            bytes.append(contentsOf: chunk[..<count])
        }
    }

    /// One `write(2)` of all of `bytes` at the current position; a short write is `EIO`, because a sysfs store
    /// either takes the whole value or fails. The corresponding C function is `write(2)`.
    public static func writeOnce(_ descriptor: CInt, _ bytes: [UInt8]) throws(Errno) {
        let written = try bytes.withUnsafeBytes { buffer in
            Result { () throws(Errno) in try write(descriptor, from: buffer) }
        }.get()
        if written != bytes.count { throw Errno.ioError }
    }
}
