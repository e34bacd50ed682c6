import DaxPoolCore
import DaxPoolLinux
import Foundation
import SystemPackage
import Testing

/// Discovery through the real `Sysfs` reader on trees laid out from listings the real kernel produced.
@Suite("sysfs discovery on captured kernel trees", .timeLimit(.minutes(20)))
struct SysfsDiscoveryTests {
    static let hmemDevices = [
        "bus/dax/devices/dax0.0": "devices/platform/hmem.0/dax0.0",
        "bus/dax/devices/dax0.1": "devices/platform/hmem.0/dax0.1",
        "bus/dax/devices/dax0.2": "devices/platform/hmem.0/dax0.2",
    ]

    static let pmemDevices = [
        "bus/nd/devices/region0": "devices/platform/e820_pmem/ndbus0/region0",
        "bus/nd/devices/namespace0.0": "devices/platform/e820_pmem/ndbus0/region0/namespace0.0",
        "bus/nd/devices/dax0.0": "devices/platform/e820_pmem/ndbus0/region0/dax0.0",
        "bus/nd/devices/dax0.1": "devices/platform/e820_pmem/ndbus0/region0/dax0.1",
        "bus/nd/devices/pfn0.0": "devices/platform/e820_pmem/ndbus0/region0/pfn0.0",
        "bus/nd/devices/btt0.1": "devices/platform/e820_pmem/ndbus0/region0/btt0.1",
        "bus/dax/devices/dax0.0": "devices/platform/e820_pmem/ndbus0/region0/dax0.1/dax0.0",
    ]

    @Test("a discontiguous hmem region parses exactly as daxctl lists it")
    func discontiguousHmem() throws {
        let tree = try SysfsFixtureTree(
            listings: ["hmem/hmem-sysfs-dax-devices-discontiguous.txt"], devices: Self.hmemDevices)
        defer { tree.remove() }
        let bus = SysfsDaxBus(Sysfs(root: FilePath(tree.root)))
        let regions = try bus.regions()
        #expect(regions.count == 1)
        let region = try #require(regions.first)
        #expect(region.id == 0)
        #expect(region.path == "devices/platform/hmem.0")
        #expect(region.size == 1 << 30)
        #expect(region.align == 2 << 20)
        #expect(region.availableSize == 0)
        #expect(region.isDynamic)
        #expect(region.seed == nil)
        #expect(region.youngest == "dax0.1")
        #expect(region.targetNode == 0)
        #expect(region.physicalStart == 0x1_4000_0000, "dax0.0 is empty, so its resource is the region start")
        #expect(region.devices.map(\.name) == ["dax0.0", "dax0.1", "dax0.2"])

        let idle = try #require(region.device(named: "dax0.0"))
        #expect(idle.isIdle && !idle.isEnabled && idle.mappings.isEmpty && idle.acceptsMappings)

        let first = try #require(region.device(named: "dax0.1"))
        #expect(first.size == 805_306_368 && first.align == 2 << 20 && first.isEnabled)
        #expect(
            first.mappings == [
                SysfsDaxMapping(index: 0, start: 0x1_4000_0000, end: 0x1_4fff_ffff, pageOffset: 0),
                SysfsDaxMapping(index: 1, start: 0x1_6000_0000, end: 0x1_7fff_ffff, pageOffset: 0x10000),
            ])
        let second = try #require(region.device(named: "dax0.2"))
        #expect(second.mappings.map(\.description) == ["0x150000000-0x15fffffff@0"])
        #expect(second.mappings.map(\.size) == [268_435_456])

