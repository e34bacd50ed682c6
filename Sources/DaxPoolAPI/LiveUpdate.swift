/// The body of `POST /v1/live-update/prepare`.
public struct LiveUpdatePrepareRequest: Hashable, Sendable, Codable {
    /// Prepare even though shm or hugetlb devices will lose their memory in the kexec, a region's last 2 MiB is
    /// held by a device (no copy in its memory), or the command line does not carve a region as it was adopted.
    public var force: Bool?

    /// A prepare request; `force` absent means do not force.
    public init(force: Bool? = nil) { self.force = force }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case force
    }
}

extension LiveUpdatePrepareRequest: KeyedRequestBody {
    /// `force` only; the daemon refuses any other key.
    public static var requestKeys: RequestKeys { RequestKeys(CodingKeys.self) }
}

/// One devdax region in a live-update report.
public struct LiveUpdateRegion: Hashable, Sendable, Codable {
    /// The region id.
    public var region: Int
    /// Its devices (`daxR.N`).
    public var devices: [String]
    /// Whether its layout is (prepare) or was (restore) in its memory, and where: `region_offset` of the 2 MiB area.
    public var memoryCopy: Bool
    /// JSON `area_offset`: the region offset (bytes) of the 2 MiB area that holds the layout copy; absent without a copy.
    public var areaOffset: UInt64?
    /// The kernel device that holds the area until the next start (prepare only).
    public var holder: String?
    /// The command-line argument that carves the region, `nil` when firmware does.
    public var carve: String?
    /// Where the layout was restored from (restore only): `state directory and memory (equal)`, `memory`, `state
    /// directory`.
    public var source: String?
    /// What was wrong with a copy, or why a region has no copy in memory.
    public var notes: [String]

    /// A report entry for region `region` and its `devices`; every optional field defaults to absent, `notes` to none.
    public init(
        region: Int, devices: [String], memoryCopy: Bool, areaOffset: UInt64? = nil, holder: String? = nil,
        carve: String? = nil, source: String? = nil, notes: [String] = []
    ) {
        self.region = region
        self.devices = devices
        self.memoryCopy = memoryCopy
        self.areaOffset = areaOffset
        self.holder = holder
        self.carve = carve
        self.source = source
        self.notes = notes
    }

    enum CodingKeys: String, CodingKey {
        case region, devices, holder, carve, source, notes
        case memoryCopy = "memory_copy"
        case areaOffset = "area_offset"
    }
}

/// The answer to `POST /v1/live-update/prepare` and `GET /v1/live-update`.
public struct LiveUpdateReport: Hashable, Sendable, Codable {
    /// `prepared` (prepare answered; kexec next), `restored` (this start rebuilt a prepared layout), `refused`, or
    /// `none` (no live update since the daemon started and none prepared).
    public var state: String
    /// The prepare's sequence number.
    public var sequence: UInt64?
    /// The devdax regions.
    public var regions: [LiveUpdateRegion]
    /// Devices whose memory does not survive a kexec (shm, hugetlb), as `daxR.N (name, backend)`.
    public var lost: [String]
    /// The number of devices restored (restore only).
    public var restored: Int?
    /// Devices of the prepare that were not restored, with why.
    public var notRestored: [String]
    /// The carve arguments the next kernel's command line must hold.
    public var kernelArguments: [String]
    /// What to do next.
    public var nextSteps: [String]

    /// A report in `state`; every other field defaults to absent or empty.
    public init(
        state: String, sequence: UInt64? = nil, regions: [LiveUpdateRegion] = [], lost: [String] = [],
        restored: Int? = nil, notRestored: [String] = [], kernelArguments: [String] = [], nextSteps: [String] = []
    ) {
        self.state = state
        self.sequence = sequence
        self.regions = regions
        self.lost = lost
        self.restored = restored
        self.notRestored = notRestored
        self.kernelArguments = kernelArguments
        self.nextSteps = nextSteps
    }

    enum CodingKeys: String, CodingKey {
        case state, sequence, regions, lost, restored
        case notRestored = "not_restored"
        case kernelArguments = "kernel_arguments"
        case nextSteps = "next_steps"
    }
}
