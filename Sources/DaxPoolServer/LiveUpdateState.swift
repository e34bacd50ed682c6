import DaxPoolAPI
import DaxPoolCore
import DaxPoolSystem
import Logging
import Synchronization
import SystemPackage

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Where a daemon keeps its live-update records, and what the last prepare or restore said.
///
/// In the state directory: `live-update/prepared.json` (the records of the last prepare, one per devdax region,
/// read and removed by the next start) and `live-update/status.json` (the report of the last restore).
public final class LiveUpdateState: Sendable {
    /// The state directory.
    public let stateDirectory: String
    /// Reads the running kernel's command line (`/proc/cmdline`).
    let commandLine: @Sendable () -> String
    /// The last report (prepare or restore).
    let report: Mutex<LiveUpdateReport?> = Mutex(nil)

    /// - Parameters:
    ///   - stateDirectory: the daemon's state directory.
    ///   - commandLine: the running kernel's command line (default: `/proc/cmdline`).
    public init(stateDirectory: String, commandLine: @escaping @Sendable () -> String = LiveUpdateState.procCommandLine)
    {
        self.stateDirectory = stateDirectory
        self.commandLine = commandLine
    }

    /// `/proc/cmdline`, or an empty line.
    public static let procCommandLine: @Sendable () -> String = {
        guard let file = try? OwnedDescriptor.open(FilePath("/proc/cmdline"), .readOnly),
            let bytes = try? Syscall.readAll(file.descriptor.rawValue)
        else { return "" }
        return String(decoding: bytes, as: UTF8.self)
    }

    var directory: String { stateDirectory + "/live-update" }
    var preparedPath: String { directory + "/prepared.json" }
    var statusPath: String { directory + "/status.json" }

    /// What a prepare wrote to the state directory.
    struct Prepared: Codable {
        var sequence: UInt64
        var kernelCarve: [String]
        var records: [LiveUpdateRecord]

        enum CodingKeys: String, CodingKey {
            case sequence, records
            case kernelCarve = "kernel_carve"
        }
    }

    func readPrepared() throws -> Prepared? {
        guard FileManager.default.fileExists(atPath: preparedPath) else { return nil }
        let data = try Data(contentsOf: URL(fileURLWithPath: preparedPath))
        return try JSONDecoder().decode(Prepared.self, from: data)
    }

    func writePrepared(_ prepared: Prepared) throws {
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try Self.encoder.encode(prepared).write(to: URL(fileURLWithPath: preparedPath), options: .atomic)
    }

    /// Writes the restore's report and retires `prepared.json` (kept as `prepared.json.restored`).
    func finishRestore(_ report: LiveUpdateReport) {
        self.report.withLock { $0 = report }
        try? FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try? Self.encoder.encode(report).write(to: URL(fileURLWithPath: statusPath), options: .atomic)
        try? FileManager.default.removeItem(atPath: preparedPath + ".restored")
        try? FileManager.default.moveItem(atPath: preparedPath, toPath: preparedPath + ".restored")
    }

    /// The last report: this daemon's, else the last restore's from `status.json`.
    func lastReport() -> LiveUpdateReport {
        if let report = report.withLock({ $0 }) { return report }
        if let data = try? Data(contentsOf: URL(fileURLWithPath: statusPath)),
            let report = try? JSONDecoder().decode(LiveUpdateReport.self, from: data)
        {
            return report
        }
        return LiveUpdateReport(state: "none")
    }

    static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }

    /// The record of one region as JSON (the payload of a `LiveUpdateArea` frame).
    static func payload(_ record: LiveUpdateRecord) throws -> [UInt8] { Array(try encoder.encode(record)) }
}

/// What a start found of a prepared live update, before the state is loaded: the records in the regions' memory and
/// in the state directory. `PoolService` uses the memory's records when there is no state, refuses a start when the
/// copies disagree, and reports the restore once every region is reconciled.
struct LiveUpdateRestore {
    var prepared: LiveUpdateState.Prepared?
    var memory: [Int: LiveUpdateRecord] = [:]
    var notes: [Int: [String]] = [:]
    var carve: KernelCarve
    /// Whether the state directory had no state and the memory's records were used.
    var fromMemory = false

