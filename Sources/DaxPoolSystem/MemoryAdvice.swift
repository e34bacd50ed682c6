// Linux only.
import CLinuxShims

/// The `advice` argument of `madvise(2)`.
public struct MemoryAdvice: RawRepresentable, Hashable, Sendable {
    /// The `MADV_*` value.
    public let rawValue: CInt

    /// The advice with `MADV_*` value `rawValue`.
    public init(rawValue: CInt) { self.rawValue = rawValue }

    /// Drop the range from this mapping. The corresponding C constant is `MADV_DONTNEED`.
    public static var dontNeed: MemoryAdvice { MemoryAdvice(rawValue: cshim_MADV_DONTNEED) }

    /// Free the range's backing store (a hole in the file). The corresponding C constant is `MADV_REMOVE`.
    public static var remove: MemoryAdvice { MemoryAdvice(rawValue: cshim_MADV_REMOVE) }

    /// Back the range with transparent huge pages. The corresponding C constant is `MADV_HUGEPAGE`.
    public static var hugePage: MemoryAdvice { MemoryAdvice(rawValue: cshim_MADV_HUGEPAGE) }

    /// Fault the range in writable now (Linux 5.14). The corresponding C constant is `MADV_POPULATE_WRITE`.
    public static var populateWrite: MemoryAdvice { MemoryAdvice(rawValue: cshim_MADV_POPULATE_WRITE) }
}
