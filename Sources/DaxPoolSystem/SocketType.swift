// Linux only.
import Glibc

/// The kind of Unix socket `socket(2)` makes (`AF_UNIX`, always close-on-exec).
public enum SocketType: Hashable, Sendable {
    /// A connection: a byte stream. The corresponding C constant is `SOCK_STREAM`.
    case stream
    /// Connectionless messages. The corresponding C constant is `SOCK_DGRAM`.
    case datagram

    /// The `SOCK_*` value with `SOCK_CLOEXEC`.
    var rawValue: CInt {
        switch self {
        case .stream: CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue)
        case .datagram: CInt(SOCK_DGRAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue)
        }
    }
}
