// Linux only.
import DaxPoolCore
import DaxPoolSystem
import Glibc
import SystemPackage

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
        // Looked at first: it exists nearly every time, and a `mkdir` that fails still locks the parent directory
        // for writing, which the renames of devices into and out of the pool wait for.
        let status: FileStatus
        do throws(Errno) {
            if let present = try Syscall.linkStatusIfPresent(path) {
                status = present
            } else {
                do throws(Errno) {
                    try Syscall.makeDirectory(path, mode: 0o700)
                    try Syscall.changeMode(path, 0o700)
                    return
                } catch .fileExists {
                    // Made meanwhile: looked at like one that was there.
                    status = try Syscall.linkStatus(path)
                }
            }
        } catch {
            throw BackendError(operation, path, error, "cannot create or look at \(name): \(error)")
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
