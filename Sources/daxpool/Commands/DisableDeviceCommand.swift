import ArgumentParser
import DaxPoolAPI
import DaxPoolClient
import DaxPoolCore

/// `daxpool disable-device`.
struct DisableDeviceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "disable-device",
        abstract: "Take devices away from VMMs (their paths disappear) so they can be reconfigured."
    )

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "Devices (daxR.N or names).")
    var devices: [String]

    @Flag(name: [.customShort("f"), .long], help: "Disable even a leased device (its holders keep their mappings).")
    var force = false

    func run() throws {
        let client = connection.client()
        try Output.print(try devices.map { try client.setDeviceEnabled($0, false, force: force) })
    }
}
