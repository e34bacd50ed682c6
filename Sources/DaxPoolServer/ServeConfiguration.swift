import DaxPoolAPI
import DaxPoolCore
import Logging

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The `daxpool serve --config FILE` document (conventionally `/etc/daxpool/daxpool.json`): the daemon's settings,
/// who administers it and who may create devices, and the regions it keeps.
///
/// ```json
/// {
///   "socket": { "path": "/run/daxpool/daxpool.sock", "group": "kvm", "mode": "0660" },
///   "state_dir": "/var/lib/daxpool",
///   "default_region_size": 0,
///   "regions": [ { "backend": "hugetlb", "path": "/run/daxpool/hugetlb/node0", "size": "8G", "page_size": "2M",
///                  "node": 0, "pool": "2Gx2" } ],
///   "admins": { "users": ["alice"], "groups": ["daxpool-admin"] },
///   "device_creators": { "groups": ["kvm"] }
/// }
/// ```
///
/// Every key is optional and is named after the `serve` option it stands for (`--state-dir` is `state_dir`;
/// `--socket` is `socket.path`). An option given on the command line overrides the file's key (a repeatable option,
/// such as `--nd-region`, replaces the file's whole list). The parser is strict: an unknown key, a key given twice,
/// a value of the wrong type, a size outside the one size grammar or a number out of range is refused with an error
/// that names the key, before the daemon touches anything. `admins`, `device_creators`, `socket.group` and
/// `socket.mode` are read by `AccessConfiguration` (names are resolved when the daemon starts).
public struct ServeConfiguration: Sendable, Equatable {
    /// `--nd-region R:N[:OFFSET]` or `{"region": R, "nd_region": N, "offset": OFFSET}`: watch the kernel's bad
    /// blocks of nd region N for daxpool region R, whose offset 0 lies `offset` bytes into the nd region.
    public struct BadBlocksSource: Sendable, Equatable {
        /// JSON `region`: the daxpool region id R whose bad blocks are watched.
        public var region: Int
        /// JSON `nd_region`: the kernel nd region N (`/sys/bus/nd/devices/regionN`) whose `badblocks` are read.
        public var ndRegion: Int
        /// JSON `offset`: where region R's offset 0 lies in the nd region, in bytes (0 unless given).
        public var offset: UInt64

        /// A source watching nd region `ndRegion` for region `region`, offset by `offset` bytes.
        public init(region: Int, ndRegion: Int, offset: UInt64 = 0) {
            self.region = region
            self.ndRegion = ndRegion
            self.offset = offset
        }
    }

    /// `--socket`, `socket.path`.
    public var socketPath: String?
    /// `--state-dir`, `state_dir`.
    public var stateDirectory: String?
    /// `--shm-root`, `shm_root`.
    public var shmRoot: String?
    /// `--default-region-size`, `default_region_size`.
    public var defaultRegionSize: ByteCount?
    /// `--label-area-size`, `label_area_size`.
    public var labelAreaSize: ByteCount?
    /// `--scrub-threads`, `scrub_threads`.
    public var scrubThreads: Int?
    /// `--log-level`, `log_level`.
    public var logLevel: Logger.Level?
    /// `--nd-region` (repeatable), `nd_regions`.
    public var badBlocksSources: [BadBlocksSource]?
    /// `--badblocks-interval`, `badblocks_interval` (seconds).
    public var badblocksInterval: Int?
    /// `--max-connections-per-uid`, `max_connections_per_uid`.
    public var maxConnectionsPerUID: Int?
    /// `--idle-timeout`, `idle_timeout` (seconds).
    public var idleTimeout: Int?
    /// `--lend-idle`/`--no-lend-idle`, `lend_idle`.
    public var lendIdle: Bool?
    /// `--keep-free`, `keep_free`.
    public var keepFree: ByteCount?
    /// `--lend-chunk`, `lend_chunk`.
    public var lendChunk: ByteCount?
    /// `regions`: regions the daemon makes at start when its state holds none at their place (file only).
    public var regions: [CreateRegionRequest]?
    /// The access part of the file (`admins`, `device_creators`, `socket.group`, `socket.mode`) as a document
    /// `AccessConfiguration(json:...)` reads; `nil` when the file has none of them.
    public var accessDocument: Data?

    /// Settings that give nothing: every option keeps its default.
    public init() {}

    // MARK: - Limits, shared with the command line's checks

