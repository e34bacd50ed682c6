// Linux only.
import DaxPoolCore
import Glibc
import SystemPackage

/// Directory operations built from several system calls.
enum Directory {
    /// Creates `path` and any missing parents with `mode` (`mkdir -p`).
    /// - Returns: the directories this call created, parents first, so a caller can undo them.
    /// - Throws: the `Errno` of `mkdir`, or `ENOTDIR` when a component exists and is not a directory.
    /// The corresponding C function is `mkdir(2)`.
    static func create(_ path: FilePath, mode: mode_t) throws(Errno) -> [FilePath] {
        var created: [FilePath] = []
        var prefix = FilePath(root: path.root)
        for component in path.components {
            prefix.append(component)
            do throws(Errno) {
                try Syscall.makeDirectory(prefix, mode: mode)
                created.append(prefix)
            } catch .fileExists {
                var info = stat()
                let isDirectory = try Syscall.withCString(prefix) { cPath in
                    Syscall.nothingOrErrno { stat(cPath, &info) }.map { info.st_mode & S_IFMT == S_IFDIR }
                }
                if !isDirectory { throw Errno.notDirectory }
            }
        }
        return created
    }

    /// Removes directories that `create` made, deepest first, ignoring failures (best-effort undo).
    static func removeCreated(_ created: [FilePath]) {
        for directory in created.reversed() {
            try? Syscall.removeDirectory(directory)
        }
    }

    /// Flushes a directory's entries (after a rename or create inside it) to stable storage.
    /// The corresponding C functions are `open(2)` with `O_DIRECTORY` and `fsync(2)`.
    static func synchronize(_ path: FilePath) throws(Errno) {
        let directory = try OwnedDescriptor.open(path, .readOnly, options: .directory)
        try directory.synchronize()
    }
}

extension Directory {
    /// Creates `path` (mode 0700) if it is missing; one that exists must be a directory (not a symbolic link) the
    /// daemon owns that nobody else may enter, or the caller moves nothing into it.
    ///
    /// - Parameters:
    ///   - name: How messages name the directory (e.g. "the pool directory /x").
    ///   - remedy: What to do when someone else made or changed it.
    static func preparePrivate(
        _ path: FilePath, name: String, remedy: String, operation: String
    ) throws(BackendError) {
        do throws(Errno) {
            try Syscall.makeDirectory(path, mode: 0o700)
            try Syscall.changeMode(path, 0o700)
            return
        } catch .fileExists {
        } catch {
            throw BackendError(operation, path, error, "cannot create \(name): \(error)")
        }
        let status: FileStatus
        do throws(Errno) {
            status = try Syscall.linkStatus(path)
        } catch {
            throw BackendError(operation, path, error, "cannot look at \(name): \(error)")
        }
        guard status.isDirectory, status.ownerUID == geteuid(), status.permissions & 0o077 == 0 else {
            throw BackendError(
                operation, path, .permissionDenied,
                "\(name) is not a directory only the daemon may enter (owner uid \(status.ownerUID), mode "
                    + "\(String(status.permissions, radix: 8))): someone else made or changed it; \(remedy)"
            )
        }
    }
}
