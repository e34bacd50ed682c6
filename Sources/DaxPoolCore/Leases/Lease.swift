/// A process holding a device: while it lives, the device is not destroyed, shrunk or disabled unless forced.
public struct Lease: Hashable, Sendable, Codable, CustomStringConvertible {
    /// The holder's process id.
    public var pid: Int32
    /// The holder's real uid when the lease was taken.
    public var uid: UInt32
    /// When the holder started (clock ticks after boot, `/proc/PID/stat` field 22): tells the holder from a
    /// later process that reuses its pid, so a persisted lease is re-validated after a daemon restart.
    public var startTime: UInt64

    /// A lease held by process `pid`, running as real uid `uid`, which started `startTime` clock ticks after boot.
    public init(pid: Int32, uid: UInt32, startTime: UInt64) {
        self.pid = pid
        self.uid = uid
        self.startTime = startTime
    }

    /// The holder for messages: "pid P (uid U)".
    public var description: String { "pid \(pid) (uid \(uid))" }

    enum CodingKeys: String, CodingKey {
        case pid, uid
        case startTime = "start_time"
    }
}

/// Who a process is, as the kernel knows it.
public struct ProcessIdentity: Hashable, Sendable {
    /// The process id.
    public var pid: Int32
    /// Real uid.
    public var uid: UInt32
    /// Start time in clock ticks after boot (`/proc/PID/stat` field 22).
    public var startTime: UInt64

    /// The identity of process `pid` with real uid `uid`, started `startTime` clock ticks after boot.
    public init(pid: Int32, uid: UInt32, startTime: UInt64) {
        self.pid = pid
        self.uid = uid
        self.startTime = startTime
    }
}

/// Watches lease holders: tells the daemon when a process exits. The Linux implementation uses pidfds; tests
/// use a fake.
public protocol ProcessWatcher: Sendable {
    /// Starts watching `pid` and returns who it is. `onExit` runs once, on another thread, after the process
    /// exited. Throws when no such process exists (or it is not the one that started at `startTime`, when given).
    func watch(pid: Int32, startTime: UInt64?, onExit: @escaping @Sendable () -> Void) throws -> ProcessIdentity

    /// Stops watching `pid` (its `onExit` will not run). Watching a pid that is not watched is harmless.
    func stopWatching(pid: Int32)
}