    /// What `scrub_threads` may be.
    public static let scrubThreadsRange = 1...256
    /// What `badblocks_interval` may be, in seconds.
    public static let badblocksIntervalRange = 1...86400
    /// What `max_connections_per_uid` may be.
    public static let maxConnectionsPerUIDRange = 1...1_000_000
    /// What `idle_timeout` may be, in seconds.
    public static let idleTimeoutRange = 1...86400
    /// What `label_area_size` may be (and a multiple of 256).
    public static let labelAreaSizeRange: ClosedRange<UInt64> = (4 << 10)...(16 << 20)
    /// Region and nd region ids.
    static let regionIDRange = 0...((1 << 20) - 1)
    /// NUMA node numbers.
    static let nodeRange = 0...4095

    /// The top-level keys the file may hold.
    public static let knownKeys = [
        "socket", "state_dir", "shm_root", "default_region_size", "label_area_size", "scrub_threads", "log_level",
        "nd_regions", "badblocks_interval", "max_connections_per_uid", "idle_timeout", "lend_idle", "keep_free",
        "lend_chunk", "regions", "admins", "device_creators",
    ]

    // MARK: - Merging

    /// These settings with every value `flags` gives in place of this one's (the command line wins over the file).
    public func overridden(by flags: ServeConfiguration) -> ServeConfiguration {
        var merged = self
        merged.socketPath = flags.socketPath ?? socketPath
        merged.stateDirectory = flags.stateDirectory ?? stateDirectory
        merged.shmRoot = flags.shmRoot ?? shmRoot
        merged.defaultRegionSize = flags.defaultRegionSize ?? defaultRegionSize
        merged.labelAreaSize = flags.labelAreaSize ?? labelAreaSize
        merged.scrubThreads = flags.scrubThreads ?? scrubThreads
        merged.logLevel = flags.logLevel ?? logLevel
        merged.badBlocksSources = flags.badBlocksSources ?? badBlocksSources
        merged.badblocksInterval = flags.badblocksInterval ?? badblocksInterval
        merged.maxConnectionsPerUID = flags.maxConnectionsPerUID ?? maxConnectionsPerUID
        merged.idleTimeout = flags.idleTimeout ?? idleTimeout
        merged.lendIdle = flags.lendIdle ?? lendIdle
        merged.keepFree = flags.keepFree ?? keepFree
        merged.lendChunk = flags.lendChunk ?? lendChunk
        merged.regions = flags.regions ?? regions
        merged.accessDocument = flags.accessDocument ?? accessDocument
        return merged
    }

    /// Refuses combinations no single value shows: `keep_free` or `lend_chunk` where lending was never asked for.
    /// (`lend_idle: false` or `--no-lend-idle` turns lending off and the sizes with it.)
    public func checkCombinations() throws(ConfigurationError) {
        if lendIdle == nil, keepFree != nil || lendChunk != nil {
            throw ConfigurationError(
                "keep_free (--keep-free) and lend_chunk (--lend-chunk) go with lend_idle (--lend-idle): "
                    + "add \"lend_idle\": true, or leave them out")
        }
    }

    // MARK: - Parsing

    /// Parses a configuration file strictly.
    /// - Parameter source: the file's path, for messages.
    /// - Throws: `ConfigurationError` naming the file and the key that is wrong, and how.
    public init(json data: Data, source: String) throws(ConfigurationError) {
        let root: ConfigurationValue
        do {
            root = try JSONDecoder().decode(ConfigurationValue.self, from: data)
        } catch {
            throw ConfigurationError("\(source) is not a valid daxpool configuration: \(Self.describe(error))")
        }
        guard case .object = root else {
            throw ConfigurationError(
                "\(source) is not a valid daxpool configuration: it must be one JSON object, not \(root.kind)")
        }
        do {
            try self.init(document: root)
        } catch {
            throw ConfigurationError("\(source): \(error.message)")
        }
        do {
            // What the decoder lets through: a key given twice (at any level), an exponent, nesting too deep, bad
            // UTF-8. Unknown keys were refused above, with the file's own wording.
            try JSONStrictness.check([UInt8](data), keys: RequestKeys(Self.knownKeys))
        } catch {
            let message = error.message.replacing("the request body", with: "the document")
            throw ConfigurationError("\(source) is not a valid daxpool configuration: \(message)")
        }
    }

    private static func describe(_ error: any Error) -> String {
        guard let error = error as? DecodingError else { return "\(error)" }
        switch error {
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            return context.underlyingError.map { "\($0)" } ?? context.debugDescription
        case .keyNotFound(let key, _):
            return "missing '\(key.stringValue)'"
        @unknown default:
            return "\(error)"
        }
    }

