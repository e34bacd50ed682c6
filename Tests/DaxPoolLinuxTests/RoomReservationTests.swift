import DaxPoolCore
import Foundation
import SystemPackage
import Testing

@testable import DaxPoolLinux

/// A device commit makes and reserves its room under the pools' room lock and allocates outside it: a slow
/// `fallocate` of one device holds up no other commit, and while it runs the region counts the reserved file in full.
@Suite("room reservations", .timeLimit(.minutes(20)))
struct RoomReservationTests {
    @Test("a second commit finishes while the first is between two pieces of its allocation, which counts in full")
    func secondCommitIsNotHeldUp() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let backend = ShmBackend(scrubThreads: 1)
        let region = try backend.createRegion(Scratch.region(root, size: .gibibytes(1)))
        let directory = FilePath(root)
        let pool = backend.pool(directory)
        let large = ByteCount.mebibytes(512)  // two pieces of HugetlbBackend.prefaultChunk
        let secondDone = DispatchSemaphore(value: 0)
        var checked = false
        var usageDuring: RegionFileUsage?
        var allocatedDuring: Int64 = 0
        try backend.provisionDevice(
            DeviceID(region: 0, instance: 1), size: large, extents: [], align: .page4K, in: region
        ) { committed, total in
            guard !checked, committed.rawValue > 0, committed < total else { return }
            checked = true
            allocatedDuring = Int64(Scratch.status("\(root)/dax0.1")?.st_blocks ?? 0) * 512
            usageDuring = try? pool.usage(operation: "test")
            // Another thread commits a device on the same region meanwhile: it must finish, not wait for this one.
            Thread {
                try? backend.provisionDevice(
                    DeviceID(region: 0, instance: 2), size: .mebibytes(2), extents: [], in: region)
                secondDone.signal()
            }.start()
            #expect(secondDone.wait(timeout: .now() + 60) == .success, "the second commit waited for the first")
        }
        #expect(checked, "the first commit reported no piece before its end")
        #expect(allocatedDuring < Int64(large.rawValue), "the first piece was the whole file")
        #expect(
            usageDuring?.devices ?? 0 >= Int64(large.rawValue),
            "the reserved file counted at \(usageDuring.map { "\($0.devices)" } ?? "nil")")
        #expect(Scratch.status("\(root)/dax0.2")?.st_size == 2 << 20)
        // Done: the reservation is gone and the region counts what the files hold.
        #expect(try pool.usage(operation: "test").devices == Int64(large.rawValue) + (2 << 20))
    }
}
