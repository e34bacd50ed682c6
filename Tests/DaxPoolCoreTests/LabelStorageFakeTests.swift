import DaxPoolCore
import DaxPoolTestSupport
import Foundation
import Testing

/// An in-memory `LabelStorage` that records every write and flush. A fake: nothing is durable.
struct InMemoryLabelStorageFake: LabelStorage, Sendable {
    /// One call that changed or flushed the storage.
    enum Event: Hashable, Sendable {
        case write(offset: Int, bytes: [UInt8])
        case flush
    }

    var bytes: [UInt8]
    var events: [Event] = []

    init(size: Int) {
        bytes = [UInt8](repeating: 0, count: size)
    }

    init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    var size: Int { bytes.count }

    var writes: [(offset: Int, bytes: [UInt8])] {
        events.compactMap { event in
            if case .write(let offset, let bytes) = event {
                return (offset, bytes)
            }
            return nil
        }
    }

    var flushCount: Int { events.filter { $0 == .flush }.count }

    mutating func read(offset: Int, count: Int) throws(LabelError) -> [UInt8] {
        guard offset >= 0, count >= 0, offset + count <= bytes.count else {
            throw .storageOutOfBounds(offset: offset, count: count, size: bytes.count)
        }
        return Array(bytes[offset..<(offset + count)])
    }

    mutating func write(offset: Int, bytes newBytes: [UInt8]) throws(LabelError) {
        guard offset >= 0, offset + newBytes.count <= bytes.count else {
            throw .storageOutOfBounds(offset: offset, count: newBytes.count, size: bytes.count)
        }
        bytes.replaceSubrange(offset..<(offset + newBytes.count), with: newBytes)
        events.append(.write(offset: offset, bytes: newBytes))
    }

    mutating func flush() throws(LabelError) {
        events.append(.flush)
    }
}

/// A fake that simulates power loss: the first `completeWrites` writes land whole, the next one lands only
/// its first `bytesOfCutWrite` bytes and throws, and every later write or flush throws.
struct WriteCuttingLabelStorageFake: LabelStorage, Sendable {
    static let simulatedErrorNumber: Int32 = 5  // EIO

    var bytes: [UInt8]
    let completeWrites: Int
    let bytesOfCutWrite: Int
    private(set) var writesSeen = 0
    private(set) var hasCrashed = false

    init(bytes: [UInt8], completeWrites: Int, bytesOfCutWrite: Int = 0) {
        self.bytes = bytes
        self.completeWrites = completeWrites
        self.bytesOfCutWrite = bytesOfCutWrite
    }

    var size: Int { bytes.count }

    mutating func read(offset: Int, count: Int) throws(LabelError) -> [UInt8] {
        guard offset >= 0, count >= 0, offset + count <= bytes.count else {
            throw .storageOutOfBounds(offset: offset, count: count, size: bytes.count)
        }
        return Array(bytes[offset..<(offset + count)])
    }

    mutating func write(offset: Int, bytes newBytes: [UInt8]) throws(LabelError) {
        guard !hasCrashed else {
            throw .storageFailed(
                operation: .write, offset: offset, count: newBytes.count, errorNumber: Self.simulatedErrorNumber)
        }
        guard offset >= 0, offset + newBytes.count <= bytes.count else {
            throw .storageOutOfBounds(offset: offset, count: newBytes.count, size: bytes.count)
        }
        if writesSeen < completeWrites {
            bytes.replaceSubrange(offset..<(offset + newBytes.count), with: newBytes)
            writesSeen += 1
            return
        }
        let landed = min(bytesOfCutWrite, newBytes.count)
        bytes.replaceSubrange(offset..<(offset + landed), with: newBytes[0..<landed])
        hasCrashed = true
        throw .storageFailed(
            operation: .write, offset: offset, count: newBytes.count, errorNumber: Self.simulatedErrorNumber)
    }

    mutating func flush() throws(LabelError) {
        guard !hasCrashed else {
            throw .storageFailed(operation: .flush, offset: 0, count: 0, errorNumber: Self.simulatedErrorNumber)
        }
    }
}

/// The kernel-written label area under `Tests/Fixtures/nvdimm-labels`, found relative to this file.
enum LabelFixture {
    static let relativePath = "Fixtures/nvdimm-labels/label-area-128K-v1.1-3ns.bin"

