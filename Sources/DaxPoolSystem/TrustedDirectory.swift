// Linux only.
import Glibc
import SystemPackage

/// Directories daxpool keeps memory, state or its socket in: created by the daemon with safe modes, or already
/// owned by the daemon's uid (or root) and writable by no one else, with no symbolic link anywhere on the way.
///
/// The path is walked from `/` one component at a time, each opened relative to its parent's descriptor with
/// `O_PATH | O_NOFOLLOW | O_DIRECTORY`, so a symbolic link or a swapped component is seen, never followed.
/// Directories on the way must belong to root or the daemon's uid and, when group or others may write them,
/// be sticky (as `/tmp` and `/dev/shm` are, so that nobody else can rename or remove entries daxpool made there).
/// The directory itself, and every directory daxpool creates, must belong to the daemon's uid or root and be
/// writable by neither group nor others.
public enum TrustedDirectory {
    /// Creates what is missing of `path` (each directory made with `mode`, whatever the umask) and checks the rest.
    /// - Parameters:
    ///   - purpose: what the directory is for, named in errors ("shm root", "state directory").
    /// - Returns: the directories this call created, parents first, so that a caller can undo them.
    /// - Throws: `TrustedDirectoryError` naming the directory and what is wrong with it; what this call created
    ///   is removed again.
    /// The corresponding C functions are `openat(2)`, `mkdirat(2)`, `fstat(2)` and `fchmod(2)`.
    public static func ensure(_ path: FilePath, mode: mode_t, purpose: String) throws(TrustedDirectoryError)
        -> [FilePath]
    {
        var created: [FilePath] = []
        do throws(TrustedDirectoryError) {
            _ = try walk(path, purpose: purpose, creating: mode, created: &created)
        } catch {
            Directory.removeCreated(created)
            throw error
        }
        return created
    }

    /// Checks that `path` exists and may be trusted, without creating anything.
    /// - Throws: `TrustedDirectoryError` naming the directory and what is wrong with it.
    /// The corresponding C functions are `openat(2)` and `fstat(2)`.
    public static func check(_ path: FilePath, purpose: String) throws(TrustedDirectoryError) {
        var created: [FilePath] = []
        _ = try walk(path, purpose: purpose, creating: nil, created: &created)
    }

    /// Checks `path` as `check` does and opens it for reading, so that every later operation in it is relative to
    /// a descriptor of the directory that was checked.
    /// The corresponding C functions are `openat(2)` and `fstat(2)`.
    public static func open(_ path: FilePath, purpose: String) throws(TrustedDirectoryError) -> OwnedDescriptor {
        var created: [FilePath] = []
        let leaf = try walk(path, purpose: purpose, creating: nil, created: &created)
        do throws(Errno) {
            let raw = try Syscall.open(at: leaf.descriptor.rawValue, ".", .readOnly, options: .directory)
            return OwnedDescriptor(taking: FileDescriptor(rawValue: raw))
        } catch {
            throw TrustedDirectoryError(
                directory: path.lexicallyNormalized().string, requested: path.lexicallyNormalized().string,
                purpose: purpose, problem: .system(operation: "open", errno: error), daemonUID: geteuid())
        }
    }

    /// Walks `path` from `/`, creating missing directories when `creating` is a mode, and returns an `O_PATH`
    /// descriptor of the last directory.
    private static func walk(
        _ path: FilePath, purpose: String, creating mode: mode_t?, created: inout [FilePath]
    ) throws(TrustedDirectoryError) -> OwnedDescriptor {
        let requested = path.lexicallyNormalized()
        let daemonUID = geteuid()
        func failure(_ directory: FilePath, _ problem: TrustedDirectoryError.Problem) -> TrustedDirectoryError {
            TrustedDirectoryError(
                directory: directory.string, requested: requested.string, purpose: purpose, problem: problem,
                daemonUID: daemonUID)
        }
        guard path.isAbsolute else {
            throw TrustedDirectoryError(
                directory: path.string, requested: path.string, purpose: purpose, problem: .notAbsolute,
                daemonUID: daemonUID)
        }
        var prefix = FilePath("/")
        var current: OwnedDescriptor
        do throws(Errno) {
            let raw = try Syscall.open("/", .readOnly, options: [.pathOnly, .directory])
            current = OwnedDescriptor(taking: FileDescriptor(rawValue: raw))
        } catch {
            throw failure(prefix, .system(operation: "open", errno: error))
        }
        let components = Array(requested.components)
        try verify(current, at: prefix, asTarget: components.isEmpty, failure)
        for (index, component) in components.enumerated() {
            let name = component.string
            prefix.append(component)
            var madeHere = false
            var raw: CInt
            do throws(Errno) {
                raw = try openComponent(name, in: current)
            } catch .noSuchFileOrDirectory {
                guard mode != nil else { throw failure(prefix, .missing) }
                do throws(Errno) {
                    // 0700 first: nothing is ever more open than asked, whatever happens between the calls.
                    try Syscall.makeDirectory(at: current.descriptor.rawValue, name, mode: 0o700)
                    madeHere = true
                    created.append(prefix)
                } catch .fileExists {
                    // Made by someone else meanwhile: checked below like any directory that was there.
                } catch {
                    throw failure(prefix, .system(operation: "create", errno: error))
                }
                do throws(Errno) {
                    raw = try openComponent(name, in: current)
                } catch {
                    throw classify(name, in: current, at: prefix, openError: error, failure)
                }
            } catch {
                throw classify(name, in: current, at: prefix, openError: error, failure)
            }
            let next = OwnedDescriptor(taking: FileDescriptor(rawValue: raw))
            let isTarget = index == components.count - 1
            if madeHere, let mode {
                try setMode(mode, of: next, at: prefix, failure)
            }
            try verify(next, at: prefix, asTarget: isTarget || madeHere, failure)
            current = next
        }
        return current
    }

