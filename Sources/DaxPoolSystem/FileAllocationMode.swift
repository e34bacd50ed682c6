// Linux only.
import CLinuxShims

/// The `mode` of `fallocate(2)`.
public struct FileAllocationMode: OptionSet, Hashable, Sendable {
    /// The `FALLOC_FL_*` bits.
    public let rawValue: CInt

    /// The mode with the `FALLOC_FL_*` bits `rawValue`.
    public init(rawValue: CInt) { self.rawValue = rawValue }

    /// Allocate without changing the file's length. The corresponding C constant is `FALLOC_FL_KEEP_SIZE`.
    public static var keepSize: FileAllocationMode { FileAllocationMode(rawValue: cshim_FALLOC_FL_KEEP_SIZE) }

    /// Free the range (requires `.keepSize`). The corresponding C constant is `FALLOC_FL_PUNCH_HOLE`.
    public static var punchHole: FileAllocationMode { FileAllocationMode(rawValue: cshim_FALLOC_FL_PUNCH_HOLE) }
}
