import DaxPoolLinux
import Testing

@Suite("devdax layout plans", .timeLimit(.minutes(20)))
struct DevDaxLayoutTests {
    static let mib: UInt64 = 1 << 20
    static let base: UInt64 = 0x1_4000_0000

    /// `[start, start + length)` in MiB from the region base.
    static func range(_ start: UInt64, _ length: UInt64) -> DevDaxRange {
        DevDaxRange(start: base + start * mib, last: base + (start + length) * mib - 1)
    }

    static func plan(_ current: [DevDaxRange], _ currentAlign: UInt64, _ wanted: [DevDaxRange], _ wantedAlign: UInt64)
        -> [DevDaxLayoutPlan.Step]
    {
        DevDaxLayoutPlan(current: current, currentAlign: currentAlign, wanted: wanted, wantedAlign: wantedAlign).steps
    }

    @Test("a new device gets one mapping store per range, in device order")
    func newDevice() {
        let wanted = [Self.range(512, 256), Self.range(0, 256)]
        #expect(Self.plan([], 2 * Self.mib, wanted, 2 * Self.mib) == wanted.map { .addMapping($0) })
    }

    @Test("a new 1G device sets align before its mappings")
    func newHugeDevice() {
        let wanted = [Self.range(0, 1024)]
        #expect(Self.plan([], 2 * Self.mib, wanted, 1 << 30) == [.setAlign(1 << 30), .addMapping(wanted[0])])
    }

    @Test("growing into a new range appends it, and the existing ranges stay")
    func growWithNewRange() {
        let current = [Self.range(256, 256)]
        let wanted = current + [Self.range(0, 256)]
        #expect(Self.plan(current, 2 * Self.mib, wanted, 2 * Self.mib) == [.addMapping(Self.range(0, 256))])
    }

    @Test("growing the last range in place empties the device and writes the longer range, never size")
    func growInPlace() {
        let current = [Self.range(512, 256)]
        let wanted = [Self.range(512, 512)]
        #expect(Self.plan(current, 2 * Self.mib, wanted, 2 * Self.mib) == [.setSize(0), .addMapping(wanted[0])])
    }

    @Test("keeps the matching prefix and rewrites the rest")
    func keepPrefix() {
        let current = [Self.range(0, 128), Self.range(256, 128), Self.range(512, 128)]
        let wanted = [Self.range(0, 128), Self.range(256, 256), Self.range(768, 128)]
        #expect(
            Self.plan(current, 2 * Self.mib, wanted, 2 * Self.mib) == [
                .setSize(128 * Self.mib), .addMapping(wanted[1]), .addMapping(wanted[2]),
            ])
    }

    @Test("shrinking is a size store, as the kernel trims from the last range")
    func shrink() {
        let current = [Self.range(0, 256), Self.range(512, 256)]
        #expect(Self.plan(current, 2 * Self.mib, [Self.range(0, 256)], 2 * Self.mib) == [.setSize(256 * Self.mib)])
        #expect(
            Self.plan(current, 2 * Self.mib, [Self.range(0, 256), Self.range(512, 128)], 2 * Self.mib) == [
                .setSize(384 * Self.mib)
            ])
    }

    @Test("align goes down before the trim and up after it")
    func alignOrder() {
        let big = [Self.range(0, 1024)]
        #expect(
            Self.plan(big, 1 << 30, [Self.range(0, 512)], 2 * Self.mib) == [
                .setAlign(2 * Self.mib), .setSize(512 * Self.mib),
            ])
        let small = [Self.range(0, 2), Self.range(8, 2)]
        #expect(
            Self.plan(small, 2 * Self.mib, big, 1 << 30) == [.setSize(0), .setAlign(1 << 30), .addMapping(big[0])])
        #expect(Self.plan(big, 2 * Self.mib, big, 1 << 30) == [.setAlign(1 << 30)])
    }

    @Test("an identical layout needs nothing, and an absent align attribute is never written")
    func identical() {
        let layout = [Self.range(0, 256), Self.range(512, 256)]
        #expect(Self.plan(layout, 2 * Self.mib, layout, 2 * Self.mib).isEmpty)
        #expect(DevDaxLayoutPlan(current: [], currentAlign: nil, wanted: layout, wantedAlign: 1 << 30).steps.count == 2)
    }

    @Test("page offsets count 4 KiB pages from the device start")
    func pageOffsets() {
        #expect(DevDaxLayoutPlan.pageOffsets(of: [Self.range(0, 256), Self.range(512, 512)]) == [0, 0x10000])
        #expect(Self.range(0, 256).description == "0x140000000-0x14fffffff")
    }
}