    /// `openat(parent, name, O_PATH | O_NOFOLLOW | O_DIRECTORY)`.
    private static func openComponent(_ name: String, in parent: borrowing OwnedDescriptor) throws(Errno) -> CInt {
        try Syscall.open(at: parent.descriptor.rawValue, name, .readOnly, options: [.pathOnly, .noFollow, .directory])
    }

    /// Why `name` could not be opened as a directory: a symbolic link, something else, or the system error.
    private static func classify(
        _ name: String, in parent: borrowing OwnedDescriptor, at path: FilePath, openError: Errno,
        _ failure: (FilePath, TrustedDirectoryError.Problem) -> TrustedDirectoryError
    ) -> TrustedDirectoryError {
        guard openError == .notDirectory || openError == .tooManySymbolicLinkLevels,
            let info = try? Syscall.rawLinkStatus(at: parent.descriptor.rawValue, name)
        else {
            return failure(path, .system(operation: "open", errno: openError))
        }
        switch info.st_mode & S_IFMT {
        case S_IFLNK:
            let target = (try? Syscall.readLink(at: parent.descriptor.rawValue, name)) ?? "an unreadable target"
            return failure(path, .symbolicLink(target: target))
        case S_IFDIR:
            return failure(path, .system(operation: "open", errno: openError))
        default:
            return failure(path, .notDirectory(kind: kind(of: info.st_mode)))
        }
    }

    /// Gives a directory this call created exactly `mode` (umask or not).
    private static func setMode(
        _ mode: mode_t, of directory: borrowing OwnedDescriptor, at path: FilePath,
        _ failure: (FilePath, TrustedDirectoryError.Problem) -> TrustedDirectoryError
    ) throws(TrustedDirectoryError) {
        do throws(Errno) {
            // fchmod does not take an O_PATH descriptor; "." through it is the very directory checked.
            let raw = try Syscall.open(at: directory.descriptor.rawValue, ".", .readOnly, options: .directory)
            let readable = OwnedDescriptor(taking: FileDescriptor(rawValue: raw))
            try Syscall.changeMode(readable.descriptor.rawValue, mode)
        } catch {
            throw failure(path, .system(operation: "chmod", errno: error))
        }
    }

    /// Checks one directory's owner and mode: the target (or one daxpool made) must be writable by its owner
    /// alone; a directory on the way may be writable by others only when sticky.
    private static func verify(
        _ directory: borrowing OwnedDescriptor, at path: FilePath, asTarget: Bool,
        _ failure: (FilePath, TrustedDirectoryError.Problem) -> TrustedDirectoryError
    ) throws(TrustedDirectoryError) {
        let info: stat
        do throws(Errno) {
            info = try Syscall.rawStatus(directory.descriptor.rawValue)
        } catch {
            throw failure(path, .system(operation: "stat", errno: error))
        }
        let mode = UInt32(info.st_mode) & 0o7777
        guard info.st_mode & S_IFMT == S_IFDIR else {
            throw failure(path, .notDirectory(kind: kind(of: info.st_mode)))
        }
        guard info.st_uid == 0 || info.st_uid == geteuid() else {
            throw failure(path, .foreignOwner(uid: info.st_uid, mode: mode))
        }
        let writableByOthers = mode & 0o022 != 0
        let sticky = mode & UInt32(S_ISVTX) != 0
        if writableByOthers && (asTarget || !sticky) {
            throw failure(path, .writableByOthers(uid: info.st_uid, mode: mode))
        }
    }

    /// A file type for messages.
    private static func kind(of mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFREG: "regular file"
        case S_IFLNK: "symbolic link"
        case S_IFSOCK: "socket"
        case S_IFIFO: "named pipe"
        case S_IFCHR: "character device"
        case S_IFBLK: "block device"
        case S_IFDIR: "directory"
        default: "file of unknown type"
        }
    }
}
