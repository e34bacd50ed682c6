import ArgumentParser
import DaxPoolAPI
import DaxPoolClient
import DaxPoolCore

/// `daxpool reclaim`.
struct ReclaimCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reclaim",
        abstract: "Take memory lent to the host back: offline, zero, and free it in its region.",
        discussion: """
            Names a lent device, or a region and a size (-r R SIZE: the fewest lent devices holding at least SIZE). \
            The kernel migrates the host's pages out of the memory blocks; when that does not finish within \
            --time-limit, the device stays fully lent and the error says how far it came. 'daxpool progress' shows \
            a running reclaim (kind reclaim). Root only.
            """
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(name: [.customShort("r"), .long], help: "The region whose lent memory to take back (with SIZE).")
    var region: Int?

    @Option(
        name: .customLong("time-limit"),
        help: ArgumentHelp("Seconds the offline may take (default 60; fractions allowed).", valueName: "SECONDS"))
    var timeLimit: Double?

    @Argument(help: "A lent device (daxR.N or name), or with -r, the bytes to take back.")
    var target: String

    func validate() throws {
        if let timeLimit, !(timeLimit > 0 && timeLimit <= 86400) {
            throw ValidationError("--time-limit must be more than 0 and at most 86400 seconds")
        }
    }

    func run() throws {
        let client = connection.client()
        let milliseconds = timeLimit.map { UInt64(($0 * 1000).rounded(.up)) }
        let request: ReclaimRequest
        if let region {
            request = ReclaimRequest(
                region: region, size: try parseSizeOption(target, option: "SIZE"), timeLimitMilliseconds: milliseconds)
        } else {
            request = ReclaimRequest(
                device: try parseDeviceOption(target, option: "DEVICE"), timeLimitMilliseconds: milliseconds)
        }
        try Output.print(try client.reclaim(request))
    }
}
