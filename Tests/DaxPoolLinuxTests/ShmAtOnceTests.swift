import CLinuxShims
import DaxPoolCore
import DaxPoolLinux
import Foundation
import Glibc
import Synchronization
import Testing

/// The shm backend's quick cases, which the daemon runs on the request path: a new device takes a pooled file of
/// its size with a rename (`provisionDeviceAtOnce`), and a destroyed device's file that holds nothing to zero is
/// pooled without a store (`scrubRetiredAtOnce`). Everything else is left for the slow path, untouched.
@Suite("shm backend: provisioning and scrubbing at once", .timeLimit(.minutes(20)))
struct ShmAtOnceTests {
    let backend = ShmBackend()
    static let size = ByteCount.mebibytes(2)

    /// Runs `body` with a scratch region of `regionSize` and its device `dax0.0` of `size`, removed afterwards.
    func withDevice(
        size: ByteCount = Self.size, regionSize: ByteCount = .mebibytes(64),
        _ body: (String, RegionConfig, DeviceID) throws -> Void
    ) throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let region = try backend.createRegion(Scratch.region(root, size: regionSize))
        let device = DeviceID(region: 0, instance: 0)
        try backend.provisionDevice(device, size: size, extents: [], in: region)
        try body(root, region, device)
    }

    /// The names in the region's pool directory, sorted.
    static func pool(_ region: RegionConfig) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "\(region.path)/.pool")) ?? []).sorted()
    }

    @Test("a destroyed device nobody wrote is pooled at once, and the next device of its size takes it at once")
    func untouchedDeviceRoundTrip() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let region = try backend.createRegion(Scratch.region(root))
        let first = DeviceID(region: 0, instance: 0)
        #expect(try !backend.provisionDeviceAtOnce(first, size: Self.size, in: region), "the pool is empty")
        #expect(Scratch.status("\(root)/dax0.0") == nil, "nothing was made")
        try backend.provisionDevice(first, size: Self.size, extents: [], in: region)
        let inode = try #require(Scratch.status("\(root)/dax0.0")).st_ino

        try backend.retireDevice(first, token: "0a", in: region)
        #expect(try backend.scrubRetiredAtOnce(token: "0a", size: Self.size, in: region))
        let pooled = Self.pool(region)
        #expect(pooled.count == 1 && pooled[0].hasPrefix("clean.2097152."), "\(pooled)")

        let second = DeviceID(region: 0, instance: 1)
        #expect(try !backend.provisionDeviceAtOnce(second, size: .mebibytes(4), in: region), "no file of 4 MiB")
        #expect(try backend.provisionDeviceAtOnce(second, size: Self.size, in: region))
        let status = try #require(Scratch.status("\(root)/dax0.1"))
        #expect(status.st_ino == inode, "the same memory, renamed")
        #expect(status.st_size == Int(Self.size.rawValue) && Int(status.st_blocks) * 512 >= Int(Self.size.rawValue))
        #expect(status.st_mode & 0o7777 == 0o600 && status.st_uid == geteuid())
        #expect(Self.pool(region).isEmpty)
        #expect(Scratch.read(Int(Self.size.rawValue), from: "\(root)/dax0.1").allSatisfy { $0 == 0 })
        #expect(try !backend.provisionDeviceAtOnce(second, size: Self.size, in: region), "its file is there already")
        try backend.destroyDevice(second, in: region)
    }

    @Test(
        "a device taken at once is given to its owner through the proof's descriptor, mode 0600; a tampered file is not",
        .enabled(if: geteuid() == 0, "needs root to give a file to another uid"))
    func takenAtOnceForAnOwner() throws {
        try withDevice { root, region, device in
            try backend.retireDevice(device, token: "0b", in: region)
            #expect(try backend.scrubRetiredAtOnce(token: "0b", size: Self.size, in: region))
            let tenant: UInt32 = 54_321
            let next = DeviceID(region: 0, instance: 1)
            #expect(try backend.provisionDeviceAtOnce(next, size: Self.size, owner: tenant, in: region))
            let status = try #require(Scratch.status("\(root)/dax0.1"))
            #expect(status.st_uid == tenant && status.st_mode & 0o7777 == 0o600, "given to the owner, 0600")

            // Back in the pool, the daemon takes the file back from the tenant before it pools it again.
            try backend.retireDevice(next, token: "0c", in: region)
            #expect(try backend.scrubRetiredAtOnce(token: "0c", size: Self.size, in: region))
            let pooled = Self.pool(region)
            let name = try #require(pooled.first)
            let pooledStatus = try #require(Scratch.status("\(root)/.pool/\(name)"))
            #expect(pooledStatus.st_uid == geteuid() && pooledStatus.st_mode & 0o7777 == 0o600)

            // A pooled file someone opened to others is unlinked, never handed out to an owner either.
            chmod("\(root)/.pool/\(name)", 0o644)
            let third = DeviceID(region: 0, instance: 2)
            #expect(try !backend.provisionDeviceAtOnce(third, size: Self.size, owner: tenant, in: region))
            #expect(Scratch.status("\(root)/dax0.2") == nil && Self.pool(region).isEmpty)

            // The daemon's own device keeps the daemon as owner.
            try backend.provisionDevice(third, size: Self.size, extents: [], in: region)
            try backend.retireDevice(third, token: "0d", in: region)
            #expect(try backend.scrubRetiredAtOnce(token: "0d", size: Self.size, in: region))
            let fourth = DeviceID(region: 0, instance: 3)
            #expect(try backend.provisionDeviceAtOnce(fourth, size: Self.size, owner: geteuid(), in: region))
            let own = try #require(Scratch.status("\(root)/dax0.3"))
            #expect(own.st_uid == geteuid() && own.st_mode & 0o7777 == 0o600)
        }
    }

    @Test(
        "what else bears a clean file's name in the pool (a FIFO, a directory, a file with holes) is never handed out")
    func foreignNamesAreSkipped() throws {
        try withDevice { root, region, device in
            let pool = "\(root)/.pool"
            try FileManager.default.createDirectory(atPath: pool, withIntermediateDirectories: false)
            chmod(pool, 0o700)
            #expect(mkfifo("\(pool)/clean.2097152.fifo", 0o600) == 0)
            try FileManager.default.createDirectory(
                atPath: "\(pool)/clean.2097152.dir", withIntermediateDirectories: false)
            let sparse = open("\(pool)/clean.2097152.sparse", O_RDWR | O_CREAT | O_EXCL, 0o600)
            try #require(sparse >= 0)
            #expect(ftruncate(sparse, off_t(Self.size.rawValue)) == 0)
            close(sparse)
            let foreign = ["clean.2097152.dir", "clean.2097152.fifo", "clean.2097152.sparse"]

            let next = DeviceID(region: 0, instance: 1)
            #expect(try !backend.provisionDeviceAtOnce(next, size: Self.size, in: region), "no candidate is sound")
            #expect(Self.pool(region) == foreign, "each is left where it is")

            try backend.retireDevice(device, token: "0f", in: region)
            #expect(try backend.scrubRetiredAtOnce(token: "0f", size: Self.size, in: region))
            #expect(try backend.provisionDeviceAtOnce(next, size: Self.size, in: region), "the real clean file")
            #expect(Self.pool(region) == foreign)
            let status = try #require(Scratch.status("\(root)/dax0.1"))
            #expect(status.st_mode & S_IFMT == S_IFREG && Int(status.st_blocks) * 512 >= Int(Self.size.rawValue))
        }
    }

    @Test("two creates racing for one pooled file: one takes it, the other finds none, and the file is never lost")
    func takersRacingForOneFile() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let region = try backend.createRegion(Scratch.region(root))
        let backend = backend
        var instance = 0
        for round in 0..<200 {
            // One clean file in the pool: a device made, destroyed and pooled at once.
            let pooled = DeviceID(region: 0, instance: instance)
            try backend.provisionDevice(pooled, size: Self.size, extents: [], in: region)
            try backend.retireDevice(pooled, token: String(round + 1, radix: 16), in: region)
            #expect(try backend.scrubRetiredAtOnce(token: String(round + 1, radix: 16), size: Self.size, in: region))
            let takers = [DeviceID(region: 0, instance: instance + 1), DeviceID(region: 0, instance: instance + 2)]
            instance += 3
            let took = Mutex<[Bool]>([])
            DispatchQueue.concurrentPerform(iterations: 2) { index in
                let result = (try? backend.provisionDeviceAtOnce(takers[index], size: Self.size, in: region)) ?? false
                took.withLock { $0.append(result) }
            }
            let results = took.withLock { $0 }
            // Before takers claimed a file by renaming it, each could see the other's descriptor as another holder
            // and unlink the file: neither got it, and its memory went back to the kernel.
            #expect(results.filter { $0 }.count == 1, "round \(round): \(results)")
            #expect(Self.pool(region).isEmpty, "round \(round)")
            let files = takers.compactMap { Scratch.status("\(root)/\($0)") }
            #expect(files.count == 1 && files[0].st_size == Int(Self.size.rawValue), "round \(round)")
            for taker in takers { try backend.destroyDevice(taker, in: region) }
        }
    }

    @Test(
        "a pool directory swapped for a symbolic link, or opened to others, takes nothing: the destroyed file stays put"
    )
    func untrustedPoolDirectoryTakesNothing() throws {
        for attack in ["symlink", "mode 0777"] {
            try withDevice { root, region, device in
                // Someone else's directory, where a tenant could reach what is moved into it.
                let elsewhere = try Scratch.makeDirectory()
                defer { Scratch.remove(elsewhere) }
                if attack == "symlink" {
                    try #require(symlink(elsewhere, "\(root)/.pool") == 0)
                } else {
                    try #require(mkdir("\(root)/.pool", 0o700) == 0 && chmod("\(root)/.pool", 0o777) == 0)
                }
                #expect(throws: BackendError.self, "\(attack)") {
                    try backend.retireDevice(device, token: "0d", in: region)
                }
                #expect(Scratch.status("\(root)/dax0.0")?.st_size == Int(Self.size.rawValue), "\(attack)")
                #expect(Self.pool(region).isEmpty, "\(attack): nothing was moved into it")
                #expect(((try? FileManager.default.contentsOfDirectory(atPath: elsewhere)) ?? []).isEmpty, "\(attack)")
                // Moved away, as the error says, the destroy goes through.
                try #require(unlink("\(root)/.pool") == 0 || rmdir("\(root)/.pool") == 0)
                try backend.destroyDevice(device, in: region)
                #expect(Scratch.status("\(root)/dax0.0") == nil, "\(attack)")
            }
        }
    }

    @Test("a destroyed device its tenant wrote is left for the scrub thread, which zeroes it")
    func writtenDeviceIsLeft() throws {
        try withDevice { root, region, device in
            let secret = Array("TENANT-SECRET".utf8)
            let descriptor = open("\(root)/dax0.0", O_WRONLY)
            try #require(descriptor >= 0)
            #expect(pwrite(descriptor, secret, secret.count, 1 << 20) == secret.count)
            close(descriptor)

            try backend.retireDevice(device, token: "0b", in: region)
            #expect(try !backend.scrubRetiredAtOnce(token: "0b", size: Self.size, in: region))
            #expect(Self.pool(region) == ["dirty.0b"], "left as it was, never handed out")
            #expect(try !backend.provisionDeviceAtOnce(DeviceID(region: 0, instance: 1), size: Self.size, in: region))

            try backend.scrubRetired(token: "0b", size: Self.size, in: region) { _, _ in }
            let pooled = Self.pool(region)
            #expect(pooled.count == 1 && pooled[0].hasPrefix("clean."), "\(pooled)")
            #expect(Scratch.read(Int(Self.size.rawValue), from: "\(root)/.pool/\(pooled[0])").allSatisfy { $0 == 0 })
        }
    }

    @Test("a destroyed device above the size checked on the request path is left for the scrub thread")
    func largeDeviceIsLeft() throws {
        try withDevice(size: .mebibytes(128), regionSize: .mebibytes(256)) { _, region, device in
            try backend.retireDevice(device, token: "0c", in: region)
            #expect(try !backend.scrubRetiredAtOnce(token: "0c", size: .mebibytes(128), in: region))
            #expect(Self.pool(region) == ["dirty.0c"])
            #expect(try backend.scrubRetiredAtOnce(token: "0d", size: Self.size, in: region), "a file that is gone")
        }
    }

    @Test("a destroyed device someone still holds open is unlinked at once, never pooled")
    func heldDeviceIsUnlinked() throws {
        try withDevice { root, region, device in
            let holder = open("\(root)/dax0.0", O_RDONLY)
            try #require(holder >= 0)
            defer { close(holder) }

            try backend.retireDevice(device, token: "0e", in: region)
            #expect(try backend.scrubRetiredAtOnce(token: "0e", size: Self.size, in: region), "given back at once")
            #expect(Self.pool(region).isEmpty, "\(Self.pool(region))")
            #expect(try !backend.provisionDeviceAtOnce(DeviceID(region: 0, instance: 1), size: Self.size, in: region))
        }
    }
}
