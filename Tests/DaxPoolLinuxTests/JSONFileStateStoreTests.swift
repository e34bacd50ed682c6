import DaxPoolCore
import DaxPoolLinux
import DaxPoolSystem
import Foundation
import Glibc
import Testing

@Suite("JSON file state store", .timeLimit(.minutes(20)))
struct JSONFileStateStoreTests {
    static let snapshot = PoolSnapshot(regions: [
        RegionSnapshot(
            config: Scratch.region("/dev/shm/daxpool-0/region0"),
            devices: [
                DeviceSnapshot(
                    record: Scratch.record(0),
                    extents: [Scratch.extent(0, .mebibytes(2)), Scratch.extent(8 << 20, .mebibytes(4))]
                ),
                DeviceSnapshot(
                    record: Scratch.record(1, state: .disabled), extents: [Scratch.extent(2 << 20, .mebibytes(2))]),
            ],
            badBlocks: [Scratch.extent(20 << 20, .kibibytes(4))]
        )
    ])

    @Test("load returns nil before anything was committed")
    func loadEmpty() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        #expect(try JSONFileStateStore(directory: "\(root)/state").load() == nil)
    }

    @Test("commit then load gives the same snapshot, in a 0600 file with sorted keys and no temporary left")
    func roundTrip() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let store = JSONFileStateStore(directory: "\(root)/state")
        try store.commit(Self.snapshot)
        #expect(try store.load() == Self.snapshot)
        #expect(try JSONFileStateStore(directory: "\(root)/state").load() == Self.snapshot)

        #expect(store.path == "\(root)/state/state.json")
        #expect(Scratch.status(store.path).map { $0.st_mode & 0o777 } == 0o600)
        #expect(!Scratch.exists(store.path + ".tmp"))
        let text = String(decoding: Scratch.read(1 << 20, from: store.path), as: UTF8.self)
        #expect(text.hasPrefix("{\"events\":[],\"last_event_sequence\":0,\"regions\":[{\"bad_blocks\""))

        var changed = Self.snapshot
        changed.regions[0].devices.removeLast()
        try store.commit(changed)
        #expect(try store.load() == changed)
    }

    @Test("a state.json.tmp left by a crashed write is ignored by load and replaced by the next commit")
    func leftoverTemporaryIgnored() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let store = JSONFileStateStore(directory: root)
        Scratch.makeFile(store.path + ".tmp")
        Scratch.write(Array("{\"regions\":[{\"conf".utf8), to: store.path + ".tmp")
        #expect(try store.load() == nil)

        try store.commit(Self.snapshot)
        Scratch.makeFile(store.path + ".tmp")
        Scratch.write(Array("garbage".utf8), to: store.path + ".tmp")
        #expect(try store.load() == Self.snapshot)
        try store.commit(PoolSnapshot(regions: []))
        #expect(try store.load() == PoolSnapshot(regions: []))
    }

    @Test("a corrupt state file is reported with its path")
    func corruptFileReported() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let store = JSONFileStateStore(directory: root)
        Scratch.makeFile(store.path)
        Scratch.write(Array("{not json".utf8), to: store.path)
        let error = try #require(throws: StateStoreError.self) { try store.load() }
        guard case .unreadable(let path, _) = error else {
            Issue.record("expected .unreadable, got \(error)")
            return
        }
        #expect(path == store.path)
        #expect(error.description.contains(store.path))
    }

    @Test("AtomicFile replaces contents and reads nil for a missing file")
    func atomicFile() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let path = "\(root)/file"
        #expect(try AtomicFile.read(path: path) == nil)
        try AtomicFile.replace(path: path, bytes: Array(repeating: 7, count: 200_000))
        try AtomicFile.replace(path: path, bytes: [1, 2, 3])
        #expect(try AtomicFile.read(path: path) == [1, 2, 3])
        let error = try #require(throws: FileError.self) {
            try AtomicFile.replace(path: "\(root)/missing/file", bytes: [1])
        }
        #expect(error.operation == "open" && error.path == "\(root)/missing/file.tmp")
    }
}
