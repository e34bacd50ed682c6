import DaxPoolCore
import PropertyBased
import Testing

@Suite("LiveUpdateArea", .timeLimit(.minutes(20)))
struct LiveUpdateAreaTests {
    static let mib: UInt64 = 1 << 20

    static func region(devices: Int = 3) throws -> RegionSnapshot {
        let config = RegionConfig(
            id: 0, backend: .devdax, size: ByteCount(1 << 30), align: .page1G, pageSize: .page2M, path: "/hmem.0",
            base: 0x1_4000_0000)
        var snapshots: [DeviceSnapshot] = []
        for index in 0..<devices {
            let record = DeviceRecord(
                id: DeviceID(region: 0, instance: index + 1), uuid: LabelUUID(high: 7, low: UInt64(index + 1)),
                name: try DeviceName(validating: "vm\(index)"), align: .page2M,
                state: index == 2 ? .disabled : .enabled,
                owner: 1000 + UInt32(index))
            let extents =
                index == 1
                ? [
                    Extent(start: RegionOffset(512 * mib), length: ByteCount(64 * mib)),
                    Extent(start: RegionOffset(UInt64(index) * 128 * mib), length: ByteCount(32 * mib)),
                ]
                : [Extent(start: RegionOffset(UInt64(index) * 128 * mib), length: ByteCount(64 * mib))]
            snapshots.append(DeviceSnapshot(record: record, extents: extents))
        }
        return RegionSnapshot(config: config, devices: snapshots, badBlocks: [])
    }

    @Test("a frame round-trips any payload, sequence and region")
    func frameRoundTrip() async throws {
        await propertyCheck(input: Gen.uint8().array(of: 0...600), Gen.uint64(), Gen.int(in: 0..<4096)) {
            payload, sequence, region in
            let frame = try LiveUpdateArea.encodeFrame(payload: payload, sequence: sequence, region: region)
            let decoded = try LiveUpdateArea.decodeFrame(frame[...])
            #expect(decoded.payload == payload && decoded.sequence == sequence && decoded.region == region)
        }
    }

    @Test("a whole area holds the label area and two equal copies; it decodes without damage")
    func wholeArea() throws {
        let region = try Self.region()
        let payload = Array("{\"layout\":true}".utf8)
        let area = try LiveUpdateArea.encode(
            payload: payload, labels: try LiveUpdateArea.labelBytes(for: region), sequence: 9, region: 0)
        #expect(area.count == LiveUpdateArea.size)
        let contents = LiveUpdateArea.decode(area)
        #expect(contents.damage.isEmpty && !contents.isBlank)
        #expect(contents.frame?.payload == payload && contents.frame?.sequence == 9)
        #expect(Set(contents.labelled ?? []) == Set(region.devices.map(LiveUpdateArea.namespace(of:))))
        #expect(contents.labelled?.first { $0.uuid == LabelUUID(high: 7, low: 2) }?.extents.count == 2)
    }

    @Test("every damaged byte of a copy is detected and the other copy is used; both damaged gives no layout")
    func everyDamagedByte() throws {
        let payload = Array("{\"devices\":[1,2,3],\"region\":0}".utf8)
        let area = try LiveUpdateArea.encode(payload: payload, labels: [], sequence: 3, region: 0)
        let frameLength = LiveUpdateArea.headerSize + payload.count
        for index in 0..<frameLength {
            for copy in LiveUpdateArea.copyOffsets {
                var damaged = area
                damaged[copy + index] ^= 0x5a
                let contents = LiveUpdateArea.decode(damaged)
                #expect(contents.frame?.payload == payload, "byte \(index) of the copy at \(copy)")
                #expect(
                    contents.damage.contains {
                        $0.hasPrefix(copy == LiveUpdateArea.copyOffsets[0] ? "the first" : "the second")
                    },
                    "byte \(index) of the copy at \(copy) is reported")
            }
            var both = area
            both[LiveUpdateArea.copyOffsets[0] + index] ^= 0x01
            both[LiveUpdateArea.copyOffsets[1] + index] ^= 0x80
            #expect(LiveUpdateArea.decode(both).frame == nil, "byte \(index) damaged in both copies")
        }
    }

    @Test("an area of zeros is blank, not damaged")
    func blank() {
        let contents = LiveUpdateArea.decode([UInt8](repeating: 0, count: LiveUpdateArea.size))
        #expect(contents.isBlank && contents.frame == nil && contents.damage.isEmpty)
    }

    @Test("a record larger than a copy is refused")
    func tooLarge() {
        #expect(throws: LiveUpdateAreaError.self) {
            try LiveUpdateArea.encodeFrame(
                payload: [UInt8](repeating: 1, count: LiveUpdateArea.copyCapacity), sequence: 1, region: 0)
        }
    }

    @Test("the comparison of two copies names every device field that differs and ignores leases")
    func differences() throws {
        let region = try Self.region()
        #expect(LiveUpdateRecord.differences(region, region).isEmpty)
        var other = region
        other.devices[0].record.owner = 0
        other.devices[1].extents.reverse()
        other.devices[2].record.state = .enabled
        other.devices.append(
            DeviceSnapshot(
                record: DeviceRecord(
                    id: DeviceID(region: 0, instance: 9), uuid: LabelUUID(high: 1, low: 1), name: nil, align: .page2M,
                    state: .enabled), extents: []))
        let found = LiveUpdateRecord.differences(region, other)
        #expect(found.count == 4)
        #expect(found.contains { $0.hasPrefix("dax0.1: owner 1000 against 0") })
        #expect(found.contains { $0.hasPrefix("dax0.2: ranges") })
        #expect(found.contains { $0.hasPrefix("dax0.3: mode disabled against enabled") })
        #expect(found.contains { $0.hasPrefix("dax0.9 is only in the second copy") })
        var leased = region
        leased.devices[0].record.leases = [Lease(pid: 42, uid: 0, startTime: 1)]
        #expect(LiveUpdateRecord.differences(region, leased).isEmpty)
    }

    @Test("the carve arguments of the lab's command lines are read with their ranges")
    func carve() {
        let carve = KernelCarve(
            commandLine:
                "console=ttyS0 memmap=1G%5G-1+0xefffffff dax_hmem.region_idle=1 memmap=4G!4G efi_fake_mem=2G@8G:0x40000\n"
        )
        #expect(carve.arguments == ["memmap=1G%5G-1+0xefffffff", "memmap=4G!4G", "efi_fake_mem=2G@8G:0x40000"])
        #expect(carve.ranges.map(\.kind) == ["soft-reserved", "pmem", "soft-reserved"])
        #expect(carve.ranges[0].start == 5 << 30 && carve.ranges[0].size == 1 << 30)
        #expect(carve.check(start: 0x1_4000_0000, size: 1 << 30) == .success("memmap=1G%5G-1+0xefffffff"))
        let hmem = KernelCarve(commandLine: "memmap=1G%5G-1+0xefffffff")
        #expect(hmem.check(start: 0x1_4000_0000 - (2 << 20), size: 1 << 30).map { _ in "" } != .success(""))
        #expect(carve.check(start: 0x10_0000_0000, size: 1 << 30) == .success(nil))
        #expect(KernelCarve.memparse("0x10M") == 16 << 20 && KernelCarve.memparse("010") == 8)
        #expect(KernelCarve.memparse("xyz") == nil && KernelCarve.memparse("16E") == nil)
    }
}
