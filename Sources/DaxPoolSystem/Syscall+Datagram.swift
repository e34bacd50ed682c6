// Linux only.
import Glibc
import SystemPackage

extension Syscall {
    /// A connectionless Unix socket, close-on-exec. The corresponding C function is `socket(2)` with `AF_UNIX` and
    /// `SOCK_DGRAM | SOCK_CLOEXEC`.
    public static func unixDatagramSocket() throws(Errno) -> CInt {
        try valueOrErrno {
            Glibc.socket(AF_UNIX, CInt(SOCK_DGRAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
        }.get()
    }

    /// Sends one datagram to the Unix socket at `address`: a path, or with a leading NUL an abstract name (its
    /// length counts, so no terminating NUL is sent). The corresponding C function is `sendto(2)` with
    /// `MSG_NOSIGNAL`.
    public static func send(_ descriptor: CInt, _ bytes: [UInt8], toUnixAddress address: [UInt8]) throws(Errno) {
        var socketAddress = sockaddr_un()
        socketAddress.sun_family = sa_family_t(AF_UNIX)
        let abstract = address.first == 0
        // A path needs room for its terminating NUL (sockaddr_un() is zeroed); an abstract name does not.
        guard !address.isEmpty, address.count + (abstract ? 0 : 1) <= MemoryLayout.size(ofValue: socketAddress.sun_path)
        else { throw .invalidArgument }
        withUnsafeMutableBytes(of: &socketAddress.sun_path) { $0.copyBytes(from: address) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + address.count + (abstract ? 0 : 1))
        let sent = try withUnsafePointer(to: &socketAddress) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic in
                bytes.withUnsafeBytes { buffer in
                    valueOrErrno {
                        Glibc.sendto(descriptor, buffer.baseAddress, buffer.count, CInt(MSG_NOSIGNAL), generic, length)
                    }
                }
            }
        }.get()
        guard sent == bytes.count else { throw .messageTooLong }
    }
}
