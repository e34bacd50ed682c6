// Linux only.
import Glibc
import SystemPackage

/// Directory operations built from several system calls.
public enum Directory {
    /// Creates `path` and any missing parents with `mode` (`mkdir -p`).
    /// - Returns: the directories this call created, parents first, so a caller can undo them.
    /// - Throws: the `Errno` of `mkdir`, or `ENOTDIR` when a component exists and is not a directory.
    /// The corresponding C function is `mkdir(2)`.
    public static func create(_ path: FilePath, mode: mode_t) throws(Errno) -> [FilePath] {
        var created: [FilePath] = []
        var prefix = FilePath(root: path.root)
        for component in path.components {
            prefix.append(component)
            do throws(Errno) {
                try Syscall.makeDirectory(prefix, mode: mode)
                created.append(prefix)
            } catch .fileExists {
                if !(try Syscall.status(prefix).isDirectory) { throw Errno.notDirectory }
            }
        }
        return created
    }

    /// Removes directories that `create` made, deepest first, ignoring failures (best-effort undo).
    public static func removeCreated(_ created: [FilePath]) {
        for directory in created.reversed() {
            try? Syscall.removeDirectory(directory)
        }
    }

    /// Flushes a directory's entries (after a rename or create inside it) to stable storage.
    /// The corresponding C functions are `open(2)` with `O_DIRECTORY` and `fsync(2)`.
    public static func synchronize(_ path: FilePath) throws(Errno) {
        let directory = try OwnedDescriptor.open(path, .readOnly, options: .directory)
        try directory.synchronize()
    }
}
