import DaxPoolCore
import DaxPoolLinux
import SystemPackage
import Testing

/// The devdax start-up reconcile on the dax bus fake empties no memory that a record does not account for: a kernel
/// layout that differs from the record, or memory held by a device daxpool does not own, is left as the kernel has
/// it and reported as a doubt; only the kernel's boot-time `daxR.0` over the whole region is taken back.
@Suite("devdax reconcile leaves what it cannot account for", .timeLimit(.minutes(20)))
struct DevDaxDoubtTests {
    static let mib: UInt64 = 1 << 20
    static let gib: UInt64 = 1 << 30
    static let base: UInt64 = 0x1_4000_0000

    let fake = SysfsDaxBusFake()
    let backend: DevDaxBackend

    init() {
        fake.addDynamicRegion(id: 0, start: Self.base, size: Self.gib)
        backend = DevDaxBackend(sysfs: fake, scrubsReleasedMemory: false)
    }

    func adopt() throws -> RegionConfig {
        try backend.createRegion(
            RegionConfig(id: 0, backend: .devdax, size: .zero, align: .page1G, pageSize: .page4K, path: "/sys/bus/dax"))
    }

    static func extent(_ startMiB: UInt64, _ lengthMiB: UInt64) -> Extent {
        Extent(start: RegionOffset(startMiB * mib), length: ByteCount(lengthMiB * mib))
    }

    /// claim + provision, as PoolService.createDevice does.
    func create(_ extents: [Extent], in config: RegionConfig) throws -> DaxPoolCore.DeviceID {
        let instance = try backend.claimDeviceInstance(in: config, proposed: 99)
        let id = DaxPoolCore.DeviceID(region: config.id, instance: instance)
        let size = ByteCount(extents.reduce(0) { $0 + $1.length.rawValue })
        try backend.provisionDevice(id, size: size, extents: extents, align: .page2M, in: config)
        return id
    }

    func record(_ id: DaxPoolCore.DeviceID, state: DeviceState = .enabled) -> DeviceRecord {
        DeviceRecord(
            id: id, uuid: LabelUUID(high: 1, low: UInt64(id.instance)), name: nil, align: .page2M, state: state)
    }

    func layout(_ name: String) -> [String] { fake.ranges(name).map { "\($0.0)-\($0.1)@\($0.2)" } }

    @Test("an owned device whose kernel layout differs from its record is left as the kernel has it, a doubt")
    func differingLayoutIsADoubt() throws {
        let config = try adopt()
        let device = try create([Self.extent(0, 256)], in: config)
        let held = layout(device.description)
        fake.clearStores()

        let report = try backend.reconcile(
            config, devices: [(record(device), [Self.extent(256, 256)])], pendingScrubs: [], mode: .normal)

        #expect(layout(device.description) == held, "not emptied, not rebuilt")
        #expect(fake.driver(device.description) == "device_dax", "still bound: the VM keeps its mapping")
        #expect(fake.stores.isEmpty, "\(fake.stores)")
        #expect(report.doubts.count == 1 && report.doubts.first?.contains("dax0.1") == true, "\(report.doubts)")
    }

    @Test("a device daxpool does not own that holds memory is left alone, and an owned device needing it is not made")
    func foreignMemoryIsADoubt() throws {
        let config = try adopt()
        let owned = try create([Self.extent(0, 256)], in: config)
        fake.forceRange("dax0.5", start: Self.base + 512 * Self.mib, end: Self.base + 768 * Self.mib - 1, bound: true)
        let foreign = layout("dax0.5")
        // dax0.2 is missing from the kernel and its record overlaps dax0.5; dax0.3 is missing and free to rebuild.
        let blocked = DaxPoolCore.DeviceID(region: 0, instance: 2)
        let free = DaxPoolCore.DeviceID(region: 0, instance: 3)

        let report = try backend.reconcile(
            config,
            devices: [
                (record(owned), [Self.extent(0, 256)]),
                (record(blocked), [Self.extent(512, 128)]),
                (record(free), [Self.extent(768, 128)]),
            ],
            pendingScrubs: [], mode: .normal)

        #expect(layout("dax0.5") == foreign && fake.driver("dax0.5") == "device_dax", "left as the kernel has it")
        #expect(!fake.stores.contains { $0.hasPrefix("dax0.5/") || $0 == "unbind=dax0.5" }, "\(fake.stores)")
        #expect(!fake.deviceNames(region: 0).contains("dax0.2"), "not rebuilt over memory another device holds")
        #expect(fake.ranges("dax0.3").map(\.0) == [Self.base + 768 * Self.mib], "a free one is rebuilt")
        #expect(report.doubts.count == 2, "\(report.doubts)")
        #expect(report.doubts.contains { $0.contains("dax0.5") } && report.doubts.contains { $0.contains("dax0.2") })
    }

