import DaxPoolAPI
import DaxPoolCore
import DaxPoolLinux
import DaxPoolServer
import DaxPoolSystem
import Foundation
import Glibc
import Logging
import SystemPackage
import Testing

/// Caller mistakes on the real backends are refused as such (`BackendRefusal`, which the API answers with a 4xx),
/// naming what to change, not as backend failures (500): a dax region or nd namespace
/// the kernel does not have, a NUMA node that does not exist, a huge page size the kernel does not offer. Each is
/// refused before anything is made.
@Suite("caller mistakes on the real backends", .timeLimit(.minutes(20)), .serialized)
struct CallerMistakeBackendTests {
    static let needsRoot: Comment = "needs root: the hugetlb backend refuses to run without it"

    // MARK: - devdax

    @Test(
        "create-region for a dax region the kernel does not have is refused as no_such_dax_region listing the regions")
    func unknownDaxRegion() async throws {
        let bus = SysfsDaxBusFake()
        bus.addDynamicRegion(id: 0, start: 0x1_4000_0000, size: 1 << 30)
        bus.addDynamicRegion(id: 2, start: 0x2_4000_0000, size: 1 << 30)
        try await Self.withService(backend: DevDaxBackend(sysfs: bus, scrubsReleasedMemory: false)) { service in
            let refusal = try await Self.refusal(service, CreateRegionRequest(backend: .devdax, daxRegion: 5))
            #expect(refusal.reason == .noSuchDaxRegion)
            #expect(refusal.message.contains("no dax region 5"))
            #expect(refusal.message.contains("dax regions: 0, 2"), "\(refusal)")
            #expect(refusal.message.contains("--dax-region"))
        }
        #expect(bus.stores.isEmpty, "nothing was written to the dax bus")
    }

    @Test("create-region --backend devdax on a host without dax regions is refused saying how to get one")
    func noDaxRegions() async throws {
        let backend = DevDaxBackend(sysfs: SysfsDaxBusFake(), scrubsReleasedMemory: false)
        try await Self.withService(backend: backend) { service in
            let refusal = try await Self.refusal(service, CreateRegionRequest(backend: .devdax))
            #expect(refusal.reason == .noSuchDaxRegion)
            #expect(refusal.message.contains("no dax regions at all"), "\(refusal)")
            #expect(refusal.message.contains("dax_hmem"))
        }
    }

    @Test("create-region from an nd namespace the kernel does not have is refused as no_such_namespace")
    func unknownNamespace() async throws {
        let bus = SysfsDaxBusFake()
        try await Self.withService(backend: DevDaxBackend(sysfs: bus, scrubsReleasedMemory: false)) { service in
            let refusal = try await Self.refusal(
                service,
                CreateRegionRequest(backend: .devdax, path: "/sys/bus/nd/devices/namespace7.0", daxRegion: 0))
            #expect(refusal.reason == .noSuchNamespace)
            #expect(refusal.message.contains("no namespace7.0"), "\(refusal)")
        }
        #expect(bus.stores.isEmpty, "nothing was written to sysfs")
    }

    // MARK: - hugetlb

    @Test(
        "a hugetlb region on a NUMA node far beyond the host's is refused before anything is made, naming the nodes",
        .enabled(if: geteuid() == 0, needsRoot)
    )
    func unknownNode() throws {
        try HugetlbTestSupport.withPool { root in
            let request = RegionConfig(
                id: 0, backend: .hugetlb, size: .mebibytes(4), align: .page1G, pageSize: .page2M, targetNode: 4000,
                path: "\(root)/mount/region0")
            let before = HugetlbTestSupport.count(.page2M)
            let refusal = try #require(throws: BackendRefusal.self) { try HugetlbBackend().createRegion(request) }
            #expect(refusal.reason == .invalidRequest)
            #expect(refusal.message.contains("NUMA node 4000 does not exist"))
            let online = try NUMANodes.online()
            #expect(refusal.message.contains("online nodes: \(online.map(String.init).joined(separator: ", "))"))
            #expect(!Scratch.exists("\(root)/mount"), "no mount point was made")
            #expect(HugetlbTestSupport.count(.page2M) == before, "no page was reserved")
        }
    }

