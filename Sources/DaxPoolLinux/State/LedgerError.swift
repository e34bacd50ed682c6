// Linux only.
import DaxPoolSystem
import SystemPackage

/// Why a `Ledger` could not be opened, appended to or compacted.
public enum LedgerError: Error, Hashable, Sendable, CustomStringConvertible {
    /// There is no ledger at the path and `open` was not asked to create one.
    case missing(path: String)
    /// The path names something other than a regular file (a directory, a device, a symbolic link).
    case notAFile(path: String)
    /// The file holds neither a readable ledger header nor any readable ledger record, and is not empty: it is
    /// some other file, which the ledger leaves alone.
    case notALedger(path: String)
    /// A payload is larger than a record can carry.
    case payloadTooLarge(size: Int, limit: Int)
    /// A system call on a ledger file failed (operation, path, `Errno`).
    case io(FileError)
    /// A write interposer cut the write stream (tests only: a simulated crash).
    case interrupted(path: String)
    /// An earlier append or compaction failed part way, so what the file ends with is unknown; the ledger takes
    /// no more writes until it is opened again (which reads what reached the file and cuts off a torn end).
    case unusable(path: String, cause: String)

    /// What went wrong and what to do.
    public var description: String {
        switch self {
        case .missing(let path):
            return "\(path): no ledger there; create it, or check the state directory"
        case .notAFile(let path):
            return "\(path) is not a regular file: move it aside so that the ledger can be kept there"
        case .notALedger(let path):
            return "\(path) is not a daxpool ledger (no readable header and no readable record): move it aside "
                + "or restore the ledger from a backup"
        case .payloadTooLarge(let size, let limit):
            return "a ledger record of \(size) bytes is larger than the \(limit)-byte limit"
        case .io(let error):
            return "cannot write the ledger (\(error)): check that the state directory is writable by the "
                + "daemon's user and that its filesystem has room"
        case .interrupted(let path):
            return "the write stream was cut before \(path) (simulated crash)"
        case .unusable(let path, let cause):
            return "\(path): the ledger takes no more writes after an earlier failure (\(cause)); open it again"
        }
    }
}
