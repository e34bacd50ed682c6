import DaxPoolAPI
import DaxPoolClient
import DaxPoolCore
import Foundation
import Synchronization

/// What a client of the torture test knows about the devices: every change the daemon acknowledged, and the
/// one change in flight when the daemon died (its outcome unknown).
struct TortureLedger: Sendable, Equatable {
    /// One device as the client created and resized it.
    struct Device: Sendable, Hashable {
        var name: String
        var size: UInt64
    }

    /// A change the client sent.
    enum Change: Sendable, Equatable {
        case create(uuid: String, Device)
        case resize(uuid: String, size: UInt64)
        case destroy(uuid: String)
    }

    /// Devices by uuid, as acknowledged.
    var devices: [String: Device] = [:]
    /// The change sent but not answered.
    var inFlight: Change?

    /// `devices` with `change` applied.
    func applying(_ change: Change) -> [String: Device] {
        var result = devices
        switch change {
        case .create(let uuid, let device): result[uuid] = device
        case .resize(let uuid, let size): result[uuid]?.size = size
        case .destroy(let uuid): result[uuid] = nil
        }
        return result
    }
}

/// A client that loops create / resize / destroy against a daemon on a background thread until the daemon
/// stops answering, keeping a `TortureLedger`.
final class TortureClient: Sendable {
    private struct State {
        var ledger: TortureLedger
        var acknowledged = 0
        var refused = 0
        var finished = false
        var random: UInt64
        var counter: Int
    }

    private let state: Mutex<State>
    private let socket: String
    private let done = DispatchSemaphore(value: 0)

    /// A client starting from `ledger`; `seed` drives its choices; `counter` numbers new device names.
    init(socket: String, ledger: TortureLedger, seed: UInt64, counter: Int) {
        self.socket = socket
        state = Mutex(State(ledger: ledger, random: seed | 1, counter: counter))
    }

    /// Starts the loop.
    func start() {
        let thread = Thread { [self] in
            run()
            done.signal()
        }
        thread.start()
    }

    /// Waits for the loop to end (after the daemon died) and returns the ledger, the number of acknowledged
    /// and refused changes, and the next device number.
    func join() -> (ledger: TortureLedger, acknowledged: Int, refused: Int, counter: Int) {
        done.wait()
        return state.withLock { ($0.ledger, $0.acknowledged, $0.refused, $0.counter) }
    }

    private func next(_ bound: UInt64) -> UInt64 {
        state.withLock { state in
            state.random ^= state.random << 13
            state.random ^= state.random >> 7
            state.random ^= state.random << 17
            return state.random % bound
        }
    }

    private func run() {
        let client = DaxPoolClient(socketPath: socket)
        while true {
            let (devices, counter) = state.withLock { ($0.ledger.devices, $0.counter) }
            let uuids = devices.keys.sorted()
            let choice = next(100)
            let change: TortureLedger.Change
            if uuids.isEmpty || (choice < 45 && uuids.count < 12) {
                let uuid = UUID().uuidString.lowercased()
                let size = (1 + next(4)) << 21
                change = .create(uuid: uuid, TortureLedger.Device(name: "t\(counter)", size: size))
                state.withLock { $0.counter += 1 }
            } else if choice < 75 {
                change = .resize(uuid: uuids[Int(next(UInt64(uuids.count)))], size: (1 + next(4)) << 21)
            } else {
                change = .destroy(uuid: uuids[Int(next(UInt64(uuids.count)))])
            }
            state.withLock { $0.ledger.inFlight = change }
            do throws(ErrorBody) {
                switch change {
                case .create(let uuid, let device):
                    _ = try client.createDevice(
                        CreateDeviceRequest(
                            region: 0, size: ByteCount(device.size), name: try? DeviceName(validating: device.name),
                            uuid: LabelUUID(uuid)))
                case .resize(let uuid, let size):
                    guard let name = devices[uuid]?.name else { continue }
                    _ = try client.reconfigureDevice(
                        name, ReconfigureDeviceRequest(size: ByteCount(size), force: true))
                case .destroy(let uuid):
                    guard let name = devices[uuid]?.name else { continue }
                    try client.destroyDevice(name, force: true)
                }
                state.withLock { state in
                    state.ledger.devices = state.ledger.applying(change)
                    state.ledger.inFlight = nil
                    state.acknowledged += 1
                }
            } catch {
                // No daemon status (0 before the error model's `status: Int?`, `nil` after): no answer, the daemon is
                // gone; the change may or may not have been committed. Reading `nil` as an answer looped forever.
                guard ((error.status as Int?) ?? 0) != 0 else { return }
                // The daemon answered with an error (no room, say): it changed nothing.
                state.withLock { state in
                    state.ledger.inFlight = nil
                    state.refused += 1
                }
            }
        }
    }
}

/// The daemon of a `DaemonHarness` (same binary, socket, state directory and shm root), started and killed
/// quickly: readiness is the daemon's own `READY=1` on a notify socket, so no CLI runs between kills.
final class TortureDaemon {
    let harness: DaemonHarness
    let regionSize: String
    private var process: Process?

    init(harness: DaemonHarness, regionSize: String) {
        self.harness = harness
        self.regionSize = regionSize
    }

    deinit {
        kill()
    }

    /// Starts `daxpool serve` and waits until it says it is ready (`READY=1`, once its socket listens).
    func start() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: DaemonHarness.binary)
        process.arguments = [
            "serve", "--socket", harness.socket, "--state-dir", harness.stateDirectory, "--shm-root", harness.shmRoot,
            "--default-region-size", regionSize, "--log-level", "error",
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try DaemonHarness.run(process, waitingForReadiness: "daxpool serve on \(harness.socket)")
        self.process = process
    }

    /// `kill -9` and wait for the process to go.
    func kill() {
        guard let process else {
            return
        }
        if process.isRunning {
            Foundation.kill(process.processIdentifier, SIGKILL)
        }
        process.waitUntilExit()
        self.process = nil
    }
}
