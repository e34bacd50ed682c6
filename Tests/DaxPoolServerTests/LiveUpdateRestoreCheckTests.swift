import DaxPoolAPI
import DaxPoolCore
import Testing

@testable import DaxPoolServer

/// The checks a start makes before it restores a live update: the running kernel must carve what the prepare
/// recorded, and the state directory's layouts must agree with the copies in the regions' memory. A failed check
/// changes nothing (the real kernel run is `scripts/lab-live-update`).
@Suite("live-update restore checks", .timeLimit(.minutes(20)))
struct LiveUpdateRestoreCheckTests {
    static let carve = "memmap=1G%5G-1+0xefffffff"

    static func region(deviceName: String = "vm") throws -> RegionSnapshot {
        var model = PoolModel()
        try model.addRegion(
            RegionConfig(id: 0, backend: .sim, size: .gibibytes(1), align: .page2M, pageSize: .page4K, path: "/r0"))
        _ = try model.createDevice(
            region: 0, size: .mebibytes(256), align: nil, name: try DeviceName(validating: deviceName),
            uuid: try #require(LabelUUID("7d0b6f5e-1c2a-4d3b-9e8f-0a1b2c3d4e5f")), owner: 0)
        return model.snapshot.regions[0]
    }

    static func restore(commandLine: String, memory: RegionSnapshot) throws -> LiveUpdateRestore {
        let record = LiveUpdateRecord(sequence: 1, kernelCarve: [carve], region: memory)
        return LiveUpdateRestore(
            prepared: LiveUpdateState.Prepared(sequence: 1, kernelCarve: [carve], records: [record]),
            memory: [0: record], carve: KernelCarve(commandLine: commandLine))
    }

    @Test("a kernel that carves other memory than the prepare recorded is refused, naming both carves")
    func carveMismatch() throws {
        let region = try Self.region()
        let restore = try Self.restore(commandLine: "console=ttyS0 memmap=2G%5G-1+0xefffffff", memory: region)
        let error = #expect(throws: ErrorBody.self) {
            try restore.check(PoolSnapshot(regions: [region]), hadState: true)
        }
        #expect(error?.code == "live_update_mismatch")
        #expect(error?.message.contains("memmap=2G%5G-1+0xefffffff") == true)
        #expect(error?.message.contains(Self.carve) == true)
    }

    @Test("a state directory that disagrees with the copy in memory is refused; copies that agree pass")
    func copiesDisagree() throws {
        let inMemory = try Self.region()
        let restore = try Self.restore(commandLine: "console=ttyS0 \(Self.carve)", memory: inMemory)
        try restore.check(PoolSnapshot(regions: [inMemory]), hadState: true)
        var renamed = inMemory
        renamed.devices[0].record.name = try DeviceName(validating: "other")
        let error = #expect(throws: ErrorBody.self) {
            try restore.check(PoolSnapshot(regions: [renamed]), hadState: true)
        }
        #expect(error?.code == "live_update_mismatch")
        // Without state (a lost state directory) the copy in memory is the state: nothing to compare.
        try restore.check(PoolSnapshot(regions: []), hadState: false)
    }
}