    @Test("after a reboot without region_idle the boot-time daxR.0 over the whole region is emptied and rebuilt from")
    func bootDeviceIsTakenBack() throws {
        let config = try adopt()
        let first = try create([Self.extent(0, 256)], in: config)
        let before = layout("dax0.1")
        fake.reboot(idle: false)

        let report = try backend.reconcile(
            config, devices: [(record(first), [Self.extent(0, 256)])], pendingScrubs: [], mode: .normal)

        #expect(fake.ranges("dax0.0").isEmpty && fake.driver("dax0.0") == nil)
        #expect(layout("dax0.1") == before && fake.driver("dax0.1") == "device_dax")
        #expect(report.doubts.isEmpty, "\(report.doubts)")
    }

    @Test("a daxR.0 that holds only part of the region is not the boot-time device: it is left alone")
    func partialZeroIsADoubt() throws {
        let config = try adopt()
        let first = try create([Self.extent(0, 256)], in: config)
        fake.reboot(idle: true)
        fake.forceRange("dax0.0", start: Self.base + 512 * Self.mib, end: Self.base + 640 * Self.mib - 1, bound: true)
        let zero = layout("dax0.0")

        let report = try backend.reconcile(
            config, devices: [(record(first), [Self.extent(0, 256)])], pendingScrubs: [], mode: .normal)

        #expect(layout("dax0.0") == zero && fake.driver("dax0.0") == "device_dax")
        #expect(fake.ranges("dax0.1").map(\.0) == [Self.base], "the owned device is rebuilt beside it")
        #expect(report.doubts.count == 1 && report.doubts.first?.contains("dax0.0") == true, "\(report.doubts)")
    }

    @Test("in keep mode nothing in the kernel changes, not even the boot-time daxR.0 or a missing device")
    func keepTouchesNothing() throws {
        let config = try adopt()
        let first = try create([Self.extent(0, 256)], in: config)
        let second = try create([Self.extent(256, 256)], in: config)
        fake.reboot(idle: false)
        fake.clearStores()
        let zero = layout("dax0.0")

        let report = try backend.reconcile(
            config,
            devices: [(record(first), [Self.extent(0, 256)]), (record(second), [Self.extent(256, 256)])],
            pendingScrubs: [], mode: .keep)

        #expect(fake.stores.isEmpty, "\(fake.stores)")
        #expect(fake.deviceNames(region: 0) == ["dax0.0"] && layout("dax0.0") == zero)
        #expect(report.notes.count == 2, "both missing devices are reported: \(report.notes)")
    }

    @Test("a static region whose device differs from its record is a doubt, not a failed start")
    func staticMismatchIsADoubt() throws {
        let pmem = SysfsDaxBusFake()
        pmem.addStaticRegion(id: 1, start: 0x1_0420_0000, size: 4_225_761_280, align: 2 * Self.mib)
        let backend = DevDaxBackend(sysfs: pmem, scrubsReleasedMemory: false)
        let config = try backend.createRegion(
            RegionConfig(id: 1, backend: .devdax, size: .zero, align: .page1G, pageSize: .page4K, path: "/"))
        let device = DaxPoolCore.DeviceID(region: 1, instance: 0)

        let report = try backend.reconcile(
            config, devices: [(record(device), [Self.extent(0, 512)])], pendingScrubs: [], mode: .normal)

        #expect(pmem.stores.isEmpty && pmem.driver("dax1.0") == "device_dax")
        #expect(report.doubts.count == 1 && report.doubts.first?.contains("dax1.0") == true, "\(report.doubts)")
    }
}
