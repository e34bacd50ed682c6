import ArgumentParser
import DaxPoolAPI
import DaxPoolCore
import DaxPoolLinux

/// `daxpool check-labels`: validates a label storage area as the kernel would read it and explains what is
/// wrong. Prints a JSON report; exits non-zero when the area is unusable or damaged.
///
/// Problems (non-zero exit): no valid index block; a slot in use whose label fails the kernel's
/// `slot_valid()`; a namespace whose labels form no complete set; namespaces whose ranges overlap.
/// Warnings (exit 0): one index block invalid, or labels still marked `UPDATING`: both are what an
/// interrupted update leaves, and the next update repairs them.
struct CheckLabelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-labels",
        abstract: "Validate a label storage area and explain what is wrong.",
        discussion: "Works on files directly (-r R for a region's area, or --file F [--offset O] [--size S])."
    )

    @OptionGroup var area: ReadLabelsCommand.AreaOptions

    /// The JSON report.
    struct Report: Codable, Hashable {
        /// One index block: valid, or why not.
        struct Block: Codable, Hashable {
            var block: Int
            var valid: Bool
            var seq: UInt32?
            var error: String?
        }

        /// One range of a namespace.
        struct Range: Codable, Hashable {
            var dpa: UInt64
            var rawsize: UInt64
        }

        /// A namespace the active labels describe.
        struct Namespace: Codable, Hashable {
            var uuid: String
            var name: String
            var align: UInt64
            var size: UInt64
            var ranges: [Range]
        }

        var file: String
        var size: Int
        var valid: Bool
        var version: String?
        var nslot: UInt32?
        var free: Int?
        var currentBlock: Int?
        var index: [Block]
        var namespaces: [Namespace]
        var problems: [String]
        var warnings: [String]

        enum CodingKeys: String, CodingKey {
            case file, size, valid, version, nslot, free, index, namespaces, problems, warnings
            case currentBlock = "current_block"
        }
    }

    func run() throws {
        let (name, bytes) = try area.read()
        let report = Self.check(bytes, file: name)
        try Output.print(report)
        if !report.valid {
            throw ErrorBody(
                code: .invalidLabels,
                message: "\(name): " + report.problems.joined(separator: "; ")
            )
        }
    }

    /// Checks an area.
    ///
    /// - Parameters:
    ///   - bytes: The whole area.
    ///   - file: The name to report.
    /// - Returns: The report; `valid` is false when there is any problem.
    static func check(_ bytes: [UInt8], file: String) -> Report {
        var report = Report(
            file: file, size: bytes.count, valid: false, index: [], namespaces: [], problems: [], warnings: [])
        let area: LabelArea
        do {
            area = try LabelArea.decode(bytes)
        } catch {
            if case .noValidIndex(let block0, let block1) = error {
                report.index = [
                    Report.Block(block: 0, valid: false, error: block0.description),
                    Report.Block(block: 1, valid: false, error: block1.description),
                ]
                report.problems.append(
                    "neither index block is valid, so the area holds no namespaces; if it should, restore it from a "
                        + "backup, else initialize it with 'daxpool init-labels -f' (this erases every label)")
            } else {
                report.problems.append("\(error)")
            }
            return report
        }
        report.version = area.version.description
        report.nslot = area.currentIndex.slotCount
        report.free = area.currentIndex.freeSlots.count
        report.currentBlock = area.currentBlock
        for (block, result) in area.blocks.enumerated() {
            switch result {
            case .success(let index):
                report.index.append(Report.Block(block: block, valid: true, seq: index.sequence))
            case .failure(let error):
                report.index.append(Report.Block(block: block, valid: false, error: error.description))
                report.warnings.append(
                    "index block \(block) is invalid (\(error)); block \(area.currentBlock) is current. An interrupted "
                        + "index write leaves this; the next update rewrites the block")
            }
        }
        for rejected in area.rejectedSlots {
            report.problems.append(
                "slot \(rejected.slot) is in use but its label is invalid (\(rejected.error)); the kernel ignores it")
        }
        for uuid in area.incompleteUUIDs {
            let labels = area.activeLabels.filter { $0.uuid == uuid }
            let positions = labels.map { "\($0.position)/\($0.labelCount)" }.joined(separator: ", ")
            report.problems.append(
                "namespace \(uuid) has an incomplete label set (positions \(positions)); it is not usable: "
                    + "destroy it, or restore the area from a backup")
        }
        let updating = area.activeLabels.filter { $0.flags.contains(.updating) }
        if !updating.isEmpty {
            report.warnings.append(
                "\(updating.count) live label(s) still carry UPDATING (slots "
                    + updating.map { "\($0.slot)" }.joined(separator: ", ")
                    + "): an update was interrupted after its commit point; the next update settles them")
        }
        var ranges: [(uuid: LabelUUID, start: UInt64, end: UInt64)] = []
        for namespace in area.namespaces {
            report.namespaces.append(
                Report.Namespace(
                    uuid: namespace.uuid.description,
                    name: namespace.name,
                    align: namespace.alignment,
                    size: namespace.extents.reduce(0) { $0 &+ $1.rawSize },
                    ranges: namespace.extents.map { Report.Range(dpa: $0.dpa, rawsize: $0.rawSize) }
                )
            )
            for extent in namespace.extents {
                let (end, overflow) = extent.dpa.addingReportingOverflow(extent.rawSize)
                if overflow {
                    report.problems.append("namespace \(namespace.uuid): range at \(hex(extent.dpa)) wraps past 2^64")
                } else {
                    ranges.append((namespace.uuid, extent.dpa, end))
                }
            }
        }
        ranges.sort { ($0.start, $0.end) < ($1.start, $1.end) }
        for (previous, next) in zip(ranges, ranges.dropFirst()) where next.start < previous.end {
            report.problems.append(
                "namespaces \(previous.uuid) and \(next.uuid) overlap at \(hex(next.start))-\(hex(min(previous.end, next.end) - 1)); "
                    + "destroy one of them")
        }
        report.valid = report.problems.isEmpty
        return report
    }

    private static func hex(_ value: UInt64) -> String {
        "0x" + String(value, radix: 16)
    }
}
