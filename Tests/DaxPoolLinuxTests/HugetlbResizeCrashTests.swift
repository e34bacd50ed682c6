import DaxPoolCore
import DaxPoolLinux
import Foundation
import Glibc
import SystemPackage
import Testing

/// The daemon commits a region's new size only after the backend resized it: a crash in between leaves a mount and
/// a reservation of the new size under a state of the old one. The next start brings them back to the state.
@Suite(
    "hugetlb resize not committed", .timeLimit(.minutes(20)), .serialized,
    .enabled(if: HugetlbTestSupport.isRoot, HugetlbTestSupport.rootReason),
    .enabled(if: HugetlbResizeHost.givesPages, HugetlbResizeHost.reason))
struct HugetlbResizeCrashTests {
    let backend = HugetlbBackend(scrubThreads: 2)

    @Test(
        "a start after an uncommitted grow or shrink mounts the region at the state's size and puts its pages back",
        arguments: [(8, 24), (16, 4)])
    func uncommittedResizeUndone(from: Int, to: Int) throws {
        try HugetlbTestSupport.withPool { root in
            let base = HugetlbTestSupport.count(.page2M)
            let region = try backend.createRegion(
                HugetlbTestSupport.region("\(root)/region0", size: .mebibytes(UInt64(from))), vmemmapOptimization: .off)
            defer { try? backend.destroyRegion(region) }
            try #require(HugetlbTestSupport.count(.page2M) == base + from / 2)
            let record = try HugetlbResizeTests.record(root)
            let options = try HugetlbResizeTests.mountOptions(region.path)

            // The backend resized; the daemon died before the journal committed the new size.
            _ = try backend.resizeRegion(region, to: .mebibytes(UInt64(to)))
            try #require(HugetlbTestSupport.count(.page2M) == base + to / 2)

            let report = try backend.reconcile(region, devices: [], pendingScrubs: [], mode: .normal)
            #expect(report.doubts.isEmpty, "\(report.doubts)")
            #expect(report.notes.contains { $0.contains("not committed") }, "\(report.notes)")
            #expect(try HugetlbResizeTests.mountOptions(region.path) == options, "mounted at the state's size")
            #expect(HugetlbTestSupport.count(.page2M) == base + from / 2, "exactly the state's pages")
            #expect(try HugetlbResizeTests.record(root) == record)
            // The region works at its size, and a second start changes nothing.
            let device = DaxPoolCore.DeviceID(region: 0, instance: 0)
            try backend.provisionDevice(device, size: .mebibytes(UInt64(from)), extents: [], in: region)
            try backend.destroyDevice(device, in: region)
            let again = try backend.reconcile(region, devices: [], pendingScrubs: [], mode: .normal)
            #expect(again.notes.isEmpty && again.doubts.isEmpty)

            try backend.destroyRegion(region)
            #expect(HugetlbTestSupport.count(.page2M) == base)
        }
    }

    @Test("a start after an uncommitted grow whose mount holds a device file is in doubt and touches nothing")
    func uncommittedGrowWithDeviceIsDoubt() throws {
        try HugetlbTestSupport.withPool { root in
            let base = HugetlbTestSupport.count(.page2M)
            let region = try backend.createRegion(
                HugetlbTestSupport.region("\(root)/region0", size: .mebibytes(8)), vmemmapOptimization: .off)
            let grown = try backend.resizeRegion(region, to: .mebibytes(16))
            defer { try? HugetlbTestSupport.destroyAll(backend, grown) }
            let device = DaxPoolCore.DeviceID(region: 0, instance: 0)
            try backend.provisionDevice(device, size: .mebibytes(4), extents: [], in: grown)
            let path = try #require(backend.devicePath(device, in: grown))
            try HugetlbTestSupport.fill(path, with: 0x5A, count: 4 << 20)
            let options = try HugetlbResizeTests.mountOptions(region.path)
            let record = try HugetlbResizeTests.record(root)

            let report = try backend.reconcile(
                region, devices: [(HugetlbTestSupport.record(device), [Scratch.extent(0, .mebibytes(4))])],
                pendingScrubs: [], mode: .normal)
            #expect(report.doubts.contains { $0.contains("not committed") && $0.contains("dax0.0") }, "\(report)")
            #expect(try HugetlbResizeTests.mountOptions(region.path) == options)
            #expect(HugetlbTestSupport.count(.page2M) == base + 8)
            #expect(try HugetlbResizeTests.record(root) == record)
            #expect(Scratch.read(4 << 20, from: path).allSatisfy { $0 == 0x5A }, "the device's memory is intact")
        }
    }
}
