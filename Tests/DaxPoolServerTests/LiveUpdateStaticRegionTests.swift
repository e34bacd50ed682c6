import DaxPoolAPI
import DaxPoolCore
import Foundation
import Logging
import Synchronization
import Testing

@testable import DaxPoolServer

/// A devdax backend with one static region (a pmem namespace: one device over the whole region) whose device tail
/// is a byte array, for tests: what a prepare writes there, and what a tenant could have written.
final class StaticDaxMemoryFake: MemoryBackend, LiveUpdateMemory {
    let kind: BackendKind = .devdax
    let device: StaticDaxDevice
    private let area = Mutex<[UInt8]?>(nil)

    init(device: StaticDaxDevice) { self.device = device }

    /// The tail's 2 MiB area: what the last write left, or what a test put there.
    var bytes: [UInt8]? {
        get { area.withLock { $0 } }
        set { area.withLock { $0 = newValue } }
    }

    func createRegion(_ request: RegionConfig) throws -> RegionConfig { request }
    func destroyRegion(_ config: RegionConfig) throws {}
    func devicePath(_ device: DeviceID, in region: RegionConfig) -> String? { "/fake/\(device)" }
    func provisionDevice(_ device: DeviceID, size: ByteCount, extents: [Extent], in region: RegionConfig) throws {}
    func setDeviceEnabled(_ device: DeviceID, enabled: Bool, in region: RegionConfig) throws {}
    func destroyDevice(_ device: DeviceID, in region: RegionConfig) throws {}
    func reconcile(_ region: RegionConfig, devices: [(record: DeviceRecord, extents: [Extent])]) throws {}

    func liveUpdateRegionIDs() throws -> [Int] { [device.region] }
    func liveUpdateAreaOffset(region: Int) throws -> RegionOffset? { nil }
    func staticLiveUpdateDevice(region: Int) throws -> StaticDaxDevice? { region == device.region ? device : nil }
    func liveUpdateReservedTail(of id: DeviceID) -> UInt64? {
        id == DeviceID(region: device.region, instance: device.instance) ? device.reservedTail : nil
    }
    func writeLiveUpdateArea(_ bytes: [UInt8], region: Int) throws -> String {
        area.withLock { $0 = bytes }
        return "dax\(region).\(device.instance)"
    }
    func readLiveUpdateArea(region: Int) throws -> [UInt8]? { area.withLock { $0 } }
}

/// A static dax region (pmem) across a kexec: its layout's copy lives in the last 2 MiB of its one device, which
/// `list` and `qemu-args` keep from VMMs; a copy read back from there is used only when it is sound and claims no
/// more than the kernel's device.
@Suite("live-update of a static dax region", .timeLimit(.minutes(20)))
struct LiveUpdateStaticRegionTests {
    static let mib: UInt64 = 1 << 20
    static let size: UInt64 = 64 << 20
    static let base: UInt64 = 0x1_0000_0000
    static let carve = "memmap=64M!4G"

    static let kernelDevice = StaticDaxDevice(
        region: 1, instance: 0, base: base, regionSize: size, size: size, align: 2 << 20,
        ranges: [Extent(start: .zero, length: ByteCount(size))])

    static func region(name: String = "pmem-vm", owner: UInt32 = 1000) throws -> RegionSnapshot {
        let config = RegionConfig(
            id: 1, backend: .devdax, size: ByteCount(size), align: .page2M, pageSize: .page2M,
            path: "/sys/devices/platform/e820_pmem/ndbus0/region1/dax1.0", base: base)
        let record = DeviceRecord(
            id: DeviceID(region: 1, instance: 0),
            uuid: try #require(LabelUUID("7d0b6f5e-1c2a-4d3b-9e8f-0a1b2c3d4e5f")),
            name: try DeviceName(validating: name), align: .page2M, state: .enabled, owner: owner)
        return RegionSnapshot(
            config: config,
            devices: [DeviceSnapshot(record: record, extents: [Extent(start: .zero, length: config.size)])],
            badBlocks: [])
    }

