// Linux only.
import Glibc

/// The `flags` of `mmap(2)`.
public struct MappingFlags: OptionSet, Hashable, Sendable {
    /// The `MAP_*` bits.
    public let rawValue: CInt

    /// The flags with `MAP_*` bits `rawValue`.
    public init(rawValue: CInt) { self.rawValue = rawValue }

    /// Stores reach the file and every other mapping of it. The corresponding C constant is `MAP_SHARED`.
    public static var shared: MappingFlags { MappingFlags(rawValue: MAP_SHARED) }
    /// Fault every page in now. The corresponding C constant is `MAP_POPULATE`.
    public static var populate: MappingFlags { MappingFlags(rawValue: MAP_POPULATE) }
}
