import DaxPoolCore
import DaxPoolLinux
import Foundation
import SystemPackage
import Testing

/// The devdax backend against the in-memory dax bus fake: the stores it makes, in order, and what it refuses.
@Suite("devdax backend on the dax bus fake", .timeLimit(.minutes(20)))
struct DevDaxBackendTests {
    static let mib: UInt64 = 1 << 20
    static let gib: UInt64 = 1 << 30
    static let base: UInt64 = 0x1_4000_0000

    let fake = SysfsDaxBusFake()
    let backend: DevDaxBackend

    init() {
        fake.addDynamicRegion(id: 0, start: Self.base, size: Self.gib)
        backend = DevDaxBackend(sysfs: fake, scrubsReleasedMemory: false)
    }

    func adopt(id: Int = 0) throws -> RegionConfig {
        try backend.createRegion(
            RegionConfig(id: id, backend: .devdax, size: .zero, align: .page1G, pageSize: .page4K, path: "/sys/bus/dax")
        )
    }

    static func extent(_ startMiB: UInt64, _ lengthMiB: UInt64) -> Extent {
        Extent(start: RegionOffset(startMiB * mib), length: ByteCount(lengthMiB * mib))
    }

    static func size(_ extents: [Extent]) -> ByteCount { ByteCount(extents.reduce(0) { $0 + $1.length.rawValue }) }

    /// claim + provision, as PoolService.createDevice does.
    func create(_ extents: [Extent], align: Alignment = .page2M, in config: RegionConfig) throws -> DaxPoolCore.DeviceID
    {
        let instance = try backend.claimDeviceInstance(in: config, proposed: 99)
        let id = DaxPoolCore.DeviceID(region: config.id, instance: instance)
        try backend.provisionDevice(id, size: Self.size(extents), extents: extents, align: align, in: config)
        return id
    }

    func record(_ id: DaxPoolCore.DeviceID, align: Alignment = .page2M, state: DeviceState = .enabled) -> DeviceRecord {
        DeviceRecord(
            id: id, uuid: LabelUUID(high: 1, low: UInt64(id.instance)), name: nil, align: align, state: state)
    }

    // MARK: - Regions

    @Test("adopting an idle hmem region takes the kernel's size, node and start; 2M pages, 1G devices allowed")
    func adoptIdleRegion() throws {
        let config = try adopt()
        #expect(config.id == 0 && config.backend == .devdax)
        #expect(config.size == ByteCount(Self.gib))
        #expect(config.pageSize == .page2M && config.align == .page1G)
        #expect(config.targetNode == 0)
        #expect(config.path == "/fake-sys/devices/platform/hmem.0")
        #expect(config.base == Self.base)
        #expect(fake.stores.isEmpty, "adoption only reads")
    }

