// Linux only.
import SystemPackage

/// Why `TrustedDirectory` refused a directory: which one, on the way to what, and what is wrong with it.
public struct TrustedDirectoryError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What is wrong with the directory.
    public enum Problem: Equatable, Sendable {
        /// The component is a symbolic link (to `target`).
        case symbolicLink(target: String)
        /// Something other than a directory is in the way (`kind`: "regular file", "socket", ...).
        case notDirectory(kind: String)
        /// The directory belongs to a uid other than root and the daemon's.
        case foreignOwner(uid: UInt32, mode: UInt32)
        /// Group or others may write the directory (and, for a directory on the way, it is not sticky).
        case writableByOthers(uid: UInt32, mode: UInt32)
        /// The directory does not exist (only `check` reports this; `ensure` creates it).
        case missing
        /// The path is not absolute.
        case notAbsolute
        /// A system call failed.
        case system(operation: String, errno: Errno)
    }

    /// The directory that is wrong: the one asked for, or a directory on the way to it.
    public var directory: String
    /// The directory asked for.
    public var requested: String
    /// What the directory is for, e.g. "shm root", "state directory".
    public var purpose: String
    /// What is wrong with `directory`.
    public var problem: Problem
    /// The daemon's effective uid, named in messages about owners.
    public var daemonUID: UInt32

    /// An error with every field given.
    public init(directory: String, requested: String, purpose: String, problem: Problem, daemonUID: UInt32) {
        self.directory = directory
        self.requested = requested
        self.purpose = purpose
        self.problem = problem
        self.daemonUID = daemonUID
    }

    /// What is wrong and what to do, naming the directory.
    public var message: String {
        let subject =
            directory == requested
            ? "the \(purpose) \(directory)" : "\(directory) (on the way to the \(purpose) \(requested))"
        let remedy = "remove it or choose another path; daxpool creates it itself"
        switch problem {
        case .symbolicLink(let target):
            return "\(subject) is a symbolic link to \(target): daxpool follows no symbolic links to its directories; "
                + "name the real directory, or remove the link and let daxpool create the directory"
        case .notDirectory(let kind):
            return "\(subject) is not a directory but a \(kind): \(remedy)"
        case .foreignOwner(let uid, let mode):
            return "\(subject) is owned by uid \(uid) (mode \(Self.octal(mode))), not by root or this daemon's uid "
                + "\(daemonUID), so its owner could swap what daxpool keeps there: \(remedy)"
        case .writableByOthers(let uid, let mode):
            let what =
                directory == requested ? "writable by group or others" : "writable by group or others and not sticky"
            return "\(subject) (owner uid \(uid)) has mode \(Self.octal(mode)), \(what), so others could swap what "
                + "daxpool keeps there: run 'chmod go-w \(directory)', or \(remedy)"
        case .missing:
            return "\(subject) does not exist: start the daemon that creates it, or choose another path"
        case .notAbsolute:
            return "the \(purpose) path '\(requested)' is not absolute: give an absolute path"
        case .system(let operation, let errno):
            return "cannot \(operation) \(subject): \(errno)"
        }
    }

    /// The message: which directory, for what, what is wrong and how to fix it.
    public var description: String { message }

    /// `mode` as four octal digits, e.g. `0777`, `1777`.
    public static func octal(_ mode: UInt32) -> String {
        let digits = String(mode & 0o7777, radix: 8)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}
