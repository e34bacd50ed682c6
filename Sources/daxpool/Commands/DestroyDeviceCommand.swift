import ArgumentParser
import DaxPoolAPI
import DaxPoolClient
import DaxPoolCore

/// `daxpool destroy-device`.
struct DestroyDeviceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "destroy-device",
        abstract: "Destroy devices and free their memory (disabled devices, or any with -f)."
    )

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "Devices (daxR.N or names).")
    var devices: [String]

    @Flag(
        name: [.customShort("f"), .long],
        help: "Destroy even if enabled or leased (a lease is revoked: its holder faults).")
    var force = false

    func validate() throws {
        if devices.isEmpty { throw ValidationError("name at least one device") }
    }

    func run() throws {
        let client = connection.client()
        var destroyed: [String] = []
        for device in devices {
            try client.destroyDevice(device, force: force)
            destroyed.append(device)
        }
        try Output.print(["destroyed": destroyed])
    }
}
