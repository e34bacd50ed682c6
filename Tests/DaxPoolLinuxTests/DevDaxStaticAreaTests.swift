import DaxPoolCore
import DaxPoolLinux
import SystemPackage
import Testing

/// A static (pmem) region's layout copy in the tail of its one device, on the dax bus fake with a file standing in
/// for `/dev/daxR.0`.
@Suite("devdax live-update area of a static region", .timeLimit(.minutes(20)))
struct DevDaxStaticAreaTests {
    static let mib: UInt64 = 1 << 20
    static let size: UInt64 = 64 << 20
    static let base: UInt64 = 0x1_0000_0000

    @Test("the area is written to and read from the device's last 2 MiB; the memory before it is not touched")
    func writeAndReadTheTail() throws {
        let fake = SysfsDaxBusFake()
        fake.addStaticRegion(id: 1, start: Self.base, size: Self.size, align: 2 * Self.mib)
        fake.addDynamicRegion(id: 0, start: 2 * Self.base, size: 1 << 30)
        let directory = try Scratch.makeDirectory()
        defer { Scratch.remove(directory) }
        let backend = DevDaxBackend(sysfs: fake, deviceDirectory: FilePath(directory), scrubsReleasedMemory: false)
        let memory = "\(directory)/dax1.0"
        Scratch.makeFile(memory, byteCount: Int(Self.size))
        Scratch.write(Array(repeating: 0xA5, count: Int(Self.size)), to: memory)

        #expect(try backend.liveUpdateRegionIDs() == [0, 1], "static regions are searched too")
        let fixed = try #require(try backend.staticLiveUpdateDevice(region: 1))
        #expect(fixed.ranges == [Extent(start: .zero, length: ByteCount(Self.size))] && fixed.base == Self.base)
        #expect(try backend.staticLiveUpdateDevice(region: 0) == nil)
        #expect(backend.liveUpdateReservedTail(of: DaxPoolCore.DeviceID(region: 1, instance: 0)) == 2 * Self.mib)
        #expect(backend.liveUpdateReservedTail(of: DaxPoolCore.DeviceID(region: 0, instance: 0)) == nil)

        let area = (0..<LiveUpdateArea.size).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 1) }
        #expect(try backend.writeLiveUpdateArea(area, region: 1) == "dax1.0")
        let tail = Int(Self.size) - LiveUpdateArea.size
        #expect(Scratch.read(LiveUpdateArea.size, from: memory, at: tail) == area)
        #expect(Scratch.read(tail, from: memory).allSatisfy { $0 == 0xA5 }, "the VMM's part is untouched")
        #expect(try backend.readLiveUpdateArea(region: 1) == area)
        #expect(fake.stores.isEmpty, "a bound static device is written and read as it is")
    }

    @Test("an unbound static device is bound for the write and unbound again; it is not bound to be read")
    func unboundDevice() throws {
        let fake = SysfsDaxBusFake()
        fake.addStaticRegion(id: 1, start: Self.base, size: Self.size, align: 2 * Self.mib)
        fake.setDriver("dax1.0", nil)
        let directory = try Scratch.makeDirectory()
        defer { Scratch.remove(directory) }
        let backend = DevDaxBackend(sysfs: fake, deviceDirectory: FilePath(directory), scrubsReleasedMemory: false)
        Scratch.makeFile("\(directory)/dax1.0", byteCount: Int(Self.size))
        _ = try backend.writeLiveUpdateArea([1, 2, 3], region: 1)
        #expect(fake.stores == ["bind=dax1.0", "unbind=dax1.0"])
        #expect(fake.driver("dax1.0") == nil)
        #expect(try backend.readLiveUpdateArea(region: 1) == nil)
        fake.setDriver("dax1.0", "kmem")
        let error = try #require(throws: BackendError.self) { try backend.writeLiveUpdateArea([1], region: 1) }
        #expect(error.message.contains("system-ram"))
    }
}
