// Linux only.
import Glibc

/// The `flags` of `send(2)`, `sendto(2)` and `recv(2)`.
public struct MessageFlags: OptionSet, Hashable, Sendable {
    /// The `MSG_*` bits.
    public let rawValue: CInt

    /// The flags with `MSG_*` bits `rawValue`.
    public init(rawValue: CInt) { self.rawValue = rawValue }

    /// No `SIGPIPE` when the peer has gone: the call fails with `EPIPE`. The corresponding C constant is
    /// `MSG_NOSIGNAL`.
    public static var noSignal: MessageFlags { MessageFlags(rawValue: CInt(MSG_NOSIGNAL)) }
}
