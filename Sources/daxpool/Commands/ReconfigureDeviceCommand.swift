import ArgumentParser
import DaxPoolAPI
import DaxPoolClient
import DaxPoolCore

/// `daxpool reconfigure-device`.
struct ReconfigureDeviceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reconfigure-device",
        abstract: "Resize or realign a disabled device (as daxctl reconfigure-device)."
    )

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "The device (daxR.N or its name).")
    var device: String

    @Option(name: [.customShort("s"), .long], help: "New size.")
    var size: String?

    @Option(name: [.customShort("a"), .long], help: "New alignment: 4K, 2M or 1G.")
    var align: String?

    @Flag(
        name: [.customShort("f"), .long],
        help: "Reconfigure even if the device is enabled, or shrink it although it is leased.")
    var force = false

    func validate() throws {
        if size == nil && align == nil { throw ValidationError("give -s SIZE and/or -a ALIGN") }
    }

    func run() throws {
        var request = ReconfigureDeviceRequest(force: force ? true : nil)
        if let size { request.size = try parseSizeOption(size, option: "--size") }
        if let align { request.align = try parseAlignmentOption(align, option: "--align") }
        try Output.print([try connection.client().reconfigureDevice(device, request)])
    }
}
