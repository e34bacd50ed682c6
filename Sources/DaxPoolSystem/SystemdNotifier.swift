// Linux only.
import Glibc
import SystemPackage

/// The service manager's readiness protocol (`sd_notify(3)`), without libsystemd: one datagram of
/// newline-separated `KEY=VALUE` assignments, such as `READY=1`, sent to the Unix socket that `$NOTIFY_SOCKET`
/// names (a path, or `@name` for an abstract socket). A unit with `Type=notify` counts the daemon as started
/// when `READY=1` arrives.
public enum SystemdNotifier {
    /// Sends `state` to the socket `$NOTIFY_SOCKET` names.
    /// - Returns: `false` when there is no service manager to tell (`$NOTIFY_SOCKET` unset, empty, or not a Unix
    ///   socket address, such as `vsock:`).
    /// - Throws: the `Errno` of `socket(2)` or `sendto(2)`.
    @discardableResult
    public static func notify(_ state: String) throws(Errno) -> Bool {
        guard let raw = getenv("NOTIFY_SOCKET") else { return false }
        return try notify(state, socket: String(cString: raw))
    }

    /// Sends `state` to the notification socket `socket` (`/path` or `@abstract`).
    @discardableResult
    public static func notify(_ state: String, socket: String) throws(Errno) -> Bool {
        var address = Array(socket.utf8)
        switch address.first {
        case UInt8(ascii: "/"): break
        case UInt8(ascii: "@"): address[0] = 0
        default: return false
        }
        let descriptor = OwnedDescriptor(taking: FileDescriptor(rawValue: try Syscall.unixDatagramSocket()))
        try Syscall.send(descriptor.descriptor.rawValue, Array(state.utf8), toUnixAddress: address)
        return true
    }
}