    private init(document root: ConfigurationValue) throws(ConfigurationError) {
        let top = try root.object(at: "", known: Self.knownKeys)
        var access: [String: ConfigurationValue] = [:]
        if let socket = top["socket"] {
            let fields = try socket.object(at: "socket", known: ["path", "group", "mode"])
            socketPath = try fields["path"]?.absolutePath(at: "socket.path")
            let accessSocket = fields.filter { $0.key != "path" }
            if !accessSocket.isEmpty { access["socket"] = .object(accessSocket) }
        }
        for key in ["admins", "device_creators"] { access[key] = top[key] }
        if !access.isEmpty {
            do {
                accessDocument = try JSONEncoder().encode(ConfigurationValue.object(access))
            } catch {
                throw ConfigurationError("cannot re-encode the access settings: \(error)")
            }
        }
        stateDirectory = try top["state_dir"]?.absolutePath(at: "state_dir")
        shmRoot = try top["shm_root"]?.absolutePath(at: "shm_root")
        defaultRegionSize = try top["default_region_size"]?.size(at: "default_region_size")
        if let value = top["label_area_size"] {
            let size = try value.size(at: "label_area_size")
            guard Self.labelAreaSizeRange.contains(size.rawValue), size.rawValue % 256 == 0 else {
                throw ConfigurationError("label_area_size \(size.rawValue) must be 4K to 16M and a multiple of 256")
            }
            labelAreaSize = size
        }
        scrubThreads = try top["scrub_threads"]?.integer(at: "scrub_threads", in: Self.scrubThreadsRange)
        if let value = top["log_level"] {
            let text = try value.string(at: "log_level")
            guard let level = Logger.Level(rawValue: text) else {
                throw ConfigurationError(
                    "log_level '\(text)' is not a level: trace, debug, info, notice, warning, error or critical")
            }
            logLevel = level
        }
        if let value = top["nd_regions"] {
            badBlocksSources = try value.array(at: "nd_regions").enumerated().map {
                (index, entry) throws(ConfigurationError) in
                let path = "nd_regions[\(index)]"
                let fields = try entry.object(at: path, known: ["region", "nd_region", "offset"])
                guard let region = fields["region"], let ndRegion = fields["nd_region"] else {
                    throw ConfigurationError("\(path) needs \"region\" (the daxpool region) and \"nd_region\"")
                }
                return BadBlocksSource(
                    region: try region.integer(at: "\(path).region", in: Self.regionIDRange),
                    ndRegion: try ndRegion.integer(at: "\(path).nd_region", in: Self.regionIDRange),
                    offset: try fields["offset"]?.size(at: "\(path).offset").rawValue ?? 0)
            }
        }
        badblocksInterval = try top["badblocks_interval"]?.integer(
            at: "badblocks_interval", in: Self.badblocksIntervalRange)
        maxConnectionsPerUID = try top["max_connections_per_uid"]?.integer(
            at: "max_connections_per_uid", in: Self.maxConnectionsPerUIDRange)
        idleTimeout = try top["idle_timeout"]?.integer(at: "idle_timeout", in: Self.idleTimeoutRange)
        lendIdle = try top["lend_idle"]?.bool(at: "lend_idle")
        keepFree = try top["keep_free"]?.size(at: "keep_free")
        lendChunk = try top["lend_chunk"]?.size(at: "lend_chunk")
        if let value = top["regions"] {
            regions = try Self.regions(value)
        }
        try checkCombinations()
    }

    /// The keys a `regions` entry may hold: those of a `POST /v1/regions` body.
    static let regionKeys = ["backend", "size", "path", "page_size", "node", "dax_region", "pool", "hvo"]

