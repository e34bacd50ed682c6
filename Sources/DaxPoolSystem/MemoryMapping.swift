// Linux only.
import Glibc
import SystemPackage

/// A shared mapping of a file range that this value owns: unmapped when the value goes away.
///
/// The memory is reachable only inside `withUnsafeMutableBytes`, so no pointer outlives the mapping.
public struct MemoryMapping: ~Copyable {
    private let base: UnsafeMutableRawPointer
    /// The mapping's length in bytes.
    public let length: Int

    /// Access allowed to a mapping: the `prot` argument of `mmap(2)`.
    public struct Protection: OptionSet, Hashable, Sendable {
        /// The `PROT_*` bits.
        public let rawValue: CInt

        /// The protection with `PROT_*` bits `rawValue`.
        public init(rawValue: CInt) { self.rawValue = rawValue }

        /// The corresponding C constant is `PROT_READ`.
        public static var read: Protection { Protection(rawValue: PROT_READ) }
        /// The corresponding C constant is `PROT_WRITE`.
        public static var write: Protection { Protection(rawValue: PROT_WRITE) }
    }

    /// Maps `length` bytes of `file` from `offset` with `MAP_SHARED`, so stores reach the file and every
    /// other mapping of it.
    /// - Throws: the `Errno` of `mmap` (`EINVAL` for a zero length or an unaligned offset).
    /// The corresponding C function is `mmap(2)`.
    public init(
        sharing file: borrowing OwnedDescriptor,
        offset: Int64 = 0,
        length: Int,
        protection: Protection = [.read, .write]
    ) throws(Errno) {
        base = try Syscall.map(
            length: length,
            protection: protection,
            flags: .shared,
            descriptor: file.descriptor.rawValue,
            offset: offset
        )
        self.length = length
    }

    /// Runs `body` with the mapped bytes. The buffer must not escape `body`.
    public func withUnsafeMutableBytes<Result, Failure: Error>(
        _ body: (UnsafeMutableRawBufferPointer) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        try body(UnsafeMutableRawBufferPointer(start: base, count: length))
    }

    /// Gives the kernel advice about `count` bytes from `offset` (the whole mapping by default).
    /// The corresponding C function is `madvise(2)`.
    public func advise(_ advice: MemoryAdvice, offset: Int = 0, count: Int? = nil) throws(Errno) {
        guard offset >= 0, offset <= length, (count ?? 0) >= 0, (count ?? 0) <= length - offset else {
            throw Errno.invalidArgument
        }
        try Syscall.advise(base + offset, length: count ?? (length - offset), advice: advice)
    }

    /// Unmaps now and reports a failure. The corresponding C function is `munmap(2)`.
    public consuming func unmap() throws(Errno) {
        let base = self.base
        let length = self.length
        discard self
        try Syscall.unmap(base, length: length)
    }

    deinit {
        try? Syscall.unmap(base, length: length)
    }
}

// SAFETY: the mapping is `~Copyable`, so exactly one value owns `base`; sending it moves that ownership to
// another task. The pointer is only lent out inside `withUnsafeMutableBytes`, never stored.
extension MemoryMapping: @unchecked Sendable {}