    @Test("adopting a region whose devices hold memory is refused with the daxctl commands that free it")
    func adoptBusyRegion() throws {
        let busy = SysfsDaxBusFake()
        busy.addDynamicRegion(id: 0, start: Self.base, size: Self.gib, idle: false)
        let error = try #require(
            throws: BackendError.self,
            performing: {
                try DevDaxBackend(sysfs: busy, scrubsReleasedMemory: false).createRegion(
                    RegionConfig(id: 0, backend: .devdax, size: .zero, align: .page1G, pageSize: .page4K, path: "/"))
            })
        #expect(error.errno.rawValue == Errno.resourceBusy.rawValue)
        #expect(error.message.contains("daxctl disable-device dax0.0 && daxctl reconfigure-device -s 0 dax0.0"))
    }

    @Test("an unknown region or a wrong size is refused and says what exists")
    func adoptUnknown() throws {
        let unknown = try #require(throws: BackendRefusal.self, performing: { try self.adopt(id: 3) })
        #expect(unknown.reason == .noSuchDaxRegion)
        #expect(unknown.message.contains("no dax region 3") && unknown.message.contains("regions: 0"))
        let wrongSize = try #require(
            throws: BackendError.self,
            performing: {
                try backend.createRegion(
                    RegionConfig(
                        id: 0, backend: .devdax, size: .mebibytes(512), align: .page1G, pageSize: .page4K, path: "/"))
            })
        #expect(wrongSize.errno.rawValue == Errno.invalidArgument.rawValue && wrongSize.message.contains("1073741824"))
    }

    @Test("a static pmem region is adopted whole at its alignment; a partial device is refused")
    func staticRegion() throws {
        let pmem = SysfsDaxBusFake()
        pmem.addStaticRegion(id: 1, start: 0x1_0420_0000, size: 4_225_761_280, align: 2 * Self.mib)
        let backend = DevDaxBackend(sysfs: pmem, scrubsReleasedMemory: false)
        let config = try backend.createRegion(
            RegionConfig(id: 1, backend: .devdax, size: .zero, align: .page1G, pageSize: .page4K, path: "/"))
        #expect(config.pageSize == .page2M && config.align == .page2M && config.base == 0x1_0420_0000)
        #expect(try backend.claimDeviceInstance(in: config, proposed: 5) == 0)
        let device = DaxPoolCore.DeviceID(region: 1, instance: 0)
        let part = [Self.extent(0, 512)]
        let error = try #require(
            throws: BackendError.self,
            performing: {
                try backend.provisionDevice(device, size: Self.size(part), extents: part, align: .page2M, in: config)
            })
        #expect(error.errno.rawValue == Errno.invalidArgument.rawValue && error.message.contains("static"))
        let whole = [Extent(start: .zero, length: config.size)]
        try backend.provisionDevice(device, size: config.size, extents: whole, align: .page2M, in: config)
        try backend.destroyDevice(device, in: config)
        #expect(pmem.driver("dax1.0") == nil, "destroying a static device only disables it")
        try backend.provisionDevice(device, size: config.size, extents: whole, align: .page2M, in: config)
        #expect(pmem.driver("dax1.0") == "device_dax")
        #expect(pmem.stores == ["unbind=dax1.0", "bind=dax1.0"])
    }

    // MARK: - Devices

    @Test("create follows daxctl: create, take the seed, write each range to mapping, bind")
    func createSequence() throws {
        let config = try adopt()
        let extents = [Self.extent(512, 256), Self.extent(0, 256)]
        let id = try create(extents, in: config)
        #expect(id == DaxPoolCore.DeviceID(region: 0, instance: 1))
        #expect(
            fake.stores == [
                "dax_region/create=1",
                "dax0.1/mapping=0x160000000-0x16fffffff",
                "dax0.1/mapping=0x140000000-0x14fffffff",
                "bind=dax0.1",
            ])
        #expect(fake.ranges("dax0.1").map(\.2) == [0, 0x10000])
        #expect(fake.driver("dax0.1") == "device_dax")
        #expect(backend.devicePath(id, in: config) == "/dev/dax0.1")
    }

    @Test("an idle seed is reused instead of creating another device")
    func seedReuse() throws {
        let config = try adopt()
        #expect(try backend.claimDeviceInstance(in: config, proposed: 0) == 1)
        #expect(try backend.claimDeviceInstance(in: config, proposed: 0) == 1)
        #expect(fake.stores == ["dax_region/create=1"])
    }

    @Test("a 1G device gets align before its mapping")
    func hugeDevice() throws {
        let config = try adopt()
        _ = try create([Self.extent(0, 1024)], align: .page1G, in: config)
        #expect(
            fake.stores == [
                "dax_region/create=1", "dax0.1/align=0x40000000", "dax0.1/mapping=0x140000000-0x17fffffff",
                "bind=dax0.1",
            ])
        #expect(fake.align("dax0.1") == Self.gib)
    }

    @Test("resizing a disabled device writes only the change and leaves it disabled")
    func resizeDisabled() throws {
        let config = try adopt()
        let id = try create([Self.extent(0, 256)], in: config)
        try backend.setDeviceEnabled(id, enabled: false, in: config)
        fake.clearStores()
        let grown = [Self.extent(0, 256), Self.extent(512, 256)]
        try backend.provisionDevice(id, size: Self.size(grown), extents: grown, align: .page2M, in: config)
        #expect(fake.stores == ["dax0.1/mapping=0x160000000-0x16fffffff"])
        #expect(fake.driver("dax0.1") == nil)
        fake.clearStores()
        try backend.provisionDevice(
            id, size: .mebibytes(128), extents: [Self.extent(0, 128)], align: .page2M, in: config)
        #expect(fake.stores == ["dax0.1/size=0x8000000"])
    }

    @Test("resizing an enabled device (forced) unbinds it first and binds it again")
    func resizeEnabled() throws {
        let config = try adopt()
        let id = try create([Self.extent(0, 256)], in: config)
        fake.clearStores()
        let grown = [Self.extent(0, 512)]
        try backend.provisionDevice(id, size: Self.size(grown), extents: grown, align: .page2M, in: config)
        #expect(
            fake.stores == [
                "unbind=dax0.1", "dax0.1/size=0", "dax0.1/mapping=0x140000000-0x15fffffff", "bind=dax0.1",
            ])
        #expect(fake.ranges("dax0.1").count == 1, "an in-place extension stays one mapping, as the kernel's")
    }

    @Test("a failed store is undone: a new device is left empty and unbound")
    func rollback() throws {
        let config = try adopt()
        let instance = try backend.claimDeviceInstance(in: config, proposed: 0)
        let id = DaxPoolCore.DeviceID(region: 0, instance: instance)
        fake.failNext("mapping", .noMemory)
        let extents = [Self.extent(0, 256), Self.extent(512, 256)]
        let error = try #require(
            throws: BackendError.self,
            performing: {
                try backend.provisionDevice(id, size: Self.size(extents), extents: extents, align: .page2M, in: config)
            })
        #expect(error.errno.rawValue == Errno.noMemory.rawValue)
        #expect(error.message.contains("held by another device"))
        #expect(fake.ranges("dax0.1").isEmpty && fake.driver("dax0.1") == nil)
    }

    @Test("a range the kernel gave to a device daxpool does not know is refused before any store")
    func foreignOverlap() throws {
        let config = try adopt()
        fake.forceRange("dax0.5", start: Self.base + 0x1000_0000, end: Self.base + 0x11ff_ffff, bound: true)
        let instance = try backend.claimDeviceInstance(in: config, proposed: 0)
        fake.clearStores()
        let error = try #require(
            throws: BackendError.self,
            performing: {
                try backend.provisionDevice(
                    DaxPoolCore.DeviceID(region: 0, instance: instance), size: .mebibytes(512),
                    extents: [Self.extent(0, 512)], align: .page2M, in: config)
            })
        #expect(error.errno.rawValue == Errno.resourceBusy.rawValue && error.message.contains("held by dax0.5"))
        #expect(fake.stores.isEmpty)
    }

    @Test("when the kernel holds something else than asked, provisioning fails instead of reporting it")
    func readBack() throws {
        let config = try adopt()
        fake.skewNextMapping(by: 512 * Self.mib)
        let error = try #require(
            throws: BackendError.self, performing: { try self.create([Self.extent(0, 256)], in: config) })
        #expect(error.errno.rawValue == Errno.ioError.rawValue)
        #expect(error.message.contains("0x160000000-0x16fffffff@0") && error.message.contains("asked for"))
        #expect(fake.ranges("dax0.1").isEmpty && fake.driver("dax0.1") == nil, "undone")
    }

    @Test("layouts that break the kernel's alignment rules are refused before any store")
    func alignmentRules() throws {
        let config = try adopt()
        let instance = try backend.claimDeviceInstance(in: config, proposed: 0)
        fake.clearStores()
        let odd = [Extent(start: RegionOffset(4096), length: .mebibytes(2))]
        let error = try #require(
            throws: BackendError.self,
            performing: {
                try backend.provisionDevice(
                    DaxPoolCore.DeviceID(region: 0, instance: instance), size: .mebibytes(2), extents: odd,
                    align: .page4K, in: config)
            })
        #expect(error.errno.rawValue == Errno.invalidArgument.rawValue && error.message.contains("max(align, 2 MiB)"))
        #expect(fake.stores.isEmpty)
    }

    @Test("destroy disables, empties and deletes; dax0.0 is only emptied")
    func destroy() throws {
        let config = try adopt()
        let id = try create([Self.extent(0, 256)], in: config)
        fake.clearStores()
        try backend.destroyDevice(id, in: config)
        #expect(fake.stores == ["unbind=dax0.1", "dax0.1/size=0", "dax_region/delete=dax0.1"])
        #expect(fake.deviceNames(region: 0) == ["dax0.0"])
        try backend.destroyDevice(id, in: config)  // already gone: fine

        fake.forceRange("dax0.0", start: Self.base, end: Self.base + 0xfff_ffff, bound: true)
        fake.clearStores()
        try backend.destroyDevice(DaxPoolCore.DeviceID(region: 0, instance: 0), in: config)
        #expect(fake.stores == ["unbind=dax0.0", "dax0.0/size=0"])
    }

    @Test("enable and disable bind and unbind device_dax once; a kmem device is refused with the fix")
    func enableDisable() throws {
        let config = try adopt()
        let id = try create([Self.extent(0, 256)], in: config)
        fake.clearStores()
        try backend.setDeviceEnabled(id, enabled: false, in: config)
        try backend.setDeviceEnabled(id, enabled: false, in: config)
        try backend.setDeviceEnabled(id, enabled: true, in: config)
        #expect(fake.stores == ["unbind=dax0.1", "bind=dax0.1"])
        fake.setDriver("dax0.1", "kmem")
        let error = try #require(
            throws: BackendError.self, performing: { try backend.setDeviceEnabled(id, enabled: false, in: config) })
        #expect(error.errno.rawValue == Errno.resourceBusy.rawValue)
        #expect(error.message.contains("daxctl reconfigure-device -m devdax -f dax0.1"))
    }

    @Test("a full region answers create with ENOSPC and says how much is available")
    func fullRegion() throws {
        let config = try adopt()
        _ = try create([Self.extent(0, 1024)], in: config)
        let error = try #require(
            throws: BackendError.self, performing: { try backend.claimDeviceInstance(in: config, proposed: 0) })
        #expect(error.errno.rawValue == Errno.noSpace.rawValue)
        #expect(error.message.contains("has 0 bytes available"))
    }

    @Test("resizing an enabled device that the kernel reports busy says to disable it")
    func busyMessage() throws {
        let config = try adopt()
        let id = try create([Self.extent(0, 256)], in: config)
        fake.failNext("unbind", .resourceBusy)
        let grown = [Self.extent(0, 256), Self.extent(512, 256)]
        let error = try #require(
            throws: BackendError.self,
            performing: {
                try backend.provisionDevice(id, size: Self.size(grown), extents: grown, align: .page2M, in: config)
            })
        #expect(error.errno.rawValue == Errno.resourceBusy.rawValue)
    }

    // MARK: - Reconcile

    @Test("after a reboot every device is rebuilt exactly, under its own instance, enabled or not as persisted")
    func reconcileAfterReboot() throws {
        let config = try adopt()
        let first = try create([Self.extent(256, 256), Self.extent(0, 128)], in: config)
        let second = try create([Self.extent(128, 128)], in: config)
        let third = try create([Self.extent(1024 - 512, 512)], in: config)
        try backend.destroyDevice(second, in: config)
        try backend.setDeviceEnabled(third, enabled: false, in: config)
        #expect([first, third].map(\.instance) == [1, 3])
        let before = (fake.ranges("dax0.1").map { "\($0)" }, fake.ranges("dax0.3").map { "\($0)" })

        fake.reboot()
        #expect(fake.deviceNames(region: 0) == ["dax0.0"])
        try backend.reconcile(
            config,
            devices: [
                (record(first), [Self.extent(256, 256), Self.extent(0, 128)]),
                (record(third, state: .disabled), [Self.extent(512, 512)]),
            ])
        #expect(fake.deviceNames(region: 0) == ["dax0.0", "dax0.1", "dax0.3"])
        #expect(fake.ranges("dax0.1").map { "\($0)" } == before.0)
        #expect(fake.ranges("dax0.3").map { "\($0)" } == before.1)
        #expect(fake.driver("dax0.1") == "device_dax" && fake.driver("dax0.3") == nil)
        #expect(fake.stores.contains("dax_region/delete=dax0.2"), "the stand-in for dax0.2 is deleted again")
    }

    @Test("after a daemon restart nothing is touched")
    func reconcileNoop() throws {
        let config = try adopt()
        let first = try create([Self.extent(0, 256)], in: config)
        fake.clearStores()
        try backend.reconcile(config, devices: [(record(first), [Self.extent(0, 256)])])
        #expect(fake.stores.isEmpty)
    }

    @Test("a reboot without region_idle gives dax0.0 the whole range; reconcile takes it back and rebuilds")
    func reconcileReclaimsDefaultDevice() throws {
        let config = try adopt()
        let first = try create([Self.extent(0, 256)], in: config)
        fake.reboot(idle: false)
        try backend.reconcile(config, devices: [(record(first), [Self.extent(0, 256)])])
        #expect(fake.ranges("dax0.0").isEmpty && fake.driver("dax0.0") == nil)
        #expect(fake.ranges("dax0.1").map(\.0) == [Self.base] && fake.driver("dax0.1") == "device_dax")
    }

    @Test("a region that moved is not rebuilt: the persisted ranges would land elsewhere")
    func reconcileMovedRegion() throws {
        var config = try adopt()
        config.base = Self.base + Self.gib
        let error = try #require(
            throws: BackendError.self, performing: { try backend.reconcile(config, devices: []) })
        #expect(error.message.contains("now starts at 0x140000000"))
    }
}