    private static func regions(_ value: ConfigurationValue) throws(ConfigurationError) -> [CreateRegionRequest] {
        var requests: [CreateRegionRequest] = []
        for (index, entry) in try value.array(at: "regions").enumerated() {
            let path = "regions[\(index)]"
            let fields = try entry.object(at: path, known: regionKeys)
            guard let backendValue = fields["backend"] else {
                throw ConfigurationError("\(path) needs \"backend\": shm, hugetlb, devdax or sim")
            }
            let backendText = try backendValue.string(at: "\(path).backend")
            guard let backend = BackendKind(rawValue: backendText) else {
                throw ConfigurationError("\(path).backend '\(backendText)' is not shm, hugetlb, devdax or sim")
            }
            var request = CreateRegionRequest(backend: backend)
            if let size = fields["size"] {
                request.size = try size.size(at: "\(path).size")
            } else if backend != .devdax {
                throw ConfigurationError("\(path) needs \"size\" for a \(backend) region")
            }
            request.path = try fields["path"]?.absolutePath(at: "\(path).path")
            if let pageSize = fields["page_size"] {
                let text = try pageSize.string(at: "\(path).page_size")
                do {
                    request.pageSize = try Alignment(parsing: text)
                } catch {
                    throw ConfigurationError("\(path).page_size '\(text)' is not 4K, 2M or 1G")
                }
            }
            request.node = try fields["node"]?.integer(at: "\(path).node", in: nodeRange)
            request.daxRegion = try fields["dax_region"]?.integer(at: "\(path).dax_region", in: regionIDRange)
            if let pool = fields["pool"] {
                guard backend == .shm || backend == .hugetlb else {
                    throw ConfigurationError("\(path).pool is only for shm and hugetlb regions")
                }
                request.pool = try pool.poolSizes(at: "\(path).pool")
            }
            if let hvo = fields["hvo"] {
                // A hugetlb region is refused at start while HugeTLB Vmemmap Optimization is off, unless "on" or "off".
                let text = try hvo.string(at: "\(path).hvo")
                guard backend == .hugetlb, VmemmapOptimizationChoice(rawValue: text) != nil else {
                    throw ConfigurationError(
                        "\(path).hvo '\(text)' must be \"on\" or \"off\", and only for a hugetlb region")
                }
                request.hvo = text
            }
            switch backend {
            case .devdax:
                guard request.daxRegion != nil else {
                    throw ConfigurationError(
                        "\(path) needs \"dax_region\": the kernel dax region a devdax region adopts (its id)")
                }
            case .shm, .hugetlb, .sim:
                guard request.daxRegion == nil else {
                    throw ConfigurationError("\(path).dax_region is only for devdax regions")
                }
                guard request.path != nil else {
                    throw ConfigurationError(
                        "\(path) needs \"path\": the directory (shm) or mount point (hugetlb) that names the region "
                            + "across starts")
                }
            }
            for (earlier, other) in requests.enumerated() {
                if let daxRegion = request.daxRegion, other.daxRegion == daxRegion {
                    throw ConfigurationError("\(path) adopts dax region \(daxRegion), as regions[\(earlier)] does")
                }
                if backend != .devdax, let regionPath = request.path, other.backend != .devdax,
                    other.path == regionPath
                {
                    throw ConfigurationError("\(path) has path \(regionPath), as regions[\(earlier)] does")
                }
            }
            requests.append(request)
        }
        return requests
    }
}

// MARK: - Regions at start

extension ServeConfiguration {
    /// What `ensureRegions` did with one entry of `regions`.
    public enum RegionOutcome: Sendable, Equatable {
        /// The state already held the region (same backend and path, or for devdax the same dax region).
        case present(region: Int)
        /// The daemon made it now.
        case created(region: Int)
    }

    /// Makes each region of `regions` that the service's state does not hold yet, in order. A region is known by
    /// its path (shm, hugetlb, sim) or its dax region (devdax); one the state holds is left as it is, also when its
    /// size differs (a warning says so: `resize-region` changes it), so that a restart never changes memory.
    /// - Throws: `ConfigurationError` naming the entry when the state holds its place with another backend, or when
    ///   the region cannot be made (the regions made before it stay).
    public static func ensureRegions(
        _ regions: [CreateRegionRequest], in service: PoolService, logger: Logger
    ) async throws(ConfigurationError) -> [RegionOutcome] {
        var outcomes: [RegionOutcome] = []
        for (index, request) in regions.enumerated() {
            let path = "regions[\(index)]"
            let existing = await service.regions(includeDevices: false)
            let match = existing.first { region in
                if let daxRegion = request.daxRegion { return region.id == daxRegion }
                return region.backend != .devdax && region.path == request.path
            }
            if let match {
                guard match.backend == request.backend else {
                    throw ConfigurationError(
                        "\(path) is a \(request.backend) region, but the state's region \(match.id) at its place is "
                            + "\(match.backend): change the file, or destroy region \(match.id)")
                }
                if let bytes = request.size, request.backend != .devdax,
                    bytes.rawValue != match.size
                {
                    logger.warning(
                        "the config's size for a region differs from the state's; the state's is kept (resize-region changes it)",
                        metadata: [
                            "region": "\(match.id)", "config": "\(bytes.rawValue)", "state": "\(match.size)",
                        ])
                }
                outcomes.append(.present(region: match.id))
                continue
            }
            do {
                let region = try await service.createRegion(request)
                logger.notice(
                    "created a region the config names",
                    metadata: ["region": "\(region.id)", "backend": "\(region.backend)", "path": "\(region.path)"])
                outcomes.append(.created(region: region.id))
            } catch {
                throw ConfigurationError("\(path) (\(request.backend)) cannot be made: \(error)")
            }
        }
        return outcomes
    }
}

