import DaxPoolAPI
import DaxPoolCore
import DaxPoolLinux
import DaxPoolServer
import Foundation
import Logging
import SystemPackage
import Testing

@Suite("kernel bad blocks of nd regions", .timeLimit(.minutes(20)))
struct NDBadBlocksTests {
    /// A fake sysfs with `bus/nd/devices/region<N>/badblocks` holding `text`.
    static func sysfs(ndRegion: Int, badblocks text: String) throws -> String {
        let root = try Scratch.makeDirectory()
        let directory = "\(root)/bus/nd/devices/region\(ndRegion)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try Data(text.utf8).write(to: URL(fileURLWithPath: "\(directory)/badblocks"))
        return root
    }

    @Test("the reader takes the sysfs root as a parameter and parses the kernel's sector ranges")
    func reader() throws {
        let root = try Self.sysfs(ndRegion: 3, badblocks: "8 8\n2048 1\n")
        defer { Scratch.remove(root) }
        let reader = NDBadBlocks(sysfsRoot: FilePath(root))
        #expect(reader.path(ndRegion: 3).string == "\(root)/bus/nd/devices/region3/badblocks")
        #expect(
            try reader.ranges(ndRegion: 3) == [
                Extent(start: RegionOffset(4096), length: .kibibytes(4)),
                Extent(start: RegionOffset(1 << 20), length: ByteCount(512)),
            ])
        #expect(throws: BackendError.self) { _ = try reader.ranges(ndRegion: 4) }
    }

    @Test("a malformed badblocks file is an error that names the file")
    func malformed() throws {
        let root = try Self.sysfs(ndRegion: 0, badblocks: "8 eight\n")
        defer { Scratch.remove(root) }
        #expect {
            _ = try NDBadBlocks(sysfsRoot: FilePath(root)).ranges(ndRegion: 0)
        } throws: { error in
            (error as? BackendError)?.message.contains("region0/badblocks") == true
        }
    }

    @Test("polled bad blocks are attributed to the devices that hold them, quarantined, and reported once")
    func pollerAttributes() async throws {
        let root = try Self.sysfs(ndRegion: 1, badblocks: "")
        defer { Scratch.remove(root) }
        let service = try await PoolService(
            backends: [SimBackend()],
            store: JSONFileStateStore(directory: "\(root)/state"),
            settings: PoolSettings(defaultRegionSize: nil, shmRoot: root, hugetlbRoot: root),
            logger: Logger(label: "test")
        )
        _ = try await service.createRegion(CreateRegionRequest(backend: .sim, size: ByteCount.mebibytes(64)))
        let first = try await service.createDevice(
            CreateDeviceRequest(size: ByteCount.mebibytes(16), name: try DeviceName(validating: "a")))
        let second = try await service.createDevice(
            CreateDeviceRequest(size: ByteCount.mebibytes(16), name: try DeviceName(validating: "b")))
        let secondStart = try #require(second.mappings?.first?.start)
        let reader = NDBadBlocks(sysfsRoot: FilePath(root))
        // The daxpool region starts 1 MiB into the nd region.
        let poller = KernelBadBlocksPoller(
            service: service,
            sources: [.init(region: 0, base: 1 << 20) { try reader.ranges(ndRegion: 1) }],
            interval: .seconds(3600),
            logger: Logger(label: "test")
        )
        #expect(await poller.poll().isEmpty)

        // One sector 4 KiB into device b, and one range before the daxpool region starts.
        let sector = ((1 << 20) + secondStart + 4096) / 512
        try Data("\(sector) 1\n16 8\n".utf8).write(
            to: URL(fileURLWithPath: "\(root)/bus/nd/devices/region1/badblocks"))
        let events = await poller.poll()
        #expect(events.count == 1)
        #expect(events.first?.source == "badblocks")
        #expect(events.first?.device == second.chardev)
        #expect(events.first?.deviceOffset == 4096)
        #expect(events.first?.length == 4096)
        #expect(try await service.device("b").badblocks == [BadBlock(offset: 4096, length: 4096)])
        #expect(try await service.device("a").badblocks.isEmpty)
        #expect(first.chardev != second.chardev)
        // The next poll finds nothing new.
        #expect(await poller.poll().isEmpty)
        #expect(await service.events(after: 0).count == 1)
    }
}
