// Linux only.
import CLinuxShims
import Glibc

/// A lease on an open file (`fcntl(2)` with `F_SETLEASE`/`F_GETLEASE`): the kernel tells the holder when someone
/// else opens the file.
public enum FileLease: Hashable, Sendable {
    /// No lease. The corresponding C constant is `F_UNLCK`.
    case none
    /// A read lease: the holder hears of opens for writing. The corresponding C constant is `F_RDLCK`.
    case read
    /// A write lease: the holder hears of any open; only granted while nobody else has the file open. The
    /// corresponding C constant is `F_WRLCK`.
    case write

    /// The `F_*LCK` value.
    var rawValue: CInt {
        switch self {
        case .none: CInt(F_UNLCK)
        case .read: CInt(F_RDLCK)
        case .write: CInt(F_WRLCK)
        }
    }

    /// The lease with `F_*LCK` value `rawValue` (an unknown value is no lease).
    init(rawValue: CInt) {
        switch rawValue {
        case CInt(F_RDLCK): self = .read
        case CInt(F_WRLCK): self = .write
        default: self = .none
        }
    }
}
