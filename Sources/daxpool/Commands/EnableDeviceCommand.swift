import ArgumentParser
import DaxPoolAPI
import DaxPoolClient
import DaxPoolCore

/// `daxpool enable-device`.
struct EnableDeviceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enable-device",
        abstract: "Make devices available to VMMs (their paths appear)."
    )

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "Devices (daxR.N or names).")
    var devices: [String]

    func run() throws {
        let client = connection.client()
        try Output.print(try devices.map { try client.setDeviceEnabled($0, true) })
    }
}
