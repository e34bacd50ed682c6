// Linux only.
import CLinuxShims
import Glibc
import SystemPackage

extension Syscall {
    /// Maps `length` bytes of `descriptor` from `offset`. The corresponding C function is `mmap(2)`.
    public static func map(
        length: Int,
        protection: MemoryMapping.Protection,
        flags: MappingFlags = .shared,
        descriptor: CInt,
        offset: Int64
    ) throws(Errno) -> UnsafeMutableRawPointer {
        // `MAP_FAILED` is `(void *)-1`: read the address as an integer so the one funnel checks it.
        let address = try valueOrErrno(
            .map(descriptor, offset: offset, length: length, protection: protection, flags: flags)
        ) {
            Int(bitPattern: mmap(nil, length, protection.rawValue, flags.rawValue, descriptor, off_t(offset)))
        }.get()
        guard let base = UnsafeMutableRawPointer(bitPattern: address) else { throw Errno.invalidArgument }
        return base
    }

    /// The corresponding C function is `munmap(2)`.
    public static func unmap(_ base: UnsafeMutableRawPointer, length: Int) throws(Errno) {
        try nothingOrErrno(.unmap(length: length)) { munmap(base, length) }.get()
    }

    /// The corresponding C function is `madvise(2)`. `EINTR` is retried (`MADV_POPULATE_*` can be interrupted).
    public static func advise(_ base: UnsafeMutableRawPointer, length: Int, advice: MemoryAdvice) throws(Errno) {
        try nothingOrErrno(.advise(length: length, advice)) { madvise(base, length, advice.rawValue) }.get()
    }

    /// An anonymous memory file, close-on-exec. The corresponding C function is `memfd_create(2)`.
    public static func createMemoryFile(name: String) throws(Errno) -> CInt {
        try name.withCString { cName in
            valueOrErrno(.createMemoryFile(name: name)) { cshim_memfd_create(cName, cshim_MFD_CLOEXEC) }
        }.get()
    }
}
