// Linux only.
import CLinuxShims
import Glibc

/// Where `lseek(2)` looks from an offset in a sparse file.
public enum FileSeek: Hashable, Sendable {
    /// The next byte of data. The corresponding C constant is `SEEK_DATA`.
    case data
    /// The next hole (the end of the file counts). The corresponding C constant is `SEEK_HOLE`.
    case hole

    /// The `SEEK_*` value.
    var rawValue: CInt {
        switch self {
        case .data: cshim_SEEK_DATA
        case .hole: cshim_SEEK_HOLE
        }
    }
}