// MARK: - The document as values

/// One JSON value of a configuration file (`JSONValue`), checked key by key with messages that name the key.
typealias ConfigurationValue = JSONValue

extension JSONValue {
    /// What the value is, for messages.
    var kind: String {
        switch self {
        case .object: "an object"
        case .array: "an array"
        case .string: "a string"
        case .integer, .signed: "a number"
        case .number: "a number with a fraction"
        case .bool: "true or false"
        case .null: "null"
        }
    }

    private func mismatch(_ key: String, _ expected: String) -> ConfigurationError {
        ConfigurationError("'\(key)' must be \(expected), not \(kind)")
    }

    /// An object whose keys are all in `known`; `key` is its place in the document ("" for the top).
    func object(at key: String, known: [String]) throws(ConfigurationError) -> [String: ConfigurationValue] {
        guard case .object(let fields) = self else {
            throw key.isEmpty
                ? ConfigurationError("the document must be one JSON object, not \(kind)")
                : mismatch(key, "an object")
        }
        for name in fields.keys.sorted() where !known.contains(name) {
            throw ConfigurationError(
                "unknown key '\(key.isEmpty ? "" : key + ".")\(name)' (known: \(known.joined(separator: ", ")))")
        }
        return fields
    }

    func array(at key: String) throws(ConfigurationError) -> [ConfigurationValue] {
        guard case .array(let items) = self else { throw mismatch(key, "an array") }
        return items
    }

    func string(at key: String) throws(ConfigurationError) -> String {
        guard case .string(let text) = self else { throw mismatch(key, "a string") }
        return text
    }

    func bool(at key: String) throws(ConfigurationError) -> Bool {
        guard case .bool(let flag) = self else { throw mismatch(key, "true or false") }
        return flag
    }

    func integer(at key: String, in range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
        let number: Int?
        switch self {
        case .integer(let value): number = Int(exactly: value)
        case .signed(let value): number = Int(exactly: value)
        default: throw mismatch(key, "a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        guard let number, range.contains(number) else {
            throw ConfigurationError("'\(key)' must be \(range.lowerBound) to \(range.upperBound)")
        }
        return number
    }

    /// A size: a JSON integer (bytes) or a string in the one size grammar (`"2G"`, `"0x200000"`).
    func size(at key: String) throws(ConfigurationError) -> ByteCount {
        switch self {
        case .integer(let bytes):
            return ByteCount(bytes)
        case .string(let text):
            do {
                return try ByteCount(parsing: text)
            } catch {
                throw ConfigurationError("'\(key)': \(error.description)")
            }
        default:
            throw mismatch(key, "a size: bytes, or a string such as \"2G\" or \"0x200000\"")
        }
    }

    /// A pool list: a string such as `"2Gx4,8G"` or an array of sizes.
    func poolSizes(at key: String) throws(ConfigurationError) -> [ByteCount] {
        switch self {
        case .string(let text):
            do {
                return try PoolSpec.parse(text)
            } catch {
                throw ConfigurationError("'\(key)': \(error.description)")
            }
        case .array(let items):
            var sizes: [ByteCount] = []
            for (index, item) in items.enumerated() {
                sizes.append(try item.size(at: "\(key)[\(index)]"))
            }
            return sizes
        default:
            throw mismatch(key, "a pool list such as \"2Gx4,8G\" or an array of sizes")
        }
    }

    /// An absolute path.
    func absolutePath(at key: String) throws(ConfigurationError) -> String {
        let text = try string(at: key)
        guard text.hasPrefix("/") else { throw ConfigurationError("'\(key)' must be an absolute path, not '\(text)'") }
        guard !text.unicodeScalars.contains(where: { $0.value < 0x20 }) else {
            throw ConfigurationError("'\(key)' contains a control character")
        }
        return text
    }
}
