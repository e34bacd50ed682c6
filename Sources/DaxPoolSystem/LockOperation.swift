// Linux only.
import Glibc

/// The `operation` of `flock(2)`.
public struct LockOperation: OptionSet, Hashable, Sendable {
    /// The `LOCK_*` bits.
    public let rawValue: CInt

    /// The operation with `LOCK_*` bits `rawValue`.
    public init(rawValue: CInt) { self.rawValue = rawValue }

    /// A shared lock. The corresponding C constant is `LOCK_SH`.
    public static var shared: LockOperation { LockOperation(rawValue: LOCK_SH) }
    /// An exclusive lock. The corresponding C constant is `LOCK_EX`.
    public static var exclusive: LockOperation { LockOperation(rawValue: LOCK_EX) }
    /// Remove the lock. The corresponding C constant is `LOCK_UN`.
    public static var unlock: LockOperation { LockOperation(rawValue: LOCK_UN) }
    /// Fail with `EWOULDBLOCK` instead of waiting. The corresponding C constant is `LOCK_NB`.
    public static var nonBlocking: LockOperation { LockOperation(rawValue: LOCK_NB) }
}
