import DaxPoolCore
import DaxPoolSystem
import Foundation
import Glibc
import SystemPackage
import Testing

@testable import DaxPoolLinux

/// Pool states for the label store tests, built with `PoolModel` so that they are normalized exactly as the
/// daemon commits them.
enum LabelStateScript {
    static func uuid(_ number: UInt64) -> LabelUUID {
        LabelUUID(high: 0xdaac_0001_0000_4000 | number << 16, low: 0x8000_0000_0000_0000 | number)
    }

    static func config(_ id: Int, size: ByteCount = .mebibytes(64)) -> RegionConfig {
        RegionConfig(
            id: id, backend: .shm, size: size, align: .page1G, pageSize: .page4K, targetNode: id == 1 ? 1 : nil,
            path: "/dev/shm/daxpool-test/region\(id)")
    }

    static func name(_ text: String) throws -> DeviceName {
        try DeviceName(validating: text)
    }

    /// A rich state: two regions, named and unnamed devices, a discontiguous one, a disabled one, 2M
    /// alignment, bad blocks and events.
    static func rich() throws -> PoolSnapshot {
        var model = PoolModel()
        try model.addRegion(config(0))
        try model.addRegion(config(1, size: .mebibytes(32)))
        _ = try model.createDevice(
            region: 0, size: .mebibytes(8), align: .page2M, name: name("alpha"), uuid: uuid(1))
        _ = try model.createDevice(
            region: 0, size: nil, align: .page4K, name: nil, uuid: uuid(2),
            layout: [
                Extent(start: RegionOffset(40 << 20), length: .mebibytes(4)),
                Extent(start: RegionOffset(16 << 20), length: .kibibytes(64)),
                Extent(start: RegionOffset(48 << 20), length: .mebibytes(2)),
            ])
        _ = try model.createDevice(region: 1, size: .mebibytes(4), align: nil, name: name("bravo"), uuid: uuid(3))
        try model.setState(DaxPoolCore.DeviceID(region: 0, instance: 1), .disabled)
        _ = try model.recordMemoryError(
            region: 0, offset: RegionOffset(41 << 20), length: .kibibytes(4), granule: .page4K, source: "api",
            time: 1_700_000_000_000)
        return model.snapshot
    }

    /// The devices' labelled namespaces in a region's area file.
    static func namespaces(in path: String) throws -> [LabelledNamespace] {
        try LabelArea.decode(Scratch.read(1 << 24, from: path)).namespaces
    }

    /// Every regular file of `directory` with its bytes.
    static func files(in directory: String) throws -> [String: [UInt8]] {
        var result: [String: [UInt8]] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: directory) {
            result[name] = Scratch.read(1 << 24, from: "\(directory)/\(name)")
        }
        return result
    }
}

@Suite("Label state store", .timeLimit(.minutes(20)))
struct LabelStateStoreTests {
    typealias Script = LabelStateScript

