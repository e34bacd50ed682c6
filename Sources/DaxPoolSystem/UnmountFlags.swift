// Linux only.
import Glibc

/// The `flags` of `umount2(2)`.
public struct UnmountFlags: OptionSet, Hashable, Sendable {
    /// The `MNT_*` bits.
    public let rawValue: CInt

    /// The flags with `MNT_*` bits `rawValue`.
    public init(rawValue: CInt) { self.rawValue = rawValue }

    /// Detach the mount now and free it when nobody uses it any more. The corresponding C constant is
    /// `MNT_DETACH`.
    public static var detach: UnmountFlags { UnmountFlags(rawValue: CInt(MNT_DETACH)) }
}
