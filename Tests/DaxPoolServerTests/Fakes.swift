import DaxPoolCore
import Synchronization

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
                    operation: "fallocate", path: "/fake/\(device)", errno: 28, message: "injected ENOSPC")
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

    func failNextProvision() { state.withLock { $0.failNext = true } }

    var devices: [DeviceID: ByteCount] { state.withLock { $0.devices } }
}
