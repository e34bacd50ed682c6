/// How far a long memory operation (a scrub of a destroyed device, a prefault of a new one) has come: what the
/// `/v1/progress` stream carries, one per line.
public struct ProgressEvent: Hashable, Sendable, Codable {
    /// What is being done to the memory.
    public enum Kind: String, Hashable, Sendable, Codable, CustomStringConvertible {
        /// Zeroing a destroyed device's memory before it is free again.
        case scrub
        /// Allocating and faulting in a new (or grown) device's memory before it is handed out.
        case prefault
        /// Making ready memory for a region's pool in the background (`device` is `regionR.pool`).
        case fill
        /// Giving a device's memory to the host as System RAM: memory blocks onlined (`done`/`total` in bytes).
        case lend
        /// Taking lent memory back: memory blocks offlined (the kernel migrates the host's pages out), then the
        /// device scrubbed.
        case reclaim

        /// The kind as the JSON `kind` field and the CLI spell it.
        public var description: String { rawValue }
    }

    /// Where the operation stands.
    public enum State: String, Hashable, Sendable, Codable, CustomStringConvertible {
        case running
        /// Done: `done == total`.
        case finished
        /// Stopped by an error (`message` says which); the memory was not handed out unscrubbed.
        case failed

        /// The state as the JSON `state` field and the CLI spell it.
        public var description: String { rawValue }
    }

    /// Increasing number of the event across all operations.
    public var sequence: UInt64
    /// The operation the event belongs to: one per scrub or prefault.
    public var operation: UInt64
    /// JSON `kind`: what is being done (`scrub`, `prefault`, `fill`, `lend`, `reclaim`).
    public var kind: Kind
    /// JSON `state`: `running`, `finished` or `failed`.
    public var state: State
    /// JSON `region`: the id of the region the memory lies in.
    public var region: Int
    /// The device, its uuid and name.
    public var device: String
    /// JSON `device_uuid`: the device's uuid (empty for a pool fill).
    public var deviceUUID: String
    /// JSON `device_name`: the device's user-chosen name, when it has one.
    public var deviceName: String?
    /// Bytes done so far, and in all; `done` never decreases within an operation.
    public var done: UInt64
    /// JSON `total`: the bytes the operation covers in all.
    public var total: UInt64
    /// Average bytes per second since the operation started.
    public var rate: UInt64
    /// Milliseconds since the Unix epoch.
    public var time: Int64
    /// Why a failed operation failed.
    public var message: String?

    /// An event with every field given; `message` defaults to none.
    public init(
        sequence: UInt64,
        operation: UInt64,
        kind: Kind,
        state: State,
        region: Int,
        device: String,
        deviceUUID: String,
        deviceName: String?,
        done: UInt64,
        total: UInt64,
        rate: UInt64,
        time: Int64,
        message: String? = nil
    ) {
        self.sequence = sequence
        self.operation = operation
        self.kind = kind
        self.state = state
        self.region = region
        self.device = device
        self.deviceUUID = deviceUUID
        self.deviceName = deviceName
        self.done = done
        self.total = total
        self.rate = rate
        self.time = time
        self.message = message
    }

    /// Whether the event names `device` by id, name or uuid.
    public func concerns(_ device: String) -> Bool {
        self.device == device || deviceName == device || deviceUUID == device.lowercased()
    }

    enum CodingKeys: String, CodingKey {
        case sequence, operation, kind, state, region, device, done, total, rate, time, message
        case deviceUUID = "device_uuid"
        case deviceName = "device_name"
    }
}
