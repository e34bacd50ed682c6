import DaxPoolAPI
import DaxPoolCore
import DaxPoolLinux
import DaxPoolServer
import Foundation
import Logging
import SystemPackage
import Testing

/// `list -R` beside the kernel: each region's `align` is what `daxctl list -R` prints (the kernel's value for
/// devdax, the page size for shm and hugetlb), and daxpool's own regions never take a kernel region's id.
@Suite(
    "regions beside the kernel's: align as daxctl prints it, ids the kernel's regions keep", .timeLimit(.minutes(20)))
struct KernelRegionListingTests {
    static let gib: UInt64 = 1 << 30

    /// A pool service with the shm, sim and devdax backends, devdax on `sysfs`, its state and shm regions under
    /// `root`.
    static func service(root: String, sysfs: any SysfsAccess, defaultRegionSize: ByteCount? = nil) async throws
        -> PoolService
    {
        try await PoolService(
            backends: [
                ShmBackend(scrubThreads: 1), SimBackend(),
                DevDaxBackend(sysfs: sysfs, scrubsReleasedMemory: false, scrubThreads: 1),
            ],
            store: JSONFileStateStore(directory: "\(root)/state"),
            settings: PoolSettings(defaultRegionSize: defaultRegionSize, shmRoot: root, hugetlbRoot: root),
            logger: Logger(label: "test")
        )
    }

    @Test("an adopted hmem region lists the kernel's align (2 MiB), not the 1 GiB its devices may use")
    func devdaxAlignIsTheKernels() async throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let fake = SysfsDaxBusFake()
        fake.addDynamicRegion(id: 0, start: 0x1_4000_0000, size: Self.gib)
        let service = try await Self.service(root: root, sysfs: fake)
        let region = try await service.createRegion(CreateRegionRequest(backend: .devdax, daxRegion: 0))
        #expect(region.align == 2 << 20)
        #expect(try await service.region(0).align == 2 << 20)
        // Devices of the region may still be 1G-aligned: the allowed alignment is the region's config, not `align`.
        let device = try await service.createDevice(
            CreateDeviceRequest(region: 0, size: ByteCount.gibibytes(1), align: .page1G))
        #expect(device.align == Self.gib)
    }

    @Test("a pmem namespace's static region lists the namespace's alignment")
    func staticDevdaxAlign() async throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let fake = SysfsDaxBusFake()
        fake.addStaticRegion(id: 1, start: 0x1_0000_0000, size: 4 * Self.gib, align: Self.gib)
        let service = try await Self.service(root: root, sysfs: fake)
        _ = try await service.createRegion(CreateRegionRequest(backend: .devdax, daxRegion: 1))
        #expect(try await service.region(1).align == Self.gib)
    }

    @Test("an shm region of 4K pages lists align 4096, and one of 2M pages 2 MiB")
    func shmAlignIsThePageSize() async throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let service = try await Self.service(root: root, sysfs: SysfsDaxBusFake())
        let small = try await service.createRegion(CreateRegionRequest(backend: .shm, size: ByteCount.mebibytes(64)))
        #expect(small.align == 4096)
        let large = try await service.createRegion(
            CreateRegionRequest(backend: .shm, size: ByteCount.mebibytes(64), pageSize: .page2M))
        #expect(large.align == 2 << 20)
        #expect(await service.regions().map(\.align) == [4096, 2 << 20])
    }

    @Test("a hugetlb region lists its huge page size: 2 MiB or 1 GiB")
    func hugetlbAlignIsThePageSize() {
        let backend = HugetlbBackend(scrubThreads: 1)
        for pageSize in [Alignment.page2M, .page1G] {
            let config = RegionConfig(
                id: 0, backend: .hugetlb, size: ByteCount(4 * Self.gib), align: .page1G, pageSize: pageSize,
                targetNode: 0, path: "/run/daxpool/hugetlb/region0")
            #expect(backend.reportedAlign(of: config) == pageSize.rawValue)
        }
    }

    @Test("with kernel dax region 0 present, no default shm region is made and a new shm region takes id 1")
    func noDefaultRegionBesideKernelRegions() async throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let fake = SysfsDaxBusFake()
        fake.addDynamicRegion(id: 0, start: 0x1_4000_0000, size: Self.gib)
        let service = try await Self.service(root: root, sysfs: fake, defaultRegionSize: .mebibytes(64))
        #expect(await service.regions().isEmpty, "no default region beside the kernel's")
        let shm = try await service.createRegion(CreateRegionRequest(backend: .shm, size: ByteCount.mebibytes(64)))
        #expect(shm.id == 1, "region 0 stays the kernel's")
        let adopted = try await service.createRegion(CreateRegionRequest(backend: .devdax, daxRegion: 0))
        #expect(adopted.id == 0)
    }

    @Test("without kernel regions the default shm region is made as region 0")
    func defaultRegionWithoutKernelRegions() async throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let service = try await Self.service(
            root: root, sysfs: SysfsDaxBusFake(), defaultRegionSize: .mebibytes(64))
        let regions = await service.regions()
        #expect(regions.map(\.id) == [0])
        #expect(regions.first?.backend == .shm)
    }

    @Test("an nd region (a pmem namespace not yet in devdax mode) keeps its id from daxpool's own regions")
    func ndRegionIDsAreKept() async throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let sysfs = "\(root)/sys"
        try FileManager.default.createDirectory(
            atPath: "\(sysfs)/bus/nd/devices/region0", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(
            atPath: "\(sysfs)/bus/nd/devices/namespace0.0", withIntermediateDirectories: true)
        let backend = DevDaxBackend(sysfs: Sysfs(root: FilePath(sysfs)), scrubsReleasedMemory: false)
        #expect(backend.systemRegionIDs() == [0])
        let service = try await Self.service(
            root: root, sysfs: Sysfs(root: FilePath(sysfs)), defaultRegionSize: .mebibytes(64))
        #expect(await service.regions().isEmpty)
        let sim = try await service.createRegion(CreateRegionRequest(backend: .sim, size: ByteCount.mebibytes(64)))
        #expect(sim.id == 1)
    }
}
