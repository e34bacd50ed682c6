import DaxPoolCore
import DaxPoolLinux
import Foundation
import Glibc
import Testing

/// One tenant writes a secret through its device's shared mapping, its device is destroyed through the backend,
/// and new devices are created over the same memory until the secret's physical pages have been handed out
/// again (a pool hit, or the kernel giving the freed pages to a fresh allocation). Every byte each new owner
/// reads must be zero.
///
/// Physical reuse is seen through `/proc/self/pagemap` (page frame numbers are visible to root only).
@Suite("tenant isolation", .timeLimit(.minutes(20)), .serialized)
struct TenantIsolationTests {
    /// The layouts new owners ask for, round after round (sizes in MiB): the same size, halves, one larger
    /// device, and so on, twice over.
    static let layouts: [[UInt64]] = [[16], [8, 8], [24], [16], [4, 4, 8], [16]]
    static let rounds = layouts + layouts

    @Test(
        "shm: a new owner never reads a destroyed device's bytes, whether the pool or the kernel hands them out",
        arguments: [true, false]
    )
    func shm(keepsScrubbedFiles: Bool) throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let backend = ShmBackend(scrubThreads: 2, keepsScrubbedFiles: keepsScrubbedFiles)
        let region = try backend.createRegion(Scratch.region(root, size: .mebibytes(64)))
        let reused = try TenantIsolationProbe.run(backend, region, rounds: Self.rounds)
        if TenantIsolationProbe.seesFrames {
            // A pool hit hands the same pages out again; the kernel hands freed 4 KiB pages back out first (per-CPU
            // free lists), but does not promise it.
            #expect(reused, "none of the secret's pages came back within \(Self.rounds.count) rounds")
        }
    }

    @Test(
        "hugetlb: a new owner never reads a destroyed device's bytes, whether the pool or the kernel hands them out",
        .enabled(if: HugetlbTestSupport.isRoot, HugetlbTestSupport.rootReason),
        arguments: [true, false]
    )
    func hugetlb(keepsScrubbedFiles: Bool) throws {
        try HugetlbTestSupport.withPool { root in
            let backend = HugetlbBackend(scrubThreads: 2, keepsScrubbedFiles: keepsScrubbedFiles)
            let region = try backend.createRegion(
                HugetlbTestSupport.region("\(root)/region0", size: .mebibytes(32)), vmemmapOptimization: .off)
            defer { try? HugetlbTestSupport.destroyAll(backend, region) }
            let reused = try TenantIsolationProbe.run(backend, region, rounds: Self.rounds)
            #expect(reused, "the secret's huge pages must be handed out again (pool hit or the node's free list)")
        }
    }
}

extension TenantIsolationTests {
    @Test(
        "hugetlb: memory waiting for its background scrub is never handed out, and after it a new owner reads zeros",
        .enabled(if: HugetlbTestSupport.isRoot, HugetlbTestSupport.rootReason)
    )
    func hugetlbRetiredThenScrubbed() throws {
        try HugetlbTestSupport.withPool { root in
            let backend = HugetlbBackend(scrubThreads: 2)
            let region = try backend.createRegion(
                HugetlbTestSupport.region("\(root)/region0", size: .mebibytes(32)), vmemmapOptimization: .off)
            defer { try? HugetlbTestSupport.destroyAll(backend, region) }
            let victim = DaxPoolCore.DeviceID(region: 0, instance: 0)
            try backend.provisionDevice(victim, size: .mebibytes(16), extents: [], in: region)
            let victimPath = try #require(backend.devicePath(victim, in: region))
            try TenantIsolationProbe.withMapping(victimPath, writable: true) { bytes in
                TenantIsolationProbe.fill(bytes, with: TenantIsolationProbe.secret)
            }
            try backend.retireDevice(victim, token: "0123abcd", in: region)
            #expect(!FileManager.default.fileExists(atPath: victimPath), "the path is gone when destroy answers")

            // While the old memory waits, a device of the same size gets other memory, and reads zeros.
            let waiting = DaxPoolCore.DeviceID(region: 0, instance: 1)
            try backend.provisionDevice(waiting, size: .mebibytes(16), extents: [], in: region)
            let waitingPath = try #require(backend.devicePath(waiting, in: region))
            let waitingNonZero = try TenantIsolationProbe.withMapping(waitingPath, writable: false) { bytes in
                TenantIsolationProbe.firstNonZero(UnsafeRawBufferPointer(bytes))
            }
            #expect(waitingNonZero == nil)
            try backend.destroyDevice(waiting, in: region)

            var reports: [(ByteCount, ByteCount)] = []
            try backend.scrubRetired(token: "0123abcd", size: .mebibytes(16), in: region) { done, total in
                reports.append((done, total))
            }
            #expect(reports.last.map { $0.0 == .mebibytes(16) && $0.1 == .mebibytes(16) } == true)
            #expect(zip(reports, reports.dropFirst()).allSatisfy { $0.0 <= $1.0 })

            // Both pooled files are scrubbed: whichever a new owner gets, it reads zeros.
            for instance in 2...3 {
                let device = DaxPoolCore.DeviceID(region: 0, instance: instance)
                try backend.provisionDevice(device, size: .mebibytes(16), extents: [], in: region)
                let path = try #require(backend.devicePath(device, in: region))
                let nonZero = try TenantIsolationProbe.withMapping(path, writable: false) { bytes in
                    TenantIsolationProbe.firstNonZero(UnsafeRawBufferPointer(bytes))
                }
                #expect(nonZero == nil, "\(device) reads a non-zero byte at \(nonZero ?? 0)")
            }
            // A token that is no hex number cannot name another file.
            #expect(throws: BackendError.self) {
                try backend.scrubRetired(token: "../dax0.2", size: .mebibytes(16), in: region) { _, _ in }
            }
        }
    }
}

