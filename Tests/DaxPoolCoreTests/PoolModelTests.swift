import DaxPoolCore
import DaxPoolTestSupport
import Testing

@Suite("pool model", .timeLimit(.minutes(20)))
struct PoolModelTests {
    func model(size: ByteCount = .gibibytes(1)) throws -> PoolModel {
        var model = PoolModel()
        try model.addRegion(
            RegionConfig(id: 0, backend: .shm, size: size, align: .page1G, pageSize: .page4K, path: "/dev/shm/x"))
        return model
    }

    func uuid(_ seed: UInt64) -> LabelUUID {
        var generator = SplitMix64(state: seed)
        return LabelUUID.random(using: &generator)
    }

    @Test("a snapshot rebuilds the identical model")
    func snapshotRoundTrip() throws {
        var model = try model()
        _ = try model.createDevice(
            region: 0, size: .mebibytes(256), align: nil, name: DeviceName(validating: "a"), uuid: uuid(1))
        _ = try model.createDevice(region: 0, size: .mebibytes(256), align: .page4K, name: nil, uuid: uuid(2))
        try model.setState(DeviceID(region: 0, instance: 0), .disabled)
        try model.destroyDevice(DeviceID(region: 0, instance: 0), force: false)
        _ = try model.createDevice(region: 0, size: .mebibytes(512), align: nil, name: nil, uuid: uuid(3))
        let rebuilt = try PoolModel(snapshot: model.snapshot)
        #expect(rebuilt == model)
        #expect(rebuilt.extents(of: DeviceID(region: 0, instance: 0)).count == 2)
    }

    @Test("duplicate names and uuids are refused and change nothing")
    func duplicates() throws {
        var model = try model()
        _ = try model.createDevice(
            region: 0, size: .mebibytes(2), align: nil, name: DeviceName(validating: "vm"), uuid: uuid(1))
        let before = model
        #expect(throws: PoolError.duplicateName("vm", holder: DeviceID(region: 0, instance: 0))) {
            _ = try model.createDevice(
                region: 0, size: .mebibytes(2), align: nil, name: DeviceName(validating: "vm"), uuid: uuid(2))
        }
        #expect(throws: PoolError.self) {
            _ = try model.createDevice(region: 0, size: .mebibytes(2), align: nil, name: nil, uuid: uuid(1))
        }
        #expect(model == before)
    }

    @Test("enabled devices need force to be destroyed or resized")
    func enabledNeedsForce() throws {
        var model = try model()
        let record = try model.createDevice(region: 0, size: .mebibytes(2), align: nil, name: nil, uuid: uuid(1))
        #expect(throws: PoolError.deviceEnabled(record.id, operation: "destroy")) {
            try model.destroyDevice(record.id, force: false)
        }
        #expect(throws: PoolError.deviceEnabled(record.id, operation: "reconfigure")) {
            _ = try model.reconfigureDevice(record.id, size: .mebibytes(4), align: nil)
        }
        try model.destroyDevice(record.id, force: true)
        #expect(model.regions[0]?.devices.isEmpty == true)
    }

    @Test("an explicit layout whose mappings do not add up to size is refused")
    func layoutMismatch() throws {
        var model = try model()
        let before = model
        #expect(throws: PoolError.self) {
            _ = try model.createDevice(
                region: 0, size: .mebibytes(4), align: .page2M, name: nil, uuid: uuid(1),
                layout: [Extent(start: .zero, length: .mebibytes(2))])
        }
        #expect(model == before)
    }

    @Test("alignments below the page size or above the region's are refused")
    func alignmentBounds() throws {
        var model = PoolModel()
        try model.addRegion(
            RegionConfig(id: 0, backend: .hugetlb, size: .gibibytes(1), align: .page1G, pageSize: .page2M, path: "/x"))
        #expect(throws: PoolError.alignmentTooSmall(.page4K, pageSize: .page2M)) {
            _ = try model.createDevice(region: 0, size: .mebibytes(2), align: .page4K, name: nil, uuid: uuid(1))
        }
    }

    @Test("destroying a region with devices is refused")
    func regionBusy() throws {
        var model = try model()
        _ = try model.createDevice(region: 0, size: .mebibytes(2), align: nil, name: nil, uuid: uuid(1))
        #expect(throws: PoolError.self) { try model.removeRegion(0) }
    }
}
