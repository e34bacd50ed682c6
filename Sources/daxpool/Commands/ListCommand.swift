import ArgumentParser
import DaxPoolAPI
import DaxPoolClient
import DaxPoolCore

/// `daxpool list`: the JSON `daxctl list` prints, plus daxpool's own fields.
struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List regions and devices as daxctl list does."
    )

    @OptionGroup var connection: ConnectionOptions

    @Flag(name: [.customShort("R"), .long], help: "Include regions.")
    var regions = false

    @Flag(name: [.customShort("D"), .long], help: "Include devices (the default without -R).")
    var devices = false

    @Flag(name: [.customShort("M"), .long], help: "Include each device's mappings (implies -D).")
    var mappings = false

    @Flag(name: [.customShort("u"), .long], help: "Human-readable sizes and hex addresses.")
    var human = false

    @Option(name: [.customShort("r"), .long], help: "Only this region id ('all' for every region).")
    var region: String?

    @Option(name: [.customShort("d"), .customLong("dev")], help: "Only this device (daxR.N, R.N, a name, or 'all').")
    var device: String?

    func validate() throws {
        if let region, region != "all", Int(region) == nil {
            throw ValidationError("-r takes a region id or 'all', not '\(region)'")
        }
    }

    func run() throws {
        let client = connection.client()
        var regionList = try client.regions()
        if let region, region != "all", let id = Int(region) {
            regionList = regionList.filter { $0.id == id }
            if regionList.isEmpty {
                // Ask for the region itself: the daemon answers 404 `not_found` (or the region, made meanwhile).
                regionList = [try client.region(id)]
            }
        }
        let includeDevices = devices || mappings || !regions
        for index in regionList.indices {
            var selected = regionList[index].devices ?? []
            if let device, device != "all" {
                let id = DeviceID(parsing: device)
                selected = selected.filter { $0.chardev == id?.description || $0.name == device }
            }
            if !mappings {
                for deviceIndex in selected.indices { selected[deviceIndex].mappings = nil }
            }
            regionList[index].devices = selected
        }
        if let device, device != "all", regionList.allSatisfy({ $0.devices?.isEmpty ?? true }) {
            // Lists show a caller only its own devices: ask for the device itself, which answers 403 `forbidden`
            // for someone else's device and 404 for none.
            _ = try client.device(device)
            throw ErrorBody(code: .notFound, message: PoolError.unknownDevice(device).description)
        }
        if regions {
            if !includeDevices {
                for index in regionList.indices { regionList[index].devices = nil }
            } else if device != nil {
                regionList = regionList.filter { !($0.devices?.isEmpty ?? true) }
            }
            try emit(regionList)
        } else {
            try emit(regionList.flatMap { $0.devices ?? [] })
        }
    }

    private func emit<Value: Encodable>(_ value: Value) throws {
        guard human else {
            try Output.print(value)
            return
        }
        try Output.print(HumanJSON.convert(try JSONValue(encoding: value)))
    }
}
