import ArgumentParser
import DaxPoolAPI
import DaxPoolClient
import DaxPoolCore

/// `daxpool resize-region`.
struct ResizeRegionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resize-region",
        abstract: "Grow or shrink a region (administrators).",
        discussion: """
            Every device keeps its memory exactly: growing adds free memory at the end of the region, shrinking \
            gives back only free memory at its end and is refused (409 range_in_use) naming what holds the tail. \
            A hugetlb region adds or gives back exactly those huge pages on its node; the kernel cannot change a \
            mounted hugetlbfs's size, so daxpool mounts it again, which needs a region without devices. devdax \
            regions are the kernel's carve and cannot be resized.
            """
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(name: [.customShort("r"), .long], help: "The region id.")
    var region: Int

    @Argument(help: "The new size, a whole number of the region's pages (k/m/g/t suffixes, or 0x hex).")
    var size: String

    func run() throws {
        let request = ResizeRegionRequest(size: try parseSizeOption(size, option: "SIZE"))
        try Output.print(try connection.client().resizeRegion(region, request))
    }
}
