// Linux only.
import Glibc
import SystemPackage

extension Syscall {
    /// A Unix socket of `type`, close-on-exec. The corresponding C function is `socket(2)` with `AF_UNIX`.
    public static func unixSocket(_ type: SocketType) throws(Errno) -> CInt {
        try valueOrErrno(.socket(type)) { Glibc.socket(AF_UNIX, type.rawValue, 0) }.get()
    }

    /// A connectionless Unix socket, close-on-exec. The corresponding C function is `socket(2)` with `AF_UNIX` and
    /// `SOCK_DGRAM | SOCK_CLOEXEC`.
    public static func unixDatagramSocket() throws(Errno) -> CInt {
        try unixSocket(.datagram)
    }

    /// Connects the socket to the Unix socket at `path`. The corresponding C function is `connect(2)`.
    /// - Throws: `ENAMETOOLONG` when `path` does not fit a `sockaddr_un`; the `Errno` of `connect` otherwise (an
    ///   interrupted connect is not retried, since it goes on in the background: the caller starts again).
    public static func connect(_ descriptor: CInt, toUnixPath path: String) throws(Errno) {
        let bytes = Array(path.utf8)
        try withUnixAddress(bytes, tooLong: .fileNameTooLong) { address, length throws(Errno) in
            try nothingOrErrno(.connect(descriptor, path: path), retryOnInterrupt: false) {
                Glibc.connect(descriptor, address, length)
            }.get()
        }
    }

    /// Sends up to `buffer.count` bytes on a connected socket. The corresponding C function is `send(2)`.
    public static func send(_ descriptor: CInt, _ buffer: UnsafeRawBufferPointer, flags: MessageFlags = [.noSignal])
        throws(Errno) -> Int
    {
        try valueOrErrno(.send(descriptor, count: buffer.count, flags)) {
            Glibc.send(descriptor, buffer.baseAddress, buffer.count, flags.rawValue)
        }.get()
    }

    /// Receives up to `buffer.count` bytes; `0` when the peer closed the connection.
    /// The corresponding C function is `recv(2)`.
    public static func receive(_ descriptor: CInt, into buffer: UnsafeMutableRawBufferPointer, flags: MessageFlags = [])
        throws(Errno) -> Int
    {
        try valueOrErrno(.receive(descriptor, count: buffer.count, flags)) {
            Glibc.recv(descriptor, buffer.baseAddress, buffer.count, flags.rawValue)
        }.get()
    }

    /// Sends one datagram to the Unix socket at `address`: a path, or with a leading NUL an abstract name (its
    /// length counts, so no terminating NUL is sent). The corresponding C function is `sendto(2)` with
    /// `MSG_NOSIGNAL`.
    public static func send(_ descriptor: CInt, _ bytes: [UInt8], toUnixAddress address: [UInt8]) throws(Errno) {
        let name =
            address.first == 0
            ? "@" + String(decoding: address.dropFirst(), as: UTF8.self)
            : String(decoding: address, as: UTF8.self)
        let flags = MessageFlags.noSignal
        let sent = try withUnixAddress(address, tooLong: .invalidArgument) { socketAddress, length throws(Errno) in
            try bytes.withUnsafeBytes { buffer in
                valueOrErrno(.sendTo(descriptor, count: buffer.count, address: name, flags)) {
                    Glibc.sendto(descriptor, buffer.baseAddress, buffer.count, flags.rawValue, socketAddress, length)
                }
            }.get()
        }
        guard sent == bytes.count else { throw .messageTooLong }
    }

    /// Runs `body` with a `sockaddr_un` for `address` (a path, or with a leading NUL an abstract name) and its
    /// length; `tooLong` when it does not fit.
    private static func withUnixAddress<Value>(
        _ address: [UInt8], tooLong: Errno,
        _ body: (UnsafePointer<sockaddr>, socklen_t) throws(Errno) -> Value
    ) throws(Errno) -> Value {
        var socketAddress = sockaddr_un()
        socketAddress.sun_family = sa_family_t(AF_UNIX)
        let abstract = address.first == 0
        // A path needs room for its terminating NUL (sockaddr_un() is zeroed); an abstract name does not.
        guard !address.isEmpty, address.count + (abstract ? 0 : 1) <= MemoryLayout.size(ofValue: socketAddress.sun_path)
        else { throw tooLong }
        withUnsafeMutableBytes(of: &socketAddress.sun_path) { $0.copyBytes(from: address) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + address.count + (abstract ? 0 : 1))
        let result = withUnsafePointer(to: &socketAddress) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic in
                Result { () throws(Errno) in try body(generic, length) }
            }
        }
        return try result.get()
    }
}