        // The same numbers daxctl printed for this state (`daxctl list -RD`).
        let listed = SysfsFixtureTree.fixtures.appendingPathComponent("hmem/hmem-daxctl-list-RD-discontiguous.json")
        let json = try String(contentsOf: listed, encoding: .utf8)
        #expect(json.contains("\"size\":805306368") && json.contains("\"size\":268435456"))
    }

    @Test("the kernel's default hmem device covers the region, which tells where the region starts")
    func initialHmem() throws {
        let tree = try SysfsFixtureTree(
            listings: ["hmem/hmem-sysfs-dax0.0-initial.txt"],
            devices: ["bus/dax/devices/dax0.0": "devices/platform/hmem.0/dax0.0"])
        defer { tree.remove() }
        let region = try #require(try SysfsDaxBus(Sysfs(root: FilePath(tree.root))).region(id: 0))
        let device = try #require(region.device(instance: 0))
        #expect(device.size == 1 << 30 && device.isEnabled && !device.isIdle)
        #expect(device.mappings.map(DevDaxRange.init) == [DevDaxRange(start: 0x1_4000_0000, last: 0x1_7fff_ffff)])
        #expect(region.physicalStart == 0x1_4000_0000)
    }

    @Test("an idle hmem region (dax_hmem.region_idle) has all its memory available and an empty dax0.0")
    func idleHmem() throws {
        let tree = try SysfsFixtureTree(
            listings: ["hmem/hmem-idle-sysfs-dax_region.txt"],
            devices: ["bus/dax/devices/dax0.0": "devices/platform/hmem.0/dax0.0"])
        defer { tree.remove() }
        let region = try #require(try SysfsDaxBus(Sysfs(root: FilePath(tree.root))).region(id: 0))
        #expect(region.availableSize == 1 << 30)
        #expect(region.devices.count == 1 && region.devices[0].isIdle)
        #expect(region.physicalStart == 0x1_4000_0000)
        #expect(try SysfsDaxBus(Sysfs(root: FilePath(tree.root))).region(id: 1) == nil)
    }

    @Test("a pmem devdax namespace gives a static region under its nd claim device")
    func staticPmemRegion() throws {
        let tree = try SysfsFixtureTree(
            listings: [
                "legacy-pmem/legacy-sysfs-region0-tree-devdax-2M.txt", "legacy-pmem/legacy-sysfs-dax0.0-2M.txt",
            ],
            devices: Self.pmemDevices)
        defer { tree.remove() }
        let region = try #require(try SysfsDaxBus(Sysfs(root: FilePath(tree.root))).region(id: 0))
        #expect(!region.isDynamic)
        #expect(region.path == "devices/platform/e820_pmem/ndbus0/region0/dax0.1")
        #expect(region.size == 4_225_761_280 && region.align == 2 << 20)
        #expect(region.parentResource == 0x1_0420_0000)
        #expect(region.physicalStart == 0x1_0420_0000)
        let device = try #require(region.device(named: "dax0.0"))
        #expect(!device.acceptsMappings && device.isEnabled)
        #expect(device.mappings.map(\.description) == ["0x104200000-0x1ffffffff@0"])
    }

    @Test("the nd bus lists the region, its namespace, the claim and the seeds")
    func ndRegion() throws {
        let tree = try SysfsFixtureTree(
            listings: ["legacy-pmem/legacy-sysfs-region0-tree-devdax-2M.txt"], devices: Self.pmemDevices)
        defer { tree.remove() }
        let nd = SysfsNdBus(Sysfs(root: FilePath(tree.root)))
        let regions = try nd.regions()
        #expect(regions.map(\.name) == ["region0"])
        let region = try #require(regions.first)
        #expect(region.id == 0 && region.size == 1 << 32 && region.align == 0x100_0000)
        #expect(region.availableSize == nil && region.maxAvailableExtent == 0)
        #expect(region.badBlocks.isEmpty && region.resource == 0x1_0000_0000)
        #expect(region.namespaceSeed == "namespace0.0" && region.daxSeed == "dax0.0" && region.pfnSeed == "pfn0.0")
        #expect(region.bttSeed == "btt0.1" && region.nstype == 4 && region.devtype == "nd_pmem")
        #expect(region.targetNode == 0 && region.numaNode == 0)
        let namespace = try #require(region.namespace(named: "namespace0.0"))
        #expect(namespace.mode == "dax" && namespace.holder == "dax0.1" && namespace.holderClass == "dax")
        #expect(namespace.size == 1 << 32 && namespace.resource == 0x1_0000_0000 && namespace.driver == nil)
        #expect(namespace.regionID == 0)
        let claim = try #require(region.claim(named: "dax0.1"))
        #expect(claim.mode == "pmem" && claim.align == 2 << 20 && claim.namespace == "namespace0.0")
        #expect(claim.driver == "dax_pmem" && claim.size == 4_225_761_280 && claim.resource == 0x1_0420_0000)
        #expect(claim.supportedAlignments == [4096, 2 << 20, 1 << 30])
        let seed = try #require(region.claim(named: "dax0.0"))
        #expect(seed.mode == "none" && seed.namespace == nil && seed.size == nil && seed.driver == nil)
        #expect(try nd.namespace(named: "namespace0.0")?.region.name == "region0")
    }

    @Test("a raw pmem namespace is bound to nd_pmem and has no holder")
    func rawNamespace() throws {
        var devices = Self.pmemDevices
        devices["bus/dax/devices/dax0.0"] = nil
        devices["bus/nd/devices/dax0.1"] = nil
        devices["bus/nd/devices/btt0.1"] = nil
        devices["bus/nd/devices/btt0.0"] = "devices/platform/e820_pmem/ndbus0/region0/btt0.0"
        let tree = try SysfsFixtureTree(listings: ["legacy-pmem/legacy-sysfs-region0-initial.txt"], devices: devices)
        defer { tree.remove() }
        let region = try #require(try SysfsNdBus(Sysfs(root: FilePath(tree.root))).region(named: "region0"))
        let namespace = try #require(region.namespace(named: "namespace0.0"))
        #expect(namespace.driver == "nd_pmem" && namespace.holder == nil && namespace.mode == "memory")
        #expect(region.size == 1 << 30 && region.daxSeed == "dax0.0")
        #expect(try SysfsDaxBus(Sysfs(root: FilePath(tree.root))).regions().isEmpty)
    }

    @Test("numbers parse in the kernel's decimal and hex formats")
    func parsing() {
        #expect(SysfsAttributes.parseUnsigned("1073741824") == 1 << 30)
        #expect(SysfsAttributes.parseUnsigned("0x140000000\n") == 0x1_4000_0000)
        #expect(SysfsAttributes.parseUnsigned("0x1000000") == 0x100_0000)
        #expect(SysfsAttributes.parseUnsigned("") == nil)
        #expect(SysfsAttributes.parseUnsigned("0x") == nil)
        #expect(SysfsAttributes.parseUnsigned("-1") == nil)
        #expect(SysfsAttributes.hex(0x1_4fff_ffff) == "0x14fffffff")
        #expect(SysfsAttributes.hex(0) == "0")
        #expect(SysfsNdBus.namespaceName(inPath: "/sys/bus/nd/devices/namespace1.0") == "namespace1.0")
        #expect(SysfsNdBus.namespaceName(inPath: "/sys/bus/dax") == nil)
    }
}

