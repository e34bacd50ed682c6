import DaxPoolAPI
import DaxPoolLinux
import DaxPoolSystem
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// The daemon's socket path rules: a stale socket is replaced, anything else at the path is an error.
enum SocketPath {
    /// Removes a leftover socket at `path` (the caller holds the instance lock, so no live daemon owns it).
    static func clearStale(_ path: String) throws {
        guard let status = try? Syscall.linkStatusIfPresent(FilePath(path)) else { return }
        guard status.isSocket else {
            throw ErrorBody(
                code: .badPath,
                message: "\(path) exists and is not a socket: remove it or choose another --socket"
            )
        }
        do throws(Errno) {
            try Syscall.unlink(FilePath(path))
        } catch {
            throw ErrorBody(code: .badPath, message: "cannot remove the stale socket \(path): \(error)")
        }
    }
}

extension SocketPath {
    /// Gives the socket its mode and, when members of a group may connect, that group (`chmod(2)`, `chown(2)`).
    /// With a group, the socket's directory gets the group and search permission too (0710), so that members
    /// can reach the socket; its other directories must already let them through.
    static func setAccess(_ path: String, mode: UInt32, group: UInt32?) throws {
        func attempt(_ what: String, _ body: () throws(Errno) -> Void) throws(ErrorBody) {
            do throws(Errno) {
                try body()
            } catch {
                throw ErrorBody(code: .badPath, message: "cannot \(what): \(error)")
            }
        }
        if let group {
            try attempt("give the socket \(path) group \(group)") { () throws(Errno) in
                try Syscall.changeOwner(FilePath(path), uid: nil, gid: group)
            }
            if let slash = path.lastIndex(of: "/"), slash != path.startIndex {
                let directory = FilePath(String(path[..<slash]))
                var status: FileStatus?
                try attempt("read \(directory)") { () throws(Errno) in status = try Syscall.status(directory) }
                if let status, status.ownerUID == getuid(), status.permissions & 0o077 == 0 {
                    try attempt("let group \(group) through the socket directory \(directory)") { () throws(Errno) in
                        try Syscall.changeOwner(directory, uid: nil, gid: group)
                        try Syscall.changeMode(directory, 0o710)
                    }
                }
            }
        }
        try attempt("set the mode of the socket \(path)") { () throws(Errno) in
            try Syscall.changeMode(FilePath(path), mode_t(mode))
        }
    }
}

/// The directories the daemon keeps its socket, state and memory in: made by the daemon with safe modes, or already
/// trusted (`TrustedDirectory`: owned by the daemon's uid or root, writable by no one else, no symbolic links).
enum Directories {
    /// Creates what is missing of `path` (with `mode`) and checks the rest.
    /// - Throws: an `ErrorBody` with code `untrusted_directory` naming the directory and what is wrong with it, or
    ///   `bad_path` when a system call failed.
    static func ensure(_ path: String, mode: mode_t, purpose: String) throws {
        do {
            _ = try TrustedDirectory.ensure(FilePath(path), mode: mode, purpose: purpose)
        } catch {
            if case .system = error.problem {
                throw ErrorBody(code: .badPath, message: error.message)
            }
            throw ErrorBody(code: .untrustedDirectory, message: error.message)
        }
    }

    /// `ensure` of the directory holding `path`.
    static func ensure(parentOf path: String, mode: mode_t, purpose: String) throws {
        let parent = FilePath(path).removingLastComponent()
        guard !parent.isEmpty else { return }
        try ensure(parent.string, mode: mode, purpose: purpose)
    }
}
