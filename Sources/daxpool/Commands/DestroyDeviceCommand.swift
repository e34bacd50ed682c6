import ArgumentParser
import DaxPoolAPI
import DaxPoolClient
import DaxPoolCore

/// `daxpool destroy-device`.
struct DestroyDeviceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "destroy-device",
        abstract: "Destroy devices and free their memory (disabled devices, or any with -f).",
        discussion: """
            A destroyed device's memory is zeroed in the background before anyone can get it again. Unless \
            --progress none is given, the command waits for that and shows its progress on stderr.
            """
    )

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "Devices (daxR.N or names).")
    var devices: [String]

    @Flag(
        name: [.customShort("f"), .long],
        help: "Destroy even if enabled or leased (a lease is revoked: its holder faults).")
    var force = false

    @OptionGroup var progress: ProgressOptions

    func validate() throws {
        if devices.isEmpty { throw ValidationError("name at least one device") }
    }

    func run() throws {
        let client = connection.client()
        let display = ProgressDisplay(mode: progress.mode)
        var destroyed: [String] = []
        for device in devices {
            // The daemon zeroes the memory in the background; unless told not to, wait for that and show it.
            let before = display.mode == .none ? 0 : try ProgressWatch.newestOperation(client)
            try client.destroyDevice(device, force: force)
            destroyed.append(device)
            if display.mode != .none {
                try ProgressWatch.waitForScrub(of: device, after: before, client: client, display: display)
            }
        }
        try Output.print(["destroyed": destroyed])
    }
}
