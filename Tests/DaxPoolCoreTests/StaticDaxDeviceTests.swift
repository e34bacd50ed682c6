import DaxPoolCore
import Testing

/// Where a static dax region's layout copy lives (its device's tail) and what a copy found there may claim.
@Suite("StaticDaxDevice", .timeLimit(.minutes(20)))
struct StaticDaxDeviceTests {
    static let mib: UInt64 = 1 << 20
    static let gib: UInt64 = 1 << 30

    static let device = StaticDaxDevice(
        region: 0, instance: 0, base: 4 * gib, regionSize: gib, size: gib, align: 2 * mib,
        ranges: [Extent(start: .zero, length: ByteCount(gib))])

    static func layout() throws -> RegionSnapshot {
        let config = RegionConfig(
            id: 0, backend: .devdax, size: ByteCount(gib), align: .page2M, pageSize: .page2M, path: "/pmem0",
            base: 4 * gib)
        let record = DeviceRecord(
            id: DeviceID(region: 0, instance: 0), uuid: LabelUUID(high: 1, low: 2),
            name: try DeviceName(validating: "pmem-vm"), align: .page2M, state: .enabled, owner: 1000)
        return RegionSnapshot(
            config: config,
            devices: [DeviceSnapshot(record: record, extents: [Extent(start: .zero, length: config.size)])],
            badBlocks: [Extent(start: RegionOffset(8 * mib), length: ByteCount(4096))])
    }

    @Test("the reserved tail is one 2 MiB area rounded up to the device's alignment, and none for a device too small")
    func reservedTail() {
        #expect(StaticDaxDevice.reservedTail(deviceSize: Self.gib, align: 2 * Self.mib) == 2 * Self.mib)
        #expect(StaticDaxDevice.reservedTail(deviceSize: Self.gib, align: 4096) == 2 * Self.mib)
        #expect(StaticDaxDevice.reservedTail(deviceSize: 4 * Self.gib, align: Self.gib) == Self.gib)
        #expect(StaticDaxDevice.reservedTail(deviceSize: 2 * Self.mib, align: 2 * Self.mib) == nil)
        #expect(StaticDaxDevice.reservedTail(deviceSize: Self.gib, align: 3 * Self.mib) == nil)
        #expect(Self.device.usableSize == Self.gib - 2 * Self.mib)
        #expect(Self.device.areaOffset == Self.gib - 2 * Self.mib)
    }

    @Test("the layout of the kernel's device fits; names, uuids and owners are not the kernel's to say")
    func soundLayoutFits() throws {
        #expect(Self.device.problems(try Self.layout()).isEmpty)
        var renamed = try Self.layout()
        renamed.devices[0].record.name = try DeviceName(validating: "other")
        renamed.devices[0].record.owner = 0
        renamed.devices[0].record.uuid = LabelUUID(high: 9, low: 9)
        #expect(Self.device.problems(renamed).isEmpty)
        var empty = try Self.layout()
        empty.devices = []
        #expect(Self.device.problems(empty).isEmpty, "an adopted region without a device")
    }

    @Test("every claim beyond the kernel's one device is named: devices, ranges, geometry, mode, pool, bad blocks")
    func claimsBeyondTheDevice() throws {
        let sound = try Self.layout()
        var cases: [(String, RegionSnapshot)] = []
        var second = sound
        second.devices.append(sound.devices[0])
        second.devices[1].record.id = DeviceID(region: 0, instance: 1)
        cases.append(("2 devices", second))
        var instance = sound
        instance.devices[0].record.id = DeviceID(region: 0, instance: 3)
        cases.append(("device dax0.3", instance))
        var part = sound
        part.devices[0].extents = [Extent(start: .zero, length: ByteCount(512 * Self.mib))]
        cases.append(("where the kernel's device spans", part))
        var larger = sound
        larger.config.size = ByteCount(2 * Self.gib)
        cases.append(("region size", larger))
        var moved = sound
        moved.config.base = 8 * Self.gib
        cases.append(("region base", moved))
        var aligned = sound
        aligned.config.align = .page1G
        cases.append(("region alignment", aligned))
        var shm = sound
        shm.config.backend = .shm
        cases.append(("a shm region", shm))
        var otherID = sound
        otherID.config.id = 3
        cases.append(("region id 3", otherID))
        var lent = sound
        lent.devices[0].record.state = .lent
        cases.append(("lent", lent))
        var pooled = sound
        pooled.config.pool = [.mebibytes(2)]
        cases.append(("a pool", pooled))
        var bad = sound
        bad.badBlocks = [Extent(start: RegionOffset(Self.gib), length: ByteCount(4096))]
        cases.append(("bad blocks outside", bad))
        var scrub = sound
        scrub.pendingScrubs = [
            PendingScrub(
                id: 1, device: DeviceID(region: 0, instance: 0), deviceUUID: LabelUUID(high: 1, low: 1),
                deviceName: nil, extents: [Extent(start: .zero, length: ByteCount(2 * Self.mib))], token: "")
        ]
        cases.append(("pending scrubs beside", scrub))
        var doubted = sound
        doubted.degraded = RegionDoubt(reasons: ["x"])
        cases.append(("in doubt", doubted))
        for (expected, layout) in cases {
            let problems = Self.device.problems(layout)
            #expect(problems.contains { $0.contains(expected) }, "\(expected): \(problems)")
        }
    }
}
