/// How far a backend's start-up reconcile may go in bringing a region in line with the persisted state.
public enum ReconcileMode: Sendable, Hashable {
    /// The state is trusted: missing memory is recreated, names and sizes are brought in line, and what no record
    /// accounts for is kept (file backends move it to the region's `lost+found`), never destroyed.
    case normal
    /// The region is in doubt: its directory is mounted and claimed so that device paths work, and no device
    /// file or kernel device is changed at all.
    case keep
}

/// A file in a region's `lost+found`: memory that no device owned when the daemon started, kept untouched for the
/// operator to look at (and remove, or give back to a device with `daxpool recover`).
public struct LostFile: Hashable, Sendable, Codable {
    /// Its name in `lost+found`: the name it had in the region directory, with `~N` added when that name was taken.
    public var name: String
    /// The name it had in the region directory (`daxR.N`, or `.daxR.N.disabled` for a disabled device's file).
    public var originalName: String
    /// Its absolute path.
    public var path: String
    /// Its length in bytes.
    public var size: ByteCount

    /// A lost file named `name` in `lost+found` (was `originalName`), at `path`, `size` bytes long.
    public init(name: String, originalName: String, path: String, size: ByteCount) {
        self.name = name
        self.originalName = originalName
        self.path = path
        self.size = size
    }

    enum CodingKeys: String, CodingKey {
        case name, path, size
        case originalName = "original_name"
    }
}

/// What a backend's start-up reconcile found and did in one region.
public struct ReconcileReport: Sendable, Hashable {
    /// Files moved into the region's `lost+found` during this start (none in `.keep` mode).
    public var lostAndFound: [LostFile]
    /// Facts that put the region in doubt, each a sentence naming what was found and that it was left alone: a
    /// device file larger than its record, a dax device whose kernel layout differs from its record, a kernel
    /// device daxpool does not own that holds memory. The daemon brings such a region up degraded.
    public var doubts: [String]
    /// What was repaired or kept, for the log and `recover`: a file renamed to its device's state, a missing file
    /// recreated, an orphan retired under a pending scrub's token.
    public var notes: [String]

    /// A report; every list defaults to empty (nothing found, nothing done).
    public init(lostAndFound: [LostFile] = [], doubts: [String] = [], notes: [String] = []) {
        self.lostAndFound = lostAndFound
        self.doubts = doubts
        self.notes = notes
    }

    /// Whether the region is in doubt (`doubts` is not empty).
    public var isInDoubt: Bool { !doubts.isEmpty }
}
