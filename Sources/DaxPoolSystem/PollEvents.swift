// Linux only.
import Glibc

/// The `events` and `revents` bits of `poll(2)`.
public struct PollEvents: OptionSet, Hashable, Sendable {
    /// The `POLL*` bits.
    public let rawValue: Int16

    /// The events with `POLL*` bits `rawValue`.
    public init(rawValue: Int16) { self.rawValue = rawValue }

    /// Data can be read (for a pidfd: the process has exited). The corresponding C constant is `POLLIN`.
    public static var readable: PollEvents { PollEvents(rawValue: Int16(POLLIN)) }
    /// An error condition (only ever reported). The corresponding C constant is `POLLERR`.
    public static var error: PollEvents { PollEvents(rawValue: Int16(POLLERR)) }
    /// The peer hung up (only ever reported). The corresponding C constant is `POLLHUP`.
    public static var hangUp: PollEvents { PollEvents(rawValue: Int16(POLLHUP)) }
}
