import ArgumentParser
import DaxPoolAPI
import DaxPoolClient
import DaxPoolCore

/// `daxpool progress`: scrub and prefault progress, one JSON object per line.
struct ProgressCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "progress",
        abstract:
            "Print the progress of scrubs, prefaults, pool fills, lends and reclaims as newline-delimited JSON "
            + "(--follow waits for more)."
    )

    @OptionGroup var connection: ConnectionOptions

    @Flag(name: [.customShort("f"), .long], help: "Keep printing progress as it happens.")
    var follow = false

    @Option(name: [.customShort("d"), .long], help: "Only this device (daxR.N, name or uuid).")
    var device: String?

    @Option(name: .long, help: "With --follow: only this operation, and stop when it has ended.")
    var operation: UInt64?

    func validate() throws {
        if operation != nil && !follow { throw ValidationError("--operation needs --follow") }
        if let device, device.isEmpty || device.utf8.count > 255 {
            throw ValidationError("--device must be 1 to 255 bytes")
        }
    }

    func run() throws {
        let client = connection.client()
        if !follow {
            for event in try client.progress(device: device) { print(try Output.line(event)) }
            return
        }
        try client.followProgress(device: device, operation: operation) { event in
            print((try? Output.line(event)) ?? "{}")
            fflushStandardOutput()
            return true
        }
    }
}