    /// `Tests/DaxPoolCoreTests/` → `Tests/`.
    static let url: URL = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
        .deletingLastPathComponent()
        .appendingPathComponent("../" + relativePath)
        .standardizedFileURL

    static let bytes: [UInt8]? = FileManager.default.contents(atPath: url.path).map { [UInt8]($0) }

    static var isPresent: Bool { bytes != nil }

    /// Why fixture tests are skipped when the file is absent.
    static let absent: Comment = "label fixture not found at \(url.path); it lives in Tests/Fixtures/nvdimm-labels"

    static func load() throws -> [UInt8] {
        try #require(bytes, "fixture missing at \(url.path)")
    }
}

/// Builders shared by the label tests.
enum LabelTestSupport {
    static let cookie: UInt64 = 0x2468_ac00_1234_56
    static let mebibyte: UInt64 = 1 << 20

    static func uuid(_ seed: UInt64) -> LabelUUID {
        var generator = SplitMix64(seed: seed)
        return LabelUUID.random(using: &generator)
    }

    /// A namespace with `count` 2 MiB-aligned extents starting at `base` MiB.
    static func namespace(
        _ uuid: LabelUUID,
        name: String = "",
        alignment: UInt64 = 0,
        extents count: Int,
        base: UInt64 = 0
    ) -> LabelledNamespace {
        let extents = (0..<count).map { index in
            LabelledNamespace.Extent(
                dpa: (base + 64 * UInt64(index)) * mebibyte,
                rawSize: 2 * UInt64(index + 1) * mebibyte
            )
        }
        return LabelledNamespace(uuid: uuid, name: name, alignment: alignment, extents: extents)
    }

    /// An initialized area with `labels` written into their slots and marked used in block 0 (current).
    static func area(with labels: [NamespaceLabel], configSize: Int, version: LabelVersion) throws -> [UInt8] {
        let geometry = try LabelAreaGeometry(configSize: configSize, version: version)
        var bytes = try LabelArea.initializedBytes(configSize: configSize, version: version)
        var index = try NamespaceIndex.decode(Array(bytes[0..<geometry.indexSize]), block: 0, geometry: geometry)
        for label in labels {
            let offset = geometry.offset(ofSlot: Int(label.slot))
            bytes.replaceSubrange(offset..<(offset + geometry.labelSize), with: try label.encode(version: version))
            index.setFree(false, slot: Int(label.slot))
        }
        bytes.replaceSubrange(0..<geometry.indexSize, with: index.encode())
        return bytes
    }
}

@Suite("Label storage fakes", .timeLimit(.minutes(20)))
struct LabelStorageFakeTests {
    @Test("the in-memory fake records writes and flushes in order")
    func inMemoryFakeRecords() throws {
        var fake = InMemoryLabelStorageFake(size: 16)
        try fake.write(offset: 4, bytes: [1, 2])
        try fake.flush()
        #expect(try fake.read(offset: 3, count: 4) == [0, 1, 2, 0])
        #expect(fake.events == [.write(offset: 4, bytes: [1, 2]), .flush])
        #expect(throws: LabelError.storageOutOfBounds(offset: 15, count: 2, size: 16)) {
            try fake.write(offset: 15, bytes: [1, 2])
        }
    }

    @Test("the cutting fake lands whole writes, then a prefix, then nothing")
    func cuttingFakeCuts() throws {
        var fake = WriteCuttingLabelStorageFake(bytes: [0, 0, 0, 0, 0, 0], completeWrites: 1, bytesOfCutWrite: 1)
        try fake.write(offset: 0, bytes: [7, 7])
        try fake.flush()
        #expect(throws: LabelError.self) { try fake.write(offset: 2, bytes: [8, 8]) }
        #expect(throws: LabelError.self) { try fake.write(offset: 4, bytes: [9, 9]) }
        #expect(throws: LabelError.self) { try fake.flush() }
        #expect(fake.bytes == [7, 7, 8, 0, 0, 0])
        #expect(fake.hasCrashed)
    }

    @Test("the fixture path is resolved next to the repository")
    func fixturePathShape() {
        #expect(LabelFixture.url.path.hasSuffix(LabelFixture.relativePath))
    }
}
