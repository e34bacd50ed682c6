// `struct stat` is declared by the first clang module that includes <sys/stat.h>: in this target, CDispatch.
import CDispatch
import DaxPoolCore
import DaxPoolLinux
import Foundation
import Glibc
import Testing

/// An shm region's own tmpfs mount (root) gives its files transparent huge pages where a whole one fits
/// (`huge=within_size`): a VM maps a 2 MiB-aligned device with 2 MiB pages, and a destroyed device's file is still
/// told apart as written or untouched, and zeroed, page by page as before.
@Suite(
    "shm region huge pages", .timeLimit(.minutes(20)), .serialized,
    .enabled(if: geteuid() == 0, "needs root: each shm region is its own tmpfs mount only when the daemon is root"))
struct ShmHugePagesTests {
    let backend = ShmBackend(scrubThreads: 1, mountsRegions: true)
    static let size = ByteCount.mebibytes(4)

    /// Runs `body` with a 64 MiB region holding a 4 MiB device, unmounted and removed afterwards; `body` is not run
    /// when the kernel mounted the region without huge pages (the recording fake's test covers that fallback).
    func withDevice(_ body: (RegionConfig, DaxPoolCore.DeviceID, String) throws -> Void) throws {
        let root = try Scratch.makeDirectory()
        defer { RefusalLeftoverTests.unmountAndRemove(root, "\(root)/region0") }
        let region = try backend.createRegion(Scratch.region("\(root)/region0", size: .mebibytes(64)))
        let options = try #require(try HugetlbMountInfo.mounted(at: region.path)).superOptions
        guard options.contains("huge=within_size") else {
            print("ShmHugePagesTests: this kernel mounts tmpfs without huge pages (\(options)); nothing to check")
            return
        }
        let device = DaxPoolCore.DeviceID(region: 0, instance: 0)
        try backend.provisionDevice(device, size: Self.size, extents: [], in: region)
        try body(region, device, try #require(backend.devicePath(device, in: region)))
    }

    /// The whole text of a `/proc` file, read to its end (its size says 0).
    static func readAll(_ path: String) -> String {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { return "" }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = read(descriptor, &chunk, chunk.count)
            guard count > 0 else { break }
            bytes += chunk[0..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// A counter of `/proc/vmstat`.
    static func vmstat(_ name: String) -> Int {
        let text = readAll("/proc/vmstat")
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count == 2, fields[0] == name { return Int(fields[1]) ?? 0 }
        }
        return 0
    }

    /// The kibibytes of the mapping that starts at `address` mapped with PMD (2 MiB) entries, from
    /// `/proc/self/smaps`.
    static func pmdMappedKiB(at address: UnsafeMutableRawPointer) -> Int {
        let start = String(UInt(bitPattern: address), radix: 16)
        let text = readAll("/proc/self/smaps")
        var inMapping = false
        var total = 0
        for line in text.split(separator: "\n") {
            if let first = line.split(separator: " ").first, first.contains("-") {
                inMapping = first.split(separator: "-").first.map { String($0) == start } ?? false
            } else if inMapping, line.hasPrefix("ShmemPmdMapped:") || line.hasPrefix("FilePmdMapped:") {
                total += Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
            }
        }
        return total
    }

    @Test("a VM maps a device of the region's own mount with 2 MiB pages")
    func deviceMappedWithHugePages() throws {
        try withDevice { _, _, path in
            let fallbacksBefore = Self.vmstat("thp_file_fallback")
            let descriptor = open(path, O_RDWR)
            try #require(descriptor >= 0)
            defer { close(descriptor) }
            let length = Int(Self.size.rawValue)
            let mapping = try #require(mmap(nil, length, PROT_READ | PROT_WRITE, MAP_SHARED, descriptor, 0))
            try #require(mapping != MAP_FAILED)
            defer { munmap(mapping, length) }
            // As a guest does: it writes its memory.
            for offset in stride(from: 0, to: length, by: 4096) {
                mapping.storeBytes(of: 0xA5, toByteOffset: offset, as: UInt8.self)
            }
            let mapped = Self.pmdMappedKiB(at: mapping)
            // The kernel falls back to small pages only when it has no free 2 MiB page, and counts it.
            if Self.vmstat("thp_file_fallback") == fallbacksBefore {
                #expect(mapped >= 2048, "\(mapped) KiB mapped with 2 MiB pages")
            }
        }
    }

    @Test("a destroyed device is pooled at once when untouched, and zeroed when written, in huge pages too")
    func writtenAndUntouchedInHugePages() throws {
        try withDevice { region, device, _ in
            // Untouched: one huge page each, nothing to zero.
            try backend.retireDevice(device, token: "0a", in: region)
            #expect(try backend.scrubRetiredAtOnce(token: "0a", size: Self.size, in: region))
            let second = DaxPoolCore.DeviceID(region: 0, instance: 1)
            #expect(try backend.provisionDeviceAtOnce(second, size: Self.size, in: region))
            let secondPath = try #require(backend.devicePath(second, in: region))

            // Written: a few bytes in the second huge page of the file make the whole file one to zero.
            let secret = Array("TENANT-SECRET".utf8)
            let descriptor = open(secondPath, O_WRONLY)
            try #require(descriptor >= 0)
            #expect(pwrite(descriptor, secret, secret.count, (2 << 20) + 4097) == secret.count)
            close(descriptor)
            try backend.retireDevice(second, token: "0b", in: region)
            #expect(try !backend.scrubRetiredAtOnce(token: "0b", size: Self.size, in: region), "left for the scrub")
            try backend.scrubRetired(token: "0b", size: Self.size, in: region) { _, _ in }
            let pooled = ((try? FileManager.default.contentsOfDirectory(atPath: "\(region.path)/.pool")) ?? [])
                .filter { $0.hasPrefix("clean.") }
            #expect(pooled.count == 1, "\(pooled)")
            for name in pooled {
                #expect(
                    Scratch.read(Int(Self.size.rawValue), from: "\(region.path)/.pool/\(name)").allSatisfy { $0 == 0 })
            }
        }
    }
}
