import ArgumentParser
import DaxPoolAPI
import DaxPoolClient
import DaxPoolCore

/// `daxpool lend`.
struct LendCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lend",
        abstract: "Lend free memory of a devdax region to the host as System RAM (kmem, onlined movable).",
        discussion: """
            Makes a device of SIZE from whole free memory blocks of the region (/sys/devices/system/memory/\
            block_size_bytes, 128 MiB on x86-64) and gives it to the kernel, as daxctl reconfigure-device \
            --mode=system-ram does; list shows it with mode system-ram. 'daxpool reclaim' takes it back. Root only.
            """
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(name: [.customShort("r"), .long], help: "The devdax region to lend from.")
    var region: Int

    @Option(name: [.customShort("n"), .long], help: "A name for the lent device.")
    var name: String?

    @Argument(help: "Bytes to lend, a whole number of memory blocks (k/m/g/t suffixes, 0x hex).")
    var size: String

    func run() throws {
        let client = connection.client()
        let request = LendRequest(
            region: region, size: try parseSizeOption(size, option: "SIZE"),
            name: try name.map { try parseDeviceNameOption($0, option: "--name") })
        try Output.print(try client.lend(request))
    }
}
