import DaxPoolAPI

#if canImport(Glibc)
import Glibc
#endif

/// The daemon's socket path rules: a stale socket is replaced, anything else at the path is an error.
enum SocketPath {
    /// Removes a leftover socket at `path` (the caller holds the instance lock, so no live daemon owns it).
    static func clearStale(_ path: String) throws {
        var status = stat()
        guard lstat(path, &status) == 0 else { return }
        guard status.st_mode & S_IFMT == S_IFSOCK else {
            throw ErrorBody(
                code: "bad_path",
                message: "\(path) exists and is not a socket: remove it or choose another --socket",
                status: 0
            )
        }
        guard unlink(path) == 0 else {
            throw ErrorBody(
                code: "bad_path",
                message: "cannot remove the stale socket \(path): \(String(cString: strerror(errno)))",
                status: 0
            )
        }
    }
}

extension SocketPath {
    /// Gives the socket its mode and, when members of a group may connect, that group (`chmod(2)`, `chown(2)`).
    /// With a group, the socket's directory gets the group and search permission too (0710), so that members
    /// can reach the socket; its other directories must already let them through.
    static func setAccess(_ path: String, mode: UInt32, group: UInt32?) throws {
        func fail(_ what: String) -> ErrorBody {
            ErrorBody(code: "bad_path", message: "cannot \(what): \(String(cString: strerror(errno)))", status: 0)
        }
        if let group {
            guard chown(path, uid_t.max, group) == 0 else { throw fail("give the socket \(path) group \(group)") }
            if let slash = path.lastIndex(of: "/"), slash != path.startIndex {
                let directory = String(path[..<slash])
                var status = stat()
                guard stat(directory, &status) == 0 else { throw fail("read \(directory)") }
                if status.st_uid == getuid(), status.st_mode & 0o077 == 0 {
                    guard chown(directory, uid_t.max, group) == 0, chmod(directory, 0o710) == 0 else {
                        throw fail("let group \(group) through the socket directory \(directory)")
                    }
                }
            }
        }
        guard chmod(path, mode_t(mode)) == 0 else { throw fail("set the mode of the socket \(path)") }
    }
}

/// Creates directories the daemon needs.
enum Directories {
    struct CreateError: Error, CustomStringConvertible {
        var path: String
        var code: Int32
        var description: String { "cannot create directory \(path): \(String(cString: strerror(code)))" }
    }

    static func create(parentOf path: String) throws {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return }
        try create(String(path[..<slash]))
    }

    /// `mkdir -p` with mode 0700 for what it creates.
    static func create(_ path: String) throws {
        var current = ""
        for component in path.split(separator: "/") {
            current += "/" + component
            if mkdir(current, 0o700) != 0 && errno != EEXIST { throw CreateError(path: current, code: errno) }
        }
    }
}