    @Test(
        "create-region --backend hugetlb --node N for a node that does not exist is refused as the caller's mistake",
        .enabled(if: geteuid() == 0, needsRoot)
    )
    func unknownNodeOverTheAPI() async throws {
        let root = try Scratch.makeDirectory(under: "/tmp")
        defer { Scratch.remove(root) }
        // Refused before any page is reserved, so the host's pool lock (`HugetlbTestSupport.withPool`) is not needed.
        try await Self.withService(backend: HugetlbBackend()) { service in
            let refusal = try await Self.refusal(
                service,
                CreateRegionRequest(
                    backend: .hugetlb, size: ByteCount.mebibytes(4), path: "\(root)/region0", node: 4000))
            #expect(refusal.reason == .invalidRequest)
            #expect(refusal.message.contains("NUMA node 4000 does not exist"), "\(refusal)")
            #expect(refusal.message.contains("--node"))
        }
        #expect(!Scratch.exists("\(root)/region0"))
    }

    @Test(
        "a huge page size the kernel does not offer on the node is refused naming the sizes it offers",
        .enabled(if: geteuid() == 0, needsRoot)
    )
    func unofferedPageSize() throws {
        // A sysfs node tree with nodes 0 and 1, and only 2M pages on node 1.
        let sysfs = try Scratch.makeDirectory(under: "/tmp")
        defer { Scratch.remove(sysfs) }
        try FileManager.default.createDirectory(
            atPath: "\(sysfs)/node1/hugepages/hugepages-2048kB", withIntermediateDirectories: true)
        Scratch.makeFile("\(sysfs)/online")
        Scratch.write(Array("0-1\n".utf8), to: "\(sysfs)/online")
        Scratch.makeFile("\(sysfs)/node1/hugepages/hugepages-2048kB/nr_hugepages")
        Scratch.write(Array("0\n".utf8), to: "\(sysfs)/node1/hugepages/hugepages-2048kB/nr_hugepages")
        let backend = HugetlbBackend(pages: HugetlbSysfsPageCounter(root: sysfs))
        let request = RegionConfig(
            id: 0, backend: .hugetlb, size: .gibibytes(1), align: .page1G, pageSize: .page1G, targetNode: 1,
            path: "\(sysfs)/mount/region0")

        let refusal = try #require(throws: BackendRefusal.self) { try backend.createRegion(request) }
        #expect(refusal.reason == .invalidRequest)
        #expect(refusal.message.contains("no 1G huge pages on NUMA node 1 (it offers 2M)"), "\(refusal)")
        #expect(refusal.message.contains("--page-size 2M"))
        #expect(!Scratch.exists("\(sysfs)/mount"))
        #expect(Scratch.read(16, from: "\(sysfs)/node1/hugepages/hugepages-2048kB/nr_hugepages") == Array("0\n".utf8))
    }

    // MARK: - Helpers

    /// Runs `body` with a pool service on `backend` whose state is in a scratch directory.
    static func withService(backend: any MemoryBackend, _ body: (PoolService) async throws -> Void) async throws {
        let state = try Scratch.makeDirectory(under: "/tmp")
        defer { Scratch.remove(state) }
        let service = try await PoolService(
            backends: [backend],
            store: JSONFileStateStore(directory: "\(state)/state"),
            settings: PoolSettings(defaultRegionSize: nil, shmRoot: "/tmp", hugetlbRoot: "/tmp"),
            logger: Logger(label: "test")
        )
        try await body(service)
        #expect(await service.snapshot.regions.isEmpty, "no region was made")
    }

    /// The refusal `service` answers `request` with (the router turns it into the 4xx: see `CallerMistakeTests`).
    static func refusal(_ service: PoolService, _ request: CreateRegionRequest) async throws -> BackendRefusal {
        do {
            let region = try await service.createRegion(request)
            Issue.record("\(request) was not refused: made \(region)")
        } catch let refusal as BackendRefusal {
            return refusal
        } catch {
            Issue.record("\(request) was refused with \(type(of: error)), not a BackendRefusal: \(error)")
        }
        throw CancellationError()
    }
}