    /// Reads the areas of the regions a prepare recorded, or, when the state directory holds no journal (lost or
    /// new), of every dax region the kernel has. A static region's copy (its device's tail) is used only when it
    /// claims nothing beyond the kernel's device (`StaticDaxDevice.problems`). `nil` when no live update is to be
    /// restored.
    static func begin(_ state: LiveUpdateState?, backends: [BackendKind: any MemoryBackend], logger: Logger) throws
        -> LiveUpdateRestore?
    {
        guard let state else { return nil }
        let prepared = try state.readPrepared()
        let hasJournal = FileManager.default.fileExists(atPath: state.stateDirectory + "/ledger")
        guard prepared != nil || !hasJournal, let memory = backends[.devdax] as? any LiveUpdateMemory else {
            return nil
        }
        var restore = LiveUpdateRestore(prepared: prepared, carve: KernelCarve(commandLine: state.commandLine()))
        let regions =
            try prepared.map { $0.records.filter { $0.region.config.backend == .devdax }.map(\.region.config.id) }
            ?? memory.liveUpdateRegionIDs()
        for id in regions {
            let bytes: [UInt8]?
            do {
                bytes = try memory.readLiveUpdateArea(region: id)
            } catch {
                restore.notes[id, default: []].append("the copy in memory cannot be read: \(error)")
                continue
            }
            guard let bytes else {
                restore.notes[id, default: []].append("the region holds no readable copy in memory")
                continue
            }
            let contents = LiveUpdateArea.decode(bytes)
            if contents.isBlank {
                if prepared != nil { restore.notes[id, default: []].append("the copy in memory is blank") }
                continue
            }
            restore.notes[id, default: []] += contents.damage.map { "the copy in memory: \($0)" }
            guard let frame = contents.frame else {
                logger.warning("live-update: the layout's copy in memory is damaged", metadata: ["region": "\(id)"])
                continue
            }
            guard let record = try? JSONDecoder().decode(LiveUpdateRecord.self, from: Data(frame.payload)),
                record.region.config.id == id
            else {
                restore.notes[id, default: []].append("the copy in memory does not decode as a layout of region \(id)")
                continue
            }
            // A static region's copy is in its device's tail, which the device's tenant can write: it may claim no
            // more than the kernel's own device shows.
            let fixed: StaticDaxDevice?
            do {
                fixed = try memory.staticLiveUpdateDevice(region: id)
            } catch {
                restore.notes[id, default: []].append("the copy in memory cannot be checked: \(error)")
                continue
            }
            if let fixed {
                let claims = fixed.problems(record.region)
                if !claims.isEmpty {
                    restore.notes[id, default: []].append(
                        "the copy in memory (the tail of static dax\(id).\(fixed.instance), which its tenant can "
                            + "write) claims what the kernel's device does not show: \(claims.joined(separator: "; "))"
                            + ". It is not used")
                    logger.warning(
                        "live-update: a static region's copy in memory claims more than its kernel device; not used",
                        metadata: ["region": "\(id)", "claims": "\(claims)"])
                    continue
                }
            }
            if let labelled = contents.labelled,
                Set(labelled) != Set(record.region.devices.map(LiveUpdateArea.namespace(of:)))
            {
                restore.notes[id, default: []].append("the label area in memory disagrees with the record beside it")
            }
            restore.memory[id] = record
        }
        return restore
    }

    /// The state to start from when the state directory has none: the memory's records.
    var statelessSnapshot: PoolSnapshot? {
        memory.isEmpty ? nil : PoolSnapshot(regions: memory.keys.sorted().compactMap { memory[$0]?.region })
    }

    /// Refuses a start on copies that disagree: the kernel's carve against the prepare's, and, when the state
    /// directory held state, every region's layout in it against the copy in the region's memory.
    func check(_ loaded: PoolSnapshot, hadState: Bool) throws {
        let recorded = prepared?.kernelCarve ?? memory.values.first?.kernelCarve
        if let recorded, recorded != carve.arguments {
            throw ErrorBody(
                code: .liveUpdateMismatch,
                message: "live-update: this kernel's command line carves \(carve.arguments) but the prepare recorded "
                    + "\(recorded): the carved memory may not be where the layouts say. Boot again (kexec) with "
                    + "\(recorded.joined(separator: " ")) on the command line. Nothing was changed")
        }
        guard hadState else { return }
        for (id, record) in memory.sorted(by: { $0.key < $1.key }) {
            guard let region = loaded.regions.first(where: { $0.config.id == id }) else {
                throw ErrorBody(
                    code: .liveUpdateMismatch,
                    message: "live-update: dax region \(id)'s memory holds a layout of \(record.deviceCount) devices "
                        + "(prepare \(record.sequence)) but the state directory has no region \(id). Nothing was "
                        + "changed. To use the copy in memory, move the state directory away and start again; to "
                        + "use the state directory, remove \(region0Hint(id))")
            }
            let differences = LiveUpdateRecord.differences(region, record.region)
            if !differences.isEmpty {
                throw ErrorBody(
                    code: .liveUpdateMismatch,
                    message: "live-update: the state directory and the copy in dax region \(id)'s memory disagree: "
                        + differences.joined(separator: "; ")
                        + ". Nothing was changed and no memory was touched. To trust the copy in memory, move the "
                        + "state directory away and start again; to trust the state directory, remove "
                        + region0Hint(id))
            }
        }
    }

    private func region0Hint(_ id: Int) -> String {
        "live-update/prepared.json and start again (the copy in region \(id)'s memory is then ignored)"
    }

    /// The report of the restore, once every region is reconciled.
    func report(_ snapshot: PoolSnapshot, degraded: Set<Int>) -> LiveUpdateReport {
        var regions: [LiveUpdateRegion] = []
        var restored = 0
        var missing: [String] = []
        let ids = Set(memory.keys).union(prepared?.records.map(\.region.config.id) ?? []).union(notes.keys)
        for id in ids.sorted() {
            let expected =
                memory[id]?.region ?? prepared?.records.first { $0.region.config.id == id }?.region
            guard let expected else { continue }
            let now = snapshot.regions.first { $0.config.id == id }
            var names: [String] = []
            for device in expected.devices {
                if degraded.contains(id) || now?.devices.contains(where: { $0.record.id == device.record.id }) != true {
                    missing.append(
                        "\(device.record.id): region \(id) is \(degraded.contains(id) ? "degraded" : "gone")")
                } else {
                    restored += 1
                    names.append(device.record.id.description)
                }
            }
            let source =
                fromMemory
                ? "memory" : memory[id] != nil ? "state directory and memory (equal)" : "state directory"
            regions.append(
                LiveUpdateRegion(
                    region: id, devices: names, memoryCopy: memory[id] != nil, carve: nil, source: source,
                    notes: notes[id] ?? []))
        }
        return LiveUpdateReport(
            state: "restored", sequence: prepared?.sequence ?? memory.values.first?.sequence, regions: regions,
            restored: restored, notRestored: missing, kernelArguments: carve.arguments)
    }
}
