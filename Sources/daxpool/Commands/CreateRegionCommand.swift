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

    @Option(
        name: .long,
        help: ArgumentHelp(
            "shm and hugetlb: ready files to keep zeroed and allocated, such as 2Gx4,8G.",
            discussion: "A device of one of these sizes is ready at once; the files are made in the background."))
    var pool: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "hugetlb: on or off, when HugeTLB Vmemmap Optimization is off.",
            discussion: """
                Without HVO (/proc/sys/vm/hugetlb_optimize_vmemmap) a region pays 64 B of page metadata per 4 KiB, \
                16 GiB per TiB; with it 2 GiB per TiB on 2M pages and 4 MiB on 1G pages. While it is off a hugetlb \
                region is refused (hvo_off, showing both costs) unless you say which: 'on' turns HVO on before the \
                pages are reserved (a system-wide setting: every HugeTLB page the kernel allocates from then on is \
                optimized, and it stays on); 'off' accepts the full cost. Not needed while HVO is on.
                """,
            valueName: "on|off"))
    var hvo: VmemmapOptimizationChoice?

    func validate() throws {
        if size == nil && backend != .devdax { throw ValidationError("--size is required for a \(backend) region") }
        if daxRegion != nil && backend != .devdax { throw ValidationError("--dax-region is only for --backend devdax") }
        if hvo != nil && backend != .hugetlb { throw ValidationError("--hvo is only for --backend hugetlb") }
    }

    func run() throws {
        let request = CreateRegionRequest(
            backend: backend,
            size: try size.map { try parseSizeOption($0, option: "--size") },
            path: path,
            pageSize: try pageSize.map { try parseAlignmentOption($0, option: "--page-size") },
            node: node,
            daxRegion: daxRegion,
            pool: try pool.map { try parsePoolOption($0) },
            hvo: hvo?.rawValue
        )
        try Output.print(try connection.client().createRegion(request))
    }
}

/// The sizes a `--pool` option names.
func parsePoolOption(_ text: String) throws -> [ByteCount] {
    do {
        return try PoolSpec.parse(text)
    } catch {
        throw ErrorBody(code: .badRequest, message: "--pool: \(error.description)")
    }
}

/// `daxpool set-pool`.
struct SetPoolCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set-pool",
        abstract: "Set the ready files a shm or hugetlb region keeps zeroed and allocated.",
        discussion: """
            The files are made in the background ('daxpool progress' shows it) as far as the region's free memory \
            allows. An empty list keeps none; files already ready stay until a device needs their memory.
            """
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(name: [.customShort("r"), .long], help: "The region id.")
    var region: Int

    @Argument(help: "Sizes such as 2Gx4,8G, or \"\" for none.")
    var sizes: String

    func run() throws {
        let request = SetPoolRequest(pool: try parsePoolOption(sizes))
        try Output.print(try connection.client().setPool(region, request))
    }
}

extension BackendKind: ExpressibleByArgument {}

extension VmemmapOptimizationChoice: ExpressibleByArgument {}

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
