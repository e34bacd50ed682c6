import ArgumentParser
import DaxPoolAPI
import DaxPoolClient
import DaxPoolCore
import DaxPoolLinux
import DaxPoolSystem

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `daxpool create-device`.
struct CreateDeviceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create-device",
        abstract: "Create a device from a region (as daxctl create-device)."
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(name: [.customShort("r"), .long], help: "Region id (default: the first region with room).")
    var region: Int?

    @Option(name: [.customShort("s"), .long], help: "Size (k/m/g/t suffixes; default: all available).")
    var size: String?

    @Option(name: [.customShort("a"), .long], help: "Alignment: 4K, 2M or 1G (default 2M).")
    var align: String?

    @Option(name: .long, help: "A name for the device (1 to 63 bytes, no '/').")
    var name: String?

    @Option(name: .long, help: "The device uuid (default: a random one).")
    var uuid: String?

    @Option(name: .long, help: "Rebuild the exact layout from 'daxpool list -M' output of one device.")
    var input: String?

    @Option(name: .long, help: "The user who owns the device: a name or uid (administrators only; default: you).")
    var owner: String?

    func validate() throws {
        if let owner, UserDatabase.uid(named: owner) == nil {
            throw ValidationError("--owner '\(owner)' is neither a uid nor a user on this host")
        }
    }

    @OptionGroup var progress: ProgressOptions

    func run() throws {
        var request = CreateDeviceRequest(
            region: region,
            name: try name.map { try parseDeviceNameOption($0, option: "--name") },
            uuid: try uuid.map { try parseDeviceUUIDOption($0, option: "--uuid") })
        request.owner = owner.flatMap { UserDatabase.uid(named: $0) }
        if let size { request.size = try parseSizeOption(size, option: "--size") }
        if let align { request.align = try parseAlignmentOption(align, option: "--align") }
        if let input {
            let layout = try InputLayout.load(path: input)
            request.mappings = layout.mappings
            if request.region == nil { request.region = layout.region }
            if request.size == nil { request.size = ByteCount(layout.size) }
            if request.align == nil, let align = layout.align {
                request.align = try parseAlignmentOption(String(align), option: "--input align")
            }
        }
        let display = ProgressDisplay(mode: progress.mode)
        var watch: ProgressWatch.Prefault?
        if display.mode != .none {
            // The prefault is followed by the device's uuid, so choose it here when none was given.
            var generator = SystemRandomNumberGenerator()
            let uuid = request.uuid ?? LabelUUID.random(using: &generator)
            request.uuid = uuid
            let after = try ProgressWatch.newestOperation(connection.client())
            watch = ProgressWatch.Prefault(
                socket: connection.resolvedSocket, uuid: uuid.description, after: after, display: display)
        }
        let device = try connection.client().createDevice(request)
        watch?.finish()
        try Output.print([device])
    }
}

/// The layout in a `list -M` document: one device object, or an array holding exactly one.
struct InputLayout {
    var region: Int?
    var size: UInt64
    var align: UInt64?
    var mappings: [MappingRequest]

    private struct Document: Decodable {
        var chardev: String?
        var size: UInt64
        var align: UInt64?
        var mappings: [MappingRequest]?
    }

    static func load(path: String) throws -> InputLayout {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ErrorBody(code: .badInput, message: "cannot read --input file '\(path)': \(error)")
        }
        let document: Document
        do {
            if let single = try? JSONDecoder().decode(Document.self, from: data) {
                document = single
            } else {
                let many = try JSONDecoder().decode([Document].self, from: data)
                guard many.count == 1, let only = many.first else {
                    throw ErrorBody(
                        code: .badInput,
                        message:
                            "--input file '\(path)' holds \(many.count) devices: give the 'list -M' output of exactly one"
                    )
                }
                document = only
            }
        } catch let error as ErrorBody {
            throw error
        } catch {
            throw ErrorBody(
                code: .badInput,
                message: "--input file '\(path)' is not 'daxpool list -M' JSON of one device: \(error)"
            )
        }
        guard let mappings = document.mappings, !mappings.isEmpty else {
            throw ErrorBody(
                code: .badInput,
                message: "--input file '\(path)' has no mappings: produce it with 'daxpool list -M -d DEVICE'"
            )
        }
        let region = document.chardev.flatMap { DeviceID(parsing: $0)?.region }
        return InputLayout(region: region, size: document.size, align: document.align, mappings: mappings)
    }
}
