// Linux only.
import CLinuxShims
import Glibc
import SystemPackage

extension Syscall {
    /// Maps `length` bytes of `descriptor` from `offset`. The corresponding C function is `mmap(2)`.
    public static func map(
        length: Int,
        protection: CInt,
        flags: CInt,
        descriptor: CInt,
        offset: Int64
    ) throws(Errno) -> UnsafeMutableRawPointer {
        // `MAP_FAILED` is `(void *)-1`: read the address as an integer so the one funnel checks it.
        let address = try valueOrErrno {
            Int(bitPattern: mmap(nil, length, protection, flags, descriptor, off_t(offset)))
        }.get()
        guard let base = UnsafeMutableRawPointer(bitPattern: address) else { throw Errno.invalidArgument }
        return base
    }

    /// The corresponding C function is `munmap(2)`.
    public static func unmap(_ base: UnsafeMutableRawPointer, length: Int) throws(Errno) {
        try nothingOrErrno { munmap(base, length) }.get()
    }

    /// The corresponding C function is `madvise(2)`. `EINTR` is retried (`MADV_POPULATE_*` can be interrupted).
    public static func advise(_ base: UnsafeMutableRawPointer, length: Int, advice: CInt) throws(Errno) {
        try nothingOrErrno { madvise(base, length, advice) }.get()
    }

    /// The corresponding C function is `memfd_create(2)`.
    public static func createMemoryFile(name: String, flags: CUnsignedInt) throws(Errno) -> CInt {
        try name.withCString { cName in valueOrErrno { cshim_memfd_create(cName, flags) } }.get()
    }
}