/// The pmem namespace conversion writes ndctl's sequence to the nd bus attributes of a captured tree.
@Suite("devdax namespace conversion on a captured nd tree", .timeLimit(.minutes(20)))
struct DevDaxNamespaceTests {
    @Test("a raw namespace is released from nd_pmem and claimed by the dax seed, in ndctl's order")
    func conversionStores() throws {
        var devices = SysfsDiscoveryTests.pmemDevices
        devices["bus/dax/devices/dax0.0"] = nil
        devices["bus/nd/devices/dax0.1"] = nil
        devices["bus/nd/devices/btt0.1"] = nil
        let tree = try SysfsFixtureTree(listings: ["legacy-pmem/legacy-sysfs-region0-initial.txt"], devices: devices)
        defer { tree.remove() }
        for driver in ["nd_pmem", "dax_pmem"] {
            for file in ["bind", "unbind"] { try tree.set("bus/nd/drivers/\(driver)/\(file)", "") }
        }
        let region = "devices/platform/e820_pmem/ndbus0/region0"
        // uuid and namespace are empty, mode "none", align 2097152, holder_class empty, as captured.
        let backend = DevDaxBackend(sysfs: Sysfs(root: FilePath(tree.root)), scrubsReleasedMemory: false)
        let error = try #require(
            throws: BackendError.self,
            performing: { try backend.convertNamespaceToDevDax("namespace0.0", align: .page2M) })
        // A tree does not react like the kernel: no dax region appears, and the backend says so.
        #expect(error.errno.rawValue == Errno.ioError.rawValue && error.message.contains("no static dax region 0"))
        #expect(try tree.contents("bus/nd/drivers/nd_pmem/unbind") == "namespace0.0")
        #expect(try tree.contents("\(region)/namespace0.0/holder_class") == "dax\n")
        #expect(LabelUUID(try tree.contents("\(region)/dax0.0/uuid").trimmingCharacters(in: .newlines)) != nil)
        #expect(try tree.contents("\(region)/dax0.0/mode") == "pmem\n")
        #expect(try tree.contents("\(region)/dax0.0/align") == "2097152\n")
        #expect(try tree.contents("\(region)/dax0.0/namespace") == "namespace0.0\n")
        #expect(try tree.contents("bus/nd/drivers/dax_pmem/bind") == "dax0.0")
        #expect(try tree.contents("bus/nd/drivers/nd_pmem/bind") == "", "not given back: the bind itself worked")
    }

    @Test("an alignment the region does not support is refused before any store")
    func unsupportedAlignment() throws {
        let tree = try SysfsFixtureTree(
            listings: ["legacy-pmem/legacy-sysfs-region0-initial.txt"],
            devices: [
                "bus/nd/devices/region0": "devices/platform/e820_pmem/ndbus0/region0",
                "bus/nd/devices/namespace0.0": "devices/platform/e820_pmem/ndbus0/region0/namespace0.0",
            ])
        defer { tree.remove() }
        try tree.set("devices/platform/e820_pmem/ndbus0/region0/dax0.0/supported_alignments", "4096 2097152\n")
        let backend = DevDaxBackend(sysfs: Sysfs(root: FilePath(tree.root)), scrubsReleasedMemory: false)
        let error = try #require(
            throws: BackendError.self,
            performing: { try backend.convertNamespaceToDevDax("namespace0.0", align: .page1G) })
        #expect(error.errno.rawValue == Errno.invalidArgument.rawValue && error.message.contains("4096"))
    }
}

