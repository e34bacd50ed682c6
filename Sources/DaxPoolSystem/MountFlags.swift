// Linux only.
import Glibc

/// The `mountflags` of `mount(2)`.
public struct MountFlags: OptionSet, Hashable, Sendable {
    /// The `MS_*` bits.
    public let rawValue: UInt

    /// The flags with `MS_*` bits `rawValue`.
    public init(rawValue: UInt) { self.rawValue = rawValue }

    /// Ignore set-user-ID and set-group-ID bits. The corresponding C constant is `MS_NOSUID`.
    public static var noSetUserID: MountFlags { MountFlags(rawValue: UInt(MS_NOSUID)) }
    /// No device files. The corresponding C constant is `MS_NODEV`.
    public static var noDevices: MountFlags { MountFlags(rawValue: UInt(MS_NODEV)) }
    /// No programs run from it. The corresponding C constant is `MS_NOEXEC`.
    public static var noExecute: MountFlags { MountFlags(rawValue: UInt(MS_NOEXEC)) }
    /// Change the options of an existing mount. The corresponding C constant is `MS_REMOUNT`.
    public static var remount: MountFlags { MountFlags(rawValue: UInt(MS_REMOUNT)) }

    /// `nosuid,nodev,noexec`: what every mount daxpool makes has.
    public static var restricted: MountFlags { [.noSetUserID, .noDevices, .noExecute] }
}
