import DaxPoolCore
import DaxPoolTestSupport
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A state store in memory, for tests: it can be told to fail the next commit.
final class InMemoryStateStoreFake: StateStore {
    private let state = Mutex<(snapshot: PoolSnapshot?, failNext: Bool, commits: Int)>((nil, false, 0))

    struct InjectedFailure: Error {}

    func load() throws -> PoolSnapshot? { state.withLock { $0.snapshot } }

    func commit(_ snapshot: PoolSnapshot) throws {
        try state.withLock { value in
            if value.failNext {
                value.failNext = false
                throw InjectedFailure()
            }
            value.snapshot = snapshot
            value.commits += 1
        }
    }

    func failNextCommit() { state.withLock { $0.failNext = true } }

    var commits: Int { state.withLock { $0.commits } }

    var stored: PoolSnapshot? { state.withLock { $0.snapshot } }
}

/// A backend that only records what it was asked to do, for tests; it can fail the next provision.
final class RecordingBackendFake: MemoryBackend {
    let kind: BackendKind = .shm
    private let state = Mutex<(devices: [DeviceID: ByteCount], failNext: Bool, calls: [String])>(([:], false, []))

    func createRegion(_ request: RegionConfig) throws -> RegionConfig { request }
    func destroyRegion(_ config: RegionConfig) throws {}
    func devicePath(_ device: DeviceID, in region: RegionConfig) -> String? { "/fake/\(device)" }

    func provisionDevice(_ device: DeviceID, size: ByteCount, extents: [Extent], in region: RegionConfig) throws {
        try state.withLock { value in
            if value.failNext {
                value.failNext = false
                throw BackendError(
                    operation: "fallocate", path: "/fake/\(device)", errno: .noSpace, message: "injected ENOSPC")
            }
            value.devices[device] = size
            value.calls.append("provision \(device) \(size)")
        }
    }

    func setDeviceEnabled(_ device: DeviceID, enabled: Bool, in region: RegionConfig) throws {
        state.withLock { $0.calls.append("\(enabled ? "enable" : "disable") \(device)") }
    }

    func destroyDevice(_ device: DeviceID, in region: RegionConfig) throws {
        state.withLock { value in
            value.devices[device] = nil
            value.calls.append("destroy \(device)")
        }
    }

    func reconcile(_ region: RegionConfig, devices: [(record: DeviceRecord, extents: [Extent])]) throws {}

    func setDeviceOwner(_ device: DeviceID, uid: UInt32, in region: RegionConfig) throws {
        state.withLock { $0.calls.append("owner \(device) \(uid)") }
    }

    func revokeDevice(_ device: DeviceID, in region: RegionConfig) throws {
        state.withLock { $0.calls.append("revoke \(device)") }
    }

    var calls: [String] { state.withLock { $0.calls } }

    func failNextProvision() { state.withLock { $0.failNext = true } }

    var devices: [DeviceID: ByteCount] { state.withLock { $0.devices } }
}

/// A process watcher that only pretends, for tests: processes in `processes` exist, and `exit(pid)` runs the
/// watch's `onExit` as the kernel's pidfd would.
final class ProcessWatcherFake: ProcessWatcher {
    private let state = Mutex<(processes: [Int32: ProcessIdentity], watches: [Int32: @Sendable () -> Void])>(([:], [:]))

    struct NoSuchProcess: Error {}

    func add(pid: Int32, uid: UInt32, startTime: UInt64 = 1) {
        state.withLock { $0.processes[pid] = ProcessIdentity(pid: pid, uid: uid, startTime: startTime) }
    }

    func watch(pid: Int32, startTime: UInt64?, onExit: @escaping @Sendable () -> Void) throws -> ProcessIdentity {
        try state.withLock { value in
            guard let identity = value.processes[pid], startTime == nil || startTime == identity.startTime else {
                throw NoSuchProcess()
            }
            value.watches[pid] = onExit
            return identity
        }
    }

    func stopWatching(pid: Int32) {
        state.withLock { _ = $0.watches.removeValue(forKey: pid) }
    }

    /// The process exits: its watch fires.
    func exit(pid: Int32) {
        let onExit = state.withLock { value in
            value.processes[pid] = nil
            return value.watches.removeValue(forKey: pid)
        }
        onExit?()
    }

    var watched: Set<Int32> { state.withLock { Set($0.watches.keys) } }
}

/// A backend that keeps destroyed devices' memory for reuse and "scrubs" it by reporting progress, for tests: a
/// scrub can be held until the test lets it go, and every retired and scrubbed token is recorded.
final class ScrubbingBackendFake: MemoryBackend {
    let kind: BackendKind = .hugetlb
    private let state = Mutex<(retired: [String], scrubbed: [String], scrubbedAtOnce: [String])>(([], [], []))
    private let gate = Gate(open: true)
    /// Whether retired memory holds nothing to zero, so that `scrubRetiredAtOnce` finishes its scrub.
    let nothingToZero: Bool

    init(nothingToZero: Bool = false) {
        self.nothingToZero = nothingToZero
    }

    func createRegion(_ request: RegionConfig) throws -> RegionConfig { request }
    func destroyRegion(_ config: RegionConfig) throws {}
    func devicePath(_ device: DeviceID, in region: RegionConfig) -> String? { "/fake/\(device)" }
    func provisionDevice(_ device: DeviceID, size: ByteCount, extents: [Extent], in region: RegionConfig) throws {}
    func setDeviceEnabled(_ device: DeviceID, enabled: Bool, in region: RegionConfig) throws {}
    func destroyDevice(_ device: DeviceID, in region: RegionConfig) throws {}
    func reconcile(_ region: RegionConfig, devices: [(record: DeviceRecord, extents: [Extent])]) throws {}

    /// Grows as the hugetlb backend does: the new memory is a part of its own (a mount), so the region's parts are
    /// its old size and the growth.
    func resizeRegion(_ config: RegionConfig, to newSize: ByteCount) throws -> RegionConfig {
        var resized = config
        let parts = config.segments.isEmpty ? [config.size] : config.segments
        resized.segments = newSize > config.size ? parts + [ByteCount(newSize.rawValue - config.size.rawValue)] : parts
        resized.size = newSize
        return resized
    }

    func scrubsRetiredMemory(in region: RegionConfig) -> Bool { true }

    func retireDevice(_ device: DeviceID, token: String, in region: RegionConfig) throws {
        state.withLock { $0.retired.append(token) }
    }

    /// Reports progress in eighths of `total`; while held, waits after the first eighth until `release()`.
    func scrubRetired(token: String, size: ByteCount, in region: RegionConfig, progress: (ByteCount, ByteCount) -> Void)
        throws
    {
        let total = region.size
        for step in 1...8 {
            progress(ByteCount(total.rawValue / 8 * UInt64(step)), total)
            if step == 1 { gate.pass() }
        }
        state.withLock { $0.scrubbed.append(token) }
    }

    func scrubRetiredAtOnce(token: String, size: ByteCount, in region: RegionConfig) throws -> Bool {
        guard nothingToZero else { return false }
        state.withLock { $0.scrubbedAtOnce.append(token) }
        return true
    }

    func hold() { gate.close() }
    func release() { gate.open() }
    var scrubbedAtOnce: [String] { state.withLock { $0.scrubbedAtOnce } }
    /// Whether a scrub is held at the gate now.
    var isHolding: Bool { gate.waiting > 0 }
    var retired: [String] { state.withLock { $0.retired } }
    var scrubbed: [String] { state.withLock { $0.scrubbed } }
}
