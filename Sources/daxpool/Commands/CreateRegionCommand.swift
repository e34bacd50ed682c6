import ArgumentParser
import DaxPoolAPI
import DaxPoolClient
import DaxPoolCore

/// `daxpool create-region`.
struct CreateRegionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create-region",
        abstract: "Carve a new region of memory from a backend."
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(name: .long, help: "shm, hugetlb, devdax or sim.")
    var backend: BackendKind

    @Option(name: [.customShort("s"), .long], help: "Region size (k/m/g/t suffixes, or 0x hex).")
    var size: String?

    @Option(name: .long, help: "Backing directory (shm) or mount point (hugetlb).")
    var path: String?

    @Option(name: .customLong("page-size"), help: "4K, 2M or 1G (hugetlb).")
    var pageSize: String?

    @Option(name: .long, help: "NUMA node to place the memory on.")
    var node: Int?

    @Option(name: .customLong("dax-region"), help: "devdax: the kernel dax region id to adopt.")
    var daxRegion: Int?

    func validate() throws {
        if size == nil && backend != .devdax { throw ValidationError("--size is required for a \(backend) region") }
        if daxRegion != nil && backend != .devdax { throw ValidationError("--dax-region is only for --backend devdax") }
    }

    func run() throws {
        let bytes = try size.map { try parseSizeOption($0, option: "--size") }
        let request = CreateRegionRequest(
            backend: backend,
            size: bytes.map { SizeValue(bytes: $0.rawValue) },
            path: path,
            pageSize: pageSize,
            node: node,
            daxRegion: daxRegion
        )
        try Output.print(try connection.client().createRegion(request))
    }
}

extension BackendKind: ExpressibleByArgument {}

/// `daxpool destroy-region`.
struct DestroyRegionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "destroy-region",
        abstract: "Remove an empty region and give its memory back."
    )

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "The region id.")
    var region: Int

    func run() throws {
        try connection.client().destroyRegion(region)
        try Output.print(["destroyed": region])
    }
}
