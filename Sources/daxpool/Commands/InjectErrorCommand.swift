import ArgumentParser
import DaxPoolAPI
import DaxPoolClient
import DaxPoolCore

/// `daxpool inject-error`: report a memory error as the kernel would, through the same path.
struct InjectErrorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inject-error",
        abstract: "Report a memory error at a device or region offset: it is attributed, quarantined and announced."
    )

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "The device (daxR.N or its name); omit it and give -r with --region-offset instead.")
    var device: String?

    @Option(name: .long, help: "Offset inside the device.")
    var offset: String?

    @Option(name: [.customShort("r"), .long], help: "Region id, with --region-offset.")
    var region: Int?

    @Option(name: .customLong("region-offset"), help: "Offset inside the region.")
    var regionOffset: String?

    @Option(name: [.customShort("l"), .long], help: "Length of the bad range.")
    var length: String = "4K"

    @Option(name: .long, help: "Granule to quarantine in: 4K (default), 2M or 1G.")
    var granule: String?

    func validate() throws {
        if device == nil && (region == nil || regionOffset == nil) {
            throw ValidationError("give DEVICE --offset O, or -r REGION --region-offset O")
        }
        if device != nil && (region != nil || regionOffset != nil) {
            throw ValidationError("give either a device or -r with --region-offset, not both")
        }
    }

    func run() throws {
        let request = InjectErrorRequest(
            device: try device.map { try parseDeviceOption($0, option: "DEVICE") },
            offset: try offset.map { try parseSizeOption($0, option: "--offset") },
            region: region,
            regionOffset: try regionOffset.map {
                RegionOffset(try parseSizeOption($0, option: "--region-offset").rawValue)
            },
            length: try parseSizeOption(length, option: "--length"),
            granule: try granule.map { try parseAlignmentOption($0, option: "--granule") }
        )
        try Output.print(try connection.client().injectError(request))
    }
}

/// `daxpool clear-errors`: forget bad blocks after the range was scrubbed and verified.
struct ClearErrorsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clear-errors",
        abstract: "Forget bad blocks in a region range (after it was repaired, scrubbed and verified)."
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(name: [.customShort("r"), .long], help: "Region id.")
    var region: Int

    @Option(name: .customLong("region-offset"), help: "Start of the range.")
    var regionOffset: String

    @Option(name: [.customShort("l"), .long], help: "Length of the range.")
    var length: String

    func run() throws {
        let request = ClearErrorsRequest(
            region: region,
            regionOffset: RegionOffset(try parseSizeOption(regionOffset, option: "--region-offset").rawValue),
            length: try parseSizeOption(length, option: "--length")
        )
        try Output.print(try connection.client().clearErrors(request))
    }
}

/// `daxpool events`: memory-error events, one JSON object per line.
struct EventsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "Print memory-error events as newline-delimited JSON (--follow waits for new ones)."
    )

    @OptionGroup var connection: ConnectionOptions

    @Flag(name: [.customShort("f"), .long], help: "Keep printing events as they happen.")
    var follow = false

    @Option(name: .long, help: "Only events after this sequence number.")
    var since: UInt64 = 0

    @Option(name: .long, help: "With --follow: stop after this many events.")
    var count: Int?

    func run() throws {
        let client = connection.client()
        if !follow {
            for event in try client.events(after: since) { print(try Output.line(event)) }
            return
        }
        var seen = 0
        try client.followEvents(after: since) { event in
            print((try? Output.line(event)) ?? "{}")
            fflushStandardOutput()
            seen += 1
            return count.map { seen < $0 } ?? true
        }
    }
}