/// The stores go to the right attribute, in libdaxctl's format, with one write each; the kernel's errno comes back.
@Suite("sysfs stores on a tree", .timeLimit(.minutes(20)))
struct SysfsStoreTests {
    @Test("each store writes its attribute in libdaxctl's format")
    func storeFormats() throws {
        let tree = try SysfsFixtureTree(
            listings: ["hmem/hmem-idle-sysfs-dax_region.txt"],
            devices: ["bus/dax/devices/dax0.0": "devices/platform/hmem.0/dax0.0"])
        defer { tree.remove() }
        try FileManager.default.createDirectory(
            atPath: "\(tree.root)/bus/dax/drivers/device_dax", withIntermediateDirectories: true)
        Scratch.makeFile("\(tree.root)/bus/dax/drivers/device_dax/bind")
        Scratch.makeFile("\(tree.root)/bus/dax/drivers/device_dax/unbind")
        let bus = SysfsDaxBus(Sysfs(root: FilePath(tree.root)))
        let region = try #require(try bus.region(id: 0))
        let device = try #require(region.device(instance: 0))
        let directory = "devices/platform/hmem.0"

        try bus.createDevice(in: region)
        #expect(try tree.contents("\(directory)/dax_region/create") == "1")
        try tree.set("\(directory)/dax0.0/mapping", "")
        try bus.addMapping(device, start: 0x1_7000_0000, last: 0x1_7fff_ffff)
        #expect(try tree.contents("\(directory)/dax0.0/mapping") == "0x170000000-0x17fffffff\n")
        try tree.set("\(directory)/dax0.0/size", "")
        try bus.setSize(device, 0x1000_0000)
        #expect(try tree.contents("\(directory)/dax0.0/size") == "0x10000000\n")
        try tree.set("\(directory)/dax0.0/align", "")
        try bus.setAlign(device, 1 << 30)
        #expect(try tree.contents("\(directory)/dax0.0/align") == "0x40000000\n")
        try bus.bind("dax0.0")
        #expect(try tree.contents("bus/dax/drivers/device_dax/bind") == "dax0.0")
        try bus.unbind("dax0.0")
        #expect(try tree.contents("bus/dax/drivers/device_dax/unbind") == "dax0.0")
        try tree.set("\(directory)/dax_region/delete", "")
        try bus.deleteDevice("dax0.3", in: region)
        #expect(try tree.contents("\(directory)/dax_region/delete") == "dax0.3")
    }

    @Test("a store never creates a file and reports the errno")
    func storeErrno() throws {
        let tree = try SysfsFixtureTree(
            listings: ["hmem/hmem-idle-sysfs-dax_region.txt"],
            devices: ["bus/dax/devices/dax0.0": "devices/platform/hmem.0/dax0.0"])
        defer { tree.remove() }
        let attributes = SysfsAttributes(Sysfs(root: FilePath(tree.root)))
        #expect(throws: SysfsError.self) { try attributes.write("devices/platform/hmem.0/dax0.0/nonexistent", "1") }
        do throws(SysfsError) {
            try attributes.write("devices/platform/hmem.0/dax0.0/nonexistent", "1")
        } catch {
            #expect(error.errno == .noSuchFileOrDirectory)
            #expect(error.path == "\(tree.root)/devices/platform/hmem.0/dax0.0/nonexistent")
        }
        #expect(!Scratch.exists("\(tree.root)/devices/platform/hmem.0/dax0.0/nonexistent"))
    }
}
