// `struct stat` is declared by the first clang module that includes <sys/stat.h>: in this target, CDispatch.
import CDispatch
import DaxPoolCore
import DaxPoolLinux
import Foundation
import Glibc
import SystemPackage
import Testing

/// An shm region that is its own tmpfs mount (root) changes its `size=` in place and keeps its files; a start
/// brings a mount a resize changed back to the state's size when the new size was never committed.
@Suite(
    "shm region resize", .timeLimit(.minutes(20)), .serialized,
    .enabled(if: geteuid() == 0, "needs root: each shm region is its own tmpfs mount only when the daemon is root"))
struct ShmResizeTests {
    let backend = ShmBackend(scrubThreads: 1, mountsRegions: true)

    /// The `size=` of the tmpfs mounted at `path`, in bytes.
    static func mountSize(_ path: String) throws -> UInt64? {
        try #require(try HugetlbMountInfo.mounted(at: path)).sizeOption
    }

    /// Runs `body` with a 16 MiB region holding a 4 MiB device full of 0x5A, unmounted and removed afterwards.
    func withRegion(_ body: (RegionConfig, DaxPoolCore.DeviceID, String) throws -> Void) throws {
        let root = try Scratch.makeDirectory()
        defer { RefusalLeftoverTests.unmountAndRemove(root, "\(root)/region0") }
        let region = try backend.createRegion(Scratch.region("\(root)/region0", size: .mebibytes(16)))
        let device = DaxPoolCore.DeviceID(region: 0, instance: 0)
        try backend.provisionDevice(device, size: .mebibytes(4), extents: [], in: region)
        let path = try #require(backend.devicePath(device, in: region))
        Scratch.write([UInt8](repeating: 0x5A, count: 4 << 20), to: path)
        try #require(try Self.mountSize(region.path) == 16 << 20)
        try body(region, device, path)
    }

    @Test("a region's own tmpfs grows and shrinks in place, and its device's bytes stay")
    func growAndShrinkInPlace() throws {
        try withRegion { region, device, path in
            let grown = try backend.resizeRegion(region, to: .mebibytes(32))
            #expect(grown.size == .mebibytes(32))
            #expect(try Self.mountSize(region.path) == 32 << 20)
            // The grown region holds a second device past the old size.
            let second = DaxPoolCore.DeviceID(region: 0, instance: 1)
            try backend.provisionDevice(second, size: .mebibytes(20), extents: [], in: grown)
            try backend.destroyDevice(second, in: grown)

            let shrunk = try backend.resizeRegion(grown, to: .mebibytes(8))
            #expect(shrunk.size == .mebibytes(8))
            #expect(try Self.mountSize(region.path) == 8 << 20)
            #expect(Scratch.read(4 << 20, from: path).allSatisfy { $0 == 0x5A }, "the device's memory is intact")
            #expect(backend.devicePath(device, in: shrunk) == path)
        }
    }

    @Test("a shrink below what the files hold is refused before anything changes: the mount and the pool stay")
    func shrinkBelowFilesRefused() throws {
        try withRegion { region, _, path in
            // A destroyed 2 MiB device leaves a ready file in the pool, which a shrink may evict only if it fits.
            let spare = DaxPoolCore.DeviceID(region: 0, instance: 1)
            try backend.provisionDevice(spare, size: .mebibytes(2), extents: [], in: region)
            try backend.destroyDevice(spare, in: region)
            let ready = backend.readyFiles(in: region)
            try #require(ready == [.mebibytes(2)])

            let error = try #require(throws: BackendError.self) {
                try backend.resizeRegion(region, to: .mebibytes(2))
            }
            #expect(error.errno.rawValue == EBUSY && error.message.contains("hold"), "\(error)")
            #expect(try Self.mountSize(region.path) == 16 << 20)
            #expect(backend.readyFiles(in: region) == ready, "the pool keeps its ready file")
            #expect(Scratch.read(4 << 20, from: path).allSatisfy { $0 == 0x5A })
        }
    }

    @Test("a start after a resize that was not committed brings the tmpfs back to the state's size, files untouched")
    func uncommittedResizeUndoneAtStart() throws {
        try withRegion { region, device, path in
            let devices = [(Scratch.record(device.instance), [Scratch.extent(0, .mebibytes(4))])]
            for size in [ByteCount.mebibytes(32), .mebibytes(8)] {
                // The daemon dies after the backend resized and before the journal committed: the state keeps 16M.
                _ = try backend.resizeRegion(region, to: size)
                try #require(try Self.mountSize(region.path) == size.rawValue)
                let report = try backend.reconcile(region, devices: devices, pendingScrubs: [], mode: .normal)
                #expect(report.doubts.isEmpty, "\(report.doubts)")
                #expect(report.notes.contains { $0.contains("not committed") }, "\(report.notes)")
                #expect(try Self.mountSize(region.path) == 16 << 20)
                #expect(Scratch.read(4 << 20, from: path).allSatisfy { $0 == 0x5A })
            }
        }
    }

    @Test("a start whose files no longer fit the state's size leaves the larger tmpfs as it is and is in doubt")
    func uncommittedGrowInUseIsDoubt() throws {
        try withRegion { region, device, path in
            _ = try backend.resizeRegion(region, to: .mebibytes(32))
            // The device's owner grew its file past the state's 16 MiB.
            try RefusalLeftoverTests.grow(path, to: 20 << 20)
            let devices = [(Scratch.record(device.instance), [Scratch.extent(0, .mebibytes(4))])]
            let report = try backend.reconcile(region, devices: devices, pendingScrubs: [], mode: .normal)
            #expect(report.doubts.contains { $0.contains("not committed") }, "\(report.doubts)")
            #expect(try Self.mountSize(region.path) == 32 << 20)
            #expect(Scratch.read(4 << 20, from: path).allSatisfy { $0 == 0x5A })
        }
    }
}