/// Writes, destroys and reads back device memory with plain libc, so it checks the backends instead of reusing
/// their code.
enum TenantIsolationProbe {
    static let secret = Array("TENANT-A-SECRET!".utf8)

    /// Whether `/proc/self/pagemap` shows page frame numbers (root only).
    static var seesFrames: Bool { geteuid() == 0 }

    /// Writes the secret over a 16 MiB device, destroys it (disabled first, as a VMM's operator would), then for
    /// each round creates devices of the round's sizes in MiB, checks that every byte they read is zero, and
    /// destroys them again. Stops after the round in which one of the secret's pages was handed out again.
    /// - Returns: whether any of the secret's physical pages was seen again.
    static func run(_ backend: any MemoryBackend, _ region: RegionConfig, rounds: [[UInt64]]) throws -> Bool {
        let victim = DaxPoolCore.DeviceID(region: region.id, instance: 0)
        try backend.provisionDevice(victim, size: .mebibytes(16), extents: [], in: region)
        let secretFrames = try withMapping(try #require(backend.devicePath(victim, in: region)), writable: true) {
            bytes in
            fill(bytes, with: secret)
            return frames(of: UnsafeRawBufferPointer(bytes))
        }
        try backend.setDeviceEnabled(victim, enabled: false, in: region)
        try backend.destroyDevice(victim, in: region)

        var reused = false
        for (round, sizes) in rounds.enumerated() {
            var devices: [DaxPoolCore.DeviceID] = []
            for (index, mebibytes) in sizes.enumerated() {
                let device = DaxPoolCore.DeviceID(region: region.id, instance: 1 + index)
                try backend.provisionDevice(device, size: .mebibytes(mebibytes), extents: [], in: region)
                devices.append(device)
                let path = try #require(backend.devicePath(device, in: region))
                let (nonZero, seen) = try withMapping(path, writable: false) { bytes in
                    (firstNonZero(UnsafeRawBufferPointer(bytes)), frames(of: UnsafeRawBufferPointer(bytes)))
                }
                #expect(
                    nonZero == nil,
                    "round \(round): \(device) (\(mebibytes) MiB) reads a non-zero byte at \(nonZero ?? 0)")
                reused = reused || !seen.isDisjoint(with: secretFrames)
            }
            for device in devices {
                try backend.destroyDevice(device, in: region)
            }
            if reused { break }
        }
        return reused
    }

    /// Maps the file at `path` shared and runs `body` on its bytes.
    static func withMapping<Result>(
        _ path: String,
        writable: Bool,
        _ body: (UnsafeMutableRawBufferPointer) throws -> Result
    ) throws -> Result {
        let descriptor = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC)
        guard descriptor >= 0 else { throw HugetlbTestError("open \(path): \(errno)") }
        defer { close(descriptor) }
        let length = Int(Scratch.status(path)?.st_size ?? 0)
        let protection = writable ? PROT_READ | PROT_WRITE : PROT_READ
        let mapping = mmap(nil, length, protection, MAP_SHARED, descriptor, 0)
        guard let mapping, mapping != MAP_FAILED else { throw HugetlbTestError("mmap \(path): \(errno)") }
        defer { munmap(mapping, length) }
        return try body(UnsafeMutableRawBufferPointer(start: mapping, count: length))
    }

    /// Repeats `pattern` over all of `bytes` (copying what is written so far, so it runs at `memcpy` speed).
    static func fill(_ bytes: UnsafeMutableRawBufferPointer, with pattern: [UInt8]) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        var written = min(pattern.count, bytes.count)
        for (index, byte) in pattern.prefix(written).enumerated() { bytes[index] = byte }
        while written < bytes.count {
            let count = min(written, bytes.count - written)
            memcpy(base + written, base, count)
            written += count
        }
    }

    /// The offset of the first non-zero byte, or `nil`: `memcmp` against zeros 64 KiB at a time.
    static func firstNonZero(_ bytes: UnsafeRawBufferPointer) -> Int? {
        let zeros = [UInt8](repeating: 0, count: 1 << 16)
        guard let base = bytes.baseAddress else { return nil }
        return zeros.withUnsafeBytes { zero -> Int? in
            guard let zeroBase = zero.baseAddress else { return nil }
            for start in stride(from: 0, to: bytes.count, by: zero.count) {
                let count = min(zero.count, bytes.count - start)
                if memcmp(base + start, zeroBase, count) != 0 {
                    return (start..<start + count).first { bytes[$0] != 0 }
                }
            }
            return nil
        }
    }

    /// The page frame numbers behind the (touched) 4 KiB pages of `bytes`, from `/proc/self/pagemap`; empty
    /// without root, where the kernel reports them as 0.
    static func frames(of bytes: UnsafeRawBufferPointer) -> Set<UInt64> {
        guard seesFrames, let base = bytes.baseAddress, bytes.count > 0 else { return [] }
        let pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC)
        guard pagemap >= 0 else { return [] }
        defer { close(pagemap) }
        let pages = (bytes.count + 4095) / 4096
        var entries = [UInt64](repeating: 0, count: pages)
        let offset = off_t(Int(bitPattern: base) / 4096 * 8)
        let read = entries.withUnsafeMutableBytes { pread(pagemap, $0.baseAddress, $0.count, offset) }
        guard read == pages * 8 else { return [] }
        return Set(entries.filter { $0 >> 63 == 1 }.map { $0 & ((1 << 55) - 1) }.filter { $0 != 0 })
    }
}