    /// The area a prepare of `region` writes (or a tenant forges, with a sound frame and checksums).
    static func area(_ region: RegionSnapshot, sequence: UInt64 = 7) throws -> [UInt8] {
        try LiveUpdateArea.encode(
            payload: try LiveUpdateState.payload(
                LiveUpdateRecord(sequence: sequence, kernelCarve: [carve], region: region)),
            labels: try LiveUpdateArea.labelBytes(for: region), sequence: sequence, region: region.config.id)
    }

    static func directory() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("daxpool-lu-static-\(UUID().uuidString)").path
    }

    static func service(memory: StaticDaxMemoryFake, store: InMemoryStateStoreFake, state: String) async throws
        -> PoolService
    {
        try await PoolService(
            backends: [memory], store: store,
            settings: PoolSettings(defaultRegionSize: nil, shmRoot: "/fake", hugetlbRoot: "/fake"),
            logger: Logger(label: "test"),
            liveUpdate: LiveUpdateState(stateDirectory: state, commandLine: { "console=ttyS0 \(Self.carve)" }))
    }

    @Test("prepare writes a static region's layout into its device's last 2 MiB, and the copy decodes to the layout")
    func prepareWritesTheTail() async throws {
        let state = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: state) }
        let memory = StaticDaxMemoryFake(device: Self.kernelDevice)
        let store = InMemoryStateStoreFake()
        let region = try Self.region()
        try store.commit(PoolSnapshot(regions: [region]))
        let service = try await Self.service(memory: memory, store: store, state: state)
        let report = try await service.prepareLiveUpdate(LiveUpdatePrepareRequest())
        let entry = try #require(report.regions.first)
        #expect(entry.memoryCopy && entry.holder == "dax1.0")
        #expect(entry.areaOffset == Self.size - 2 * Self.mib)
        #expect(entry.notes.contains { $0.contains("last 2 MiB of dax1.0") && $0.contains("trustworthy") })
        let contents = LiveUpdateArea.decode(try #require(memory.bytes))
        #expect(contents.damage.isEmpty)
        let record = try JSONDecoder().decode(
            LiveUpdateRecord.self, from: Data(try #require(contents.frame?.payload)))
        #expect(record.region == region && record.kernelCarve == [Self.carve])
        #expect(FileManager.default.fileExists(atPath: state + "/live-update/prepared.json"))
    }

    @Test("list keeps the kernel's size for a static region's device and says a VMM may use all but its tail")
    func listShowsUsableSize() async throws {
        let state = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: state) }
        let store = InMemoryStateStoreFake()
        try store.commit(PoolSnapshot(regions: [try Self.region()]))
        let service = try await Self.service(
            memory: StaticDaxMemoryFake(device: Self.kernelDevice), store: store, state: state)
        let device = try #require(await service.devices().first)
        #expect(device.size == Self.size)
        #expect(device.usableSize == Self.size - 2 * Self.mib)
        #expect(device.mappings?.map(\.size) == [Self.size], "list -M stays the kernel's (daxctl list -M)")
        let json = String(decoding: try JSONEncoder().encode(device), as: UTF8.self)
        #expect(json.contains("\"usable_size\":\(Self.size - 2 * Self.mib)"))
    }

    @Test("with the state directory lost, the copy in the device's tail alone restores the layout")
    func restoresFromTheTailAlone() async throws {
        let state = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: state) }
        let memory = StaticDaxMemoryFake(device: Self.kernelDevice)
        let region = try Self.region()
        memory.bytes = try Self.area(region)
        let service = try await Self.service(memory: memory, store: InMemoryStateStoreFake(), state: state)
        let device = try #require(await service.devices().first)
        #expect(device.chardev == "dax1.0" && device.name == "pmem-vm" && device.owner == 1000)
        #expect(device.uuid == "7d0b6f5e-1c2a-4d3b-9e8f-0a1b2c3d4e5f")
        let status = try await service.liveUpdateStatus()
        #expect(status.restored == 1 && status.regions.first?.source == "memory")
    }

    @Test(
        "a sound copy in the tail that claims more than the kernel's device (a second device, other ranges) is not used"
    )
    func forgedCopyIsRefused() async throws {
        var twoDevices = try Self.region()
        twoDevices.devices[0].extents = [Extent(start: .zero, length: .mebibytes(32))]
        var other = twoDevices.devices[0]
        other.record.id = DeviceID(region: 1, instance: 1)
        other.record.owner = 0
        other.record.uuid = LabelUUID(high: 1, low: 1)
        other.extents = [Extent(start: RegionOffset(32 * Self.mib), length: .mebibytes(32))]
        twoDevices.devices.append(other)
        var wider = try Self.region()
        wider.config.size = .mebibytes(128)
        wider.devices[0].extents = [Extent(start: .zero, length: .mebibytes(128))]
        for forged in [twoDevices, wider] {
            let state = Self.directory()
            defer { try? FileManager.default.removeItem(atPath: state) }
            let memory = StaticDaxMemoryFake(device: Self.kernelDevice)
            memory.bytes = try Self.area(forged)
            let restore = try #require(
                try LiveUpdateRestore.begin(
                    LiveUpdateState(stateDirectory: state, commandLine: { Self.carve }), backends: [.devdax: memory],
                    logger: Logger(label: "test")))
            #expect(restore.memory.isEmpty, "the forged copy is not used")
            #expect(restore.notes[1]?.contains { $0.contains("claims what the kernel's device does not show") } == true)
            let service = try await Self.service(memory: memory, store: InMemoryStateStoreFake(), state: state)
            #expect(await service.devices().isEmpty)
        }
    }

    @Test("a damaged copy in the tail is reported by its checksum, and the state directory's copy serves")
    func damagedTailFallsBackToTheStateDirectory() async throws {
        let state = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: state) }
        let memory = StaticDaxMemoryFake(device: Self.kernelDevice)
        let region = try Self.region()
        let store = InMemoryStateStoreFake()
        try store.commit(PoolSnapshot(regions: [region]))
        _ = try await Self.service(memory: memory, store: store, state: state).prepareLiveUpdate(
            LiveUpdatePrepareRequest())
        var bytes = try #require(memory.bytes)
        for offset in LiveUpdateArea.copyOffsets { bytes[offset + LiveUpdateArea.headerSize + 5] ^= 0xff }
        memory.bytes = bytes
        let service = try await Self.service(memory: memory, store: store, state: state)
        let status = try await service.liveUpdateStatus()
        let entry = try #require(status.regions.first)
        #expect(status.restored == 1 && entry.source == "state directory" && !entry.memoryCopy)
        #expect(entry.notes.contains { $0.contains("checksum") })
        #expect(await service.devices().first?.name == "pmem-vm")
    }

    @Test("a sound copy in the tail that disagrees with the state directory stops the start, saying which to move")
    func disagreementIsRefused() async throws {
        let state = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: state) }
        let memory = StaticDaxMemoryFake(device: Self.kernelDevice)
        let store = InMemoryStateStoreFake()
        try store.commit(PoolSnapshot(regions: [try Self.region()]))
        _ = try await Self.service(memory: memory, store: store, state: state).prepareLiveUpdate(
            LiveUpdatePrepareRequest())
        memory.bytes = try Self.area(try Self.region(name: "renamed"))
        let error = await #expect(throws: ErrorBody.self) {
            _ = try await Self.service(memory: memory, store: store, state: state)
        }
        #expect(error?.code == "live_update_mismatch")
        #expect(error?.message.contains("name 'pmem-vm' against 'renamed'") == true)
        #expect(error?.message.contains("move the state directory away") == true)
    }
}