    @Test("load returns nil in an empty or missing state directory")
    func loadEmpty() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        #expect(try LabelStateStore(directory: "\(root)/state").load() == nil)
        #expect(try LabelStateStore(directory: root).load() == nil)
    }

    @Test("commit then load gives the same snapshot back through real label area files and a sidecar")
    func roundTrip() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let snapshot = try Script.rich()
        let store = LabelStateStore(directory: "\(root)/state")
        try store.commit(snapshot)
        #expect(try store.load() == snapshot)
        #expect(try LabelStateStore(directory: "\(root)/state").load() == snapshot)

        let files = try Script.files(in: "\(root)/state")
        #expect(Set(files.keys) == ["regions.json", "region0.labels", "region1.labels"])
        #expect(files["region0.labels"]?.count == 128 << 10)
        #expect(Scratch.status("\(root)/state/regions.json").map { $0.st_mode & 0o777 } == 0o600)
        #expect(Scratch.status("\(root)/state").map { $0.st_mode & 0o777 } == 0o700)

        // The labels alone carry every layout: uuid, name, align, ranges in order.
        let region0 = try Script.namespaces(in: "\(root)/state/region0.labels")
        #expect(region0.count == 2)
        let alpha = try #require(region0.first { $0.uuid == Script.uuid(1) })
        #expect(alpha.name == "alpha" && alpha.alignment == 2 << 20)
        #expect(alpha.extents == [LabelledNamespace.Extent(dpa: 0, rawSize: 8 << 20)])
        let second = try #require(region0.first { $0.uuid == Script.uuid(2) })
        #expect(second.name == "" && second.alignment == 4096)
        #expect(second.extents.map(\.dpa) == [40 << 20, 16 << 20, 48 << 20])
        let area = try LabelArea.decode(try #require(files["region0.labels"]))
        #expect(area.version == .v1Dot2 && area.currentIndex.slotCount == 510)
        #expect(
            area.activeLabels.allSatisfy {
                $0.abstractionGUID == .daxAbstraction && $0.typeGUID == .persistentMemoryRegionType
                    && $0.interleaveSetCookie == LabelStateStore.interleaveSetCookie && $0.flags.rawValue == 0
            })
        #expect(area.activeLabels.filter { $0.uuid == Script.uuid(2) }.map(\.position).sorted() == [0, 1, 2])

        let info = try #require(store.labelArea(region: 0))
        #expect(info.path == "\(root)/state/region0.labels")
        #expect(info.offset == 0 && info.size == 128 << 10 && info.version == "1.2")
        #expect(info.slotCount == 510 && info.freeSlots == 510 - 4)
        #expect(store.labelArea(region: 1)?.freeSlots == 509)
        #expect(store.labelArea(region: 7) == nil)
        #expect(LabelStateStore.areaPath(directory: "\(root)/state", region: 1) == "\(root)/state/region1.labels")
    }

    @Test("a commit rewrites only the devices that changed")
    func onlyChangedDevicesAreWritten() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        var snapshot = try Script.rich()
        let store = LabelStateStore(directory: root)
        try store.commit(snapshot)
        let path = "\(root)/region0.labels"
        let before = try LabelArea.decode(Scratch.read(1 << 20, from: path))
        let untouched = before.activeLabels.filter { $0.uuid == Script.uuid(2) }

        snapshot.regions[0].devices[0].extents = [Scratch.extent(0, .mebibytes(10))]
        try store.commit(snapshot)
        let after = try LabelArea.decode(Scratch.read(1 << 20, from: path))
        #expect(after.activeLabels.filter { $0.uuid == Script.uuid(2) } == untouched)
        #expect(after.currentIndex.sequence != before.currentIndex.sequence)
        #expect(try LabelStateStore(directory: root).load() == snapshot)

        // Only sidecar data changes: the label area is not written at all.
        let areaBytes = Scratch.read(1 << 20, from: path)
        snapshot.regions[0].devices[1].record.state = .enabled
        snapshot.lastEventSequence += 5
        try store.commit(snapshot)
        #expect(Scratch.read(1 << 20, from: path) == areaBytes)
        #expect(try LabelStateStore(directory: root).load() == snapshot)
    }

    @Test(
        "labels decide which devices exist: sidecar entries without labels are ignored, labels without entries get the lowest free instance, enabled"
    )
    func labelsAreTheTruth() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        var model = PoolModel()
        try model.addRegion(Script.config(0))
        for number in 0..<3 {
            _ = try model.createDevice(
                region: 0, size: .mebibytes(2), align: nil, name: nil, uuid: Script.uuid(UInt64(number)))
        }
        try model.setState(DaxPoolCore.DeviceID(region: 0, instance: 2), .disabled)
        let store = LabelStateStore(directory: root)
        try store.commit(model.snapshot)

        // Drop instance 0's entry and add an entry for a uuid that has no labels.
        let sidecarPath = "\(root)/regions.json"
        var sidecar = try LabelStateStore.Sidecar.decode(Scratch.read(1 << 20, from: sidecarPath))
        sidecar.regions[0].devices.removeFirst()
        sidecar.regions[0].devices.append(.init(uuid: Script.uuid(99), instance: 0, state: .disabled))
        try AtomicFile.replace(path: sidecarPath, bytes: try sidecar.encoded())

        let loaded = try #require(try LabelStateStore(directory: root).load())
        let devices = loaded.regions[0].devices
        #expect(devices.map(\.record.uuid) == [Script.uuid(0), Script.uuid(1), Script.uuid(2)])
        #expect(devices.map(\.record.id.instance) == [0, 1, 2])
        #expect(devices.map(\.record.state) == [.enabled, .enabled, .disabled])
        #expect(try PoolModel(snapshot: loaded).snapshot == loaded)
    }

    @Test("a full label area throws areaFull and leaves every file byte for byte as it was")
    func fullArea() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        // 2 KiB of v1.2 labels: 6 slots; each device takes one and an update needs two free.
        let store = LabelStateStore(directory: root, areaSize: 2048)
        var model = PoolModel()
        try model.addRegion(Script.config(0))
        try store.commit(model.snapshot)
        var created = 0
        var failure: LabelStateStoreError?
        while failure == nil, created < 10 {
            var next = model
            _ = try next.createDevice(
                region: 0, size: .mebibytes(1), align: .page4K, name: nil, uuid: Script.uuid(UInt64(created)))
            let before = try Script.files(in: root)
            // `check` predicts the commit's answer and writes nothing either way.
            var predicted: LabelStateStoreError?
            do throws(LabelStateStoreError) { try store.check(next.snapshot) } catch { predicted = error }
            #expect(try Script.files(in: root) == before)
            do throws(LabelStateStoreError) {
                try store.commit(next.snapshot)
                model = next
                created += 1
                #expect(predicted == nil)
            } catch {
                failure = error
                #expect(predicted == error, "check foresaw the refusal")
                #expect(try Script.files(in: root) == before)
            }
        }
        #expect(created == 5)
        guard case .areaFull(let region, let path, let needed, let free, let slotCount) = failure else {
            Issue.record("expected areaFull, got \(String(describing: failure))")
            return
        }
        #expect(region == 0 && path == "\(root)/region0.labels" && needed == 2 && free == 1 && slotCount == 6)
        #expect(failure?.description.contains("nothing was changed") == true)
        #expect(try LabelStateStore(directory: root).load() == model.snapshot)

        // The store goes on working: destroy one, then the create fits.
        try model.destroyDevice(DaxPoolCore.DeviceID(region: 0, instance: 0), force: true)
        try store.commit(model.snapshot)
        _ = try model.createDevice(region: 0, size: .mebibytes(1), align: .page4K, name: nil, uuid: Script.uuid(50))
        try store.commit(model.snapshot)
        #expect(try LabelStateStore(directory: root).load() == model.snapshot)
        #expect(store.labelArea(region: 0)?.freeSlots == 1)
    }

    @Test("state.json from the JSON store is migrated on first load and renamed to state.json.migrated")
    func migration() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let snapshot = try Script.rich()
        try JSONFileStateStore(directory: root).commit(snapshot)

        let store = LabelStateStore(directory: root)
        #expect(try store.load() == snapshot)
        #expect(!Scratch.exists("\(root)/state.json"))
        #expect(Scratch.exists("\(root)/state.json.migrated"))
        #expect(try Script.namespaces(in: "\(root)/region0.labels").count == 2)
        #expect(try LabelStateStore(directory: root).load() == snapshot)

        // A state.json that reappears next to regions.json (a migration stopped after its sidecar) is renamed.
        try JSONFileStateStore(directory: root).commit(PoolSnapshot(regions: []))
        #expect(try LabelStateStore(directory: root).load() == snapshot)
        #expect(!Scratch.exists("\(root)/state.json"))
    }

    @Test("a migration of more labels than 128 KiB holds makes a larger area")
    func migrationSizesArea() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        var model = PoolModel()
        try model.addRegion(Script.config(0, size: .mebibytes(512)))
        for number in 0..<300 {
            _ = try model.createDevice(
                region: 0, size: .kibibytes(64), align: .page4K, name: nil, uuid: Script.uuid(UInt64(number)))
        }
        try JSONFileStateStore(directory: root).commit(model.snapshot)
        let store = LabelStateStore(directory: root)
        #expect(try store.load() == model.snapshot)
        #expect(store.labelArea(region: 0)?.size == 256 << 10)
    }

    @Test("removing a region removes its label area; re-adding it starts from an empty one")
    func regionLifecycle() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        var model = PoolModel()
        try model.addRegion(Script.config(0))
        try model.addRegion(Script.config(1))
        _ = try model.createDevice(region: 1, size: .mebibytes(2), align: nil, name: nil, uuid: Script.uuid(1))
        let store = LabelStateStore(directory: root)
        try store.commit(model.snapshot)
        #expect(Scratch.exists("\(root)/region1.labels"))

        try model.destroyDevice(DaxPoolCore.DeviceID(region: 1, instance: 0), force: true)
        try model.removeRegion(1)
        try store.commit(model.snapshot)
        #expect(!Scratch.exists("\(root)/region1.labels"))
        #expect(try LabelStateStore(directory: root).load() == model.snapshot)

        try model.addRegion(Script.config(1))
        try store.commit(model.snapshot)
        #expect(try Script.namespaces(in: "\(root)/region1.labels").isEmpty)
        #expect(try LabelStateStore(directory: root).load() == model.snapshot)
    }

    @Test("a damaged label area is reported with its path and what to do")
    func damagedArea() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let store = LabelStateStore(directory: root)
        try store.commit(try Script.rich())
        Scratch.write([UInt8](repeating: 0x5a, count: 1024), to: "\(root)/region1.labels")
        let error = try #require(throws: LabelStateStoreError.self) { try LabelStateStore(directory: root).load() }
        guard case .label(let path, .noValidIndex) = error else {
            Issue.record("expected .label(_, .noValidIndex), got \(error)")
            return
        }
        #expect(path == "\(root)/region1.labels")
        #expect(error.description.contains("check-labels --file \(root)/region1.labels"))
    }

    @Test(
        "FileLabelStorage reads and writes a range of a file, creates and extends files, and refuses ranges outside them"
    )
    func fileStorage() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let path = "\(root)/backing"
        Scratch.makeFile(path, byteCount: 1 << 20)
        let tail = try FileLabelStorage(path: path, offset: nil, size: 128 << 10)
        #expect(tail.offset == (1 << 20) - (128 << 10) && tail.size == 128 << 10)
        try tail.write(offset: 5, bytes: [1, 2, 3])
        try tail.flush()
        #expect(Scratch.read(3, from: path, at: tail.offset + 5) == [1, 2, 3])
        #expect(try tail.read(offset: 4, count: 5) == [0, 1, 2, 3, 0])
        #expect(throws: LabelError.storageOutOfBounds(offset: 128 << 10, count: 1, size: 128 << 10)) {
            try tail.read(offset: 128 << 10, count: 1)
        }
        #expect(try FileLabelStorage(path: path).size == 1 << 20)

        let error = try #require(throws: FileLabelStorageError.self) {
            try FileLabelStorage(path: path, offset: 1 << 20, size: 4096)
        }
        #expect(error == .outsideFile(path: path, offset: 1 << 20, size: 4096, fileSize: 1 << 20))
        let missing = try #require(throws: FileLabelStorageError.self) { try FileLabelStorage(path: "\(root)/none") }
        guard case .io(let fileError) = missing else {
            Issue.record("expected .io, got \(missing)")
            return
        }
        #expect(
            fileError.operation == "open" && fileError.path == "\(root)/none"
                && fileError.errno == .noSuchFileOrDirectory)

        let created = try FileLabelStorage(path: "\(root)/new", access: .createIfMissing)
        #expect(created.size == FileLabelStorage.defaultSize)
        #expect(Scratch.status("\(root)/new").map { Int($0.st_size) } == FileLabelStorage.defaultSize)
        let extended = try FileLabelStorage(path: path, offset: 1 << 20, size: 4096, access: .createIfMissing)
        #expect(extended.size == 4096)
        #expect(Scratch.status(path).map { Int($0.st_size) } == (1 << 20) + 4096)

        let readOnly = try FileLabelStorage(path: path, access: .readOnly)
        #expect(throws: LabelError.self) { try readOnly.write(offset: 0, bytes: [1]) }
    }
}