/// The scrub of released devdax memory, with a file standing in for `/dev/daxR.N` (the fake bus has no memory).
@Suite("devdax scrub of released memory", .timeLimit(.minutes(20)))
struct DevDaxScrubTests {
    @Test("destroy zeroes the device's memory and a shrink zeroes only the tail it gives back, on several threads")
    func scrubsReleasedMemory() throws {
        let fake = SysfsDaxBusFake()
        fake.addDynamicRegion(id: 0, start: DevDaxBackendTests.base, size: DevDaxBackendTests.gib)
        let directory = try Scratch.makeDirectory()
        defer { Scratch.remove(directory) }
        let backend = DevDaxBackend(
            sysfs: fake, deviceDirectory: FilePath(directory), scrubsReleasedMemory: true, scrubThreads: 2)
        let config = try backend.createRegion(
            RegionConfig(id: 0, backend: .devdax, size: .zero, align: .page1G, pageSize: .page4K, path: "/sys/bus/dax"))
        let extents = [DevDaxBackendTests.extent(0, 8)]
        let instance = try backend.claimDeviceInstance(in: config, proposed: 99)
        let id = DaxPoolCore.DeviceID(region: 0, instance: instance)
        try backend.provisionDevice(id, size: .mebibytes(8), extents: extents, align: .page2M, in: config)
        let memory = "\(directory)/\(id)"
        Scratch.makeFile(memory, byteCount: 8 << 20)
        Scratch.write(Array(repeating: 0xA5, count: 8 << 20), to: memory)

        try backend.provisionDevice(
            id, size: .mebibytes(4), extents: [DevDaxBackendTests.extent(0, 4)], align: .page2M, in: config)
        let afterShrink = Scratch.read(8 << 20, from: memory)
        #expect(afterShrink[..<(4 << 20)].allSatisfy { $0 == 0xA5 }, "the device keeps its own data")
        #expect(afterShrink[(4 << 20)...].allSatisfy { $0 == 0 }, "the tail given back is zero")

        try backend.destroyDevice(id, in: config)
        #expect(Scratch.read(8 << 20, from: memory).allSatisfy { $0 == 0 }, "a destroyed device's memory is zero")
    }
}
