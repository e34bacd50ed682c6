// Linux only.
import DaxPoolCore
import DaxPoolSystem
import SystemPackage

/// Why `LabelStateStore` could not load or commit the pool state.
public enum LabelStateStoreError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A system call on a state file failed (operation, path, `Errno`).
    case io(FileError)
    /// A label storage area could not be opened or created.
    case area(FileLabelStorageError)
    /// A label storage area could not be read, validated or updated.
    case label(path: String, LabelError)
    /// A region's label area has no room for the update; nothing was changed.
    case areaFull(region: Int, path: String, needed: Int, free: Int, slotCount: Int)
    /// `regions.json` or `state.json` exists but does not hold daxpool state.
    case unreadable(path: String, reason: String)
    /// The snapshot cannot be expressed in labels (a name or layout the label format rejects).
    case unrepresentable(device: String, reason: String)
    /// The state could not be encoded as JSON.
    case unencodable(reason: String)
    /// A write interposer cut the write stream (tests only: a simulated crash).
    case interrupted(path: String)
    /// The state journal could not be opened, read or appended to.
    case ledger(path: String, reason: String)
    /// The change would overwrite state the daemon cannot account for (nothing was changed).
    case stateInDoubt(reason: String)

    /// What went wrong and what to do.
    public var description: String {
        switch self {
        case .io(let error):
            return "cannot access the daxpool state (\(error)): check that the state directory is writable by the "
                + "daemon's user and that its filesystem has room"
        case .area(let error):
            return error.description
        case .label(let path, let error):
            if case .noValidIndex = error {
                return "\(path): \(error); see 'daxpool check-labels --file \(path)', restore the file from a backup, "
                    + "or move it aside to start the region with no devices"
            }
            if case .storageFailed(let operation, let offset, let count, let errorNumber) = error {
                return "\(path): label area \(operation) of \(count) bytes at offset \(offset) failed: "
                    + "\(Errno(rawValue: errorNumber)); check the disk and that the daemon may write the state directory"
            }
            return "\(path): \(error)"
        case .areaFull(let region, let path, let needed, let free, let slotCount):
            return "the label area of region \(region) (\(path), \(slotCount) slots) is full: the change needs "
                + "\(needed) free slots and \(free) are free; nothing was changed. Destroy a device or use fewer, "
                + "larger devices (each range of a device takes one label)"
        case .unreadable(let path, let reason):
            return "\(path) is not valid daxpool state (\(reason)): restore it from a backup, or move it aside to "
                + "start with an empty pool"
        case .unrepresentable(let device, let reason):
            return "\(device) cannot be stored in a namespace label: \(reason)"
        case .unencodable(let reason):
            return "cannot encode the daxpool state: \(reason)"
        case .interrupted(let path):
            return "the write stream was cut before \(path) (simulated crash)"
        case .ledger(let path, let reason):
            return "the state journal \(path) failed: \(reason); check the disk and that the daemon may write the "
                + "state directory"
        case .stateInDoubt(let reason):
            return reason
        }
    }
}

extension LabelStateStoreError {
    /// Whether the failed operation is known to have written nothing (it was refused before any write).
    var wroteNothing: Bool {
        switch self {
        case .areaFull, .unrepresentable, .unencodable, .stateInDoubt:
            return true
        case .label(_, let error):
            switch error {
            case .storageFailed, .storageOutOfBounds, .storageShortRead:
                return false
            default:
                return true
            }
        case .io, .area, .unreadable, .interrupted, .ledger:
            return false
        }
    }
}

extension LabelStateStoreError: StateStoreReportableError {
    /// `areaFull` for a full label area (the request changed nothing and can succeed once room is freed),
    /// `stateInDoubt` for state in doubt, `failed` for the rest.
    public var failureKind: StateStoreFailureKind {
        switch self {
        case .areaFull: .areaFull
        case .stateInDoubt: .stateInDoubt
        default: .failed
        }
    }
}
