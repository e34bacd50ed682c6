import CLinuxShims
import DaxPoolCore
import Foundation
import Glibc

/// Scratch directories and raw file checks for the tests, written with plain libc so that they check the code
/// under test instead of reusing it.
enum Scratch {
    /// A new empty directory under `base` (default `/dev/shm`); remove it with `remove(_:)`.
    static func makeDirectory(under base: String = "/dev/shm") throws -> String {
        let path = "\(base)/daxpool-test-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        return path
    }

    /// Removes `path` and everything below it.
    static func remove(_ path: String) {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// `lstat(2)` of `path`, or `nil` when nothing is there.
    static func status(_ path: String) -> stat? {
        var info = stat()
        return lstat(path, &info) == 0 ? info : nil
    }

    static func exists(_ path: String) -> Bool { status(path) != nil }

    /// The `statfs(2)` magic number of the filesystem holding `path`.
    static func fileSystemType(_ path: String) -> Int? {
        var type = 0
        return cshim_statfs_type(path, &type) == 0 ? type : nil
    }

    /// Creates (or truncates) `path` with `byteCount` bytes, not allocated.
    static func makeFile(_ path: String, byteCount: Int = 0) {
        let descriptor = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0o644)
        precondition(descriptor >= 0, "open \(path): \(errno)")
        precondition(ftruncate(descriptor, off_t(byteCount)) == 0)
        close(descriptor)
    }

    static func write(_ bytes: [UInt8], to path: String, at offset: Int = 0) {
        let descriptor = open(path, O_WRONLY | O_CLOEXEC)
        precondition(descriptor >= 0, "open \(path): \(errno)")
        defer { close(descriptor) }
        precondition(
            bytes.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, off_t(offset)) } == bytes.count)
    }

    static func read(_ count: Int, from path: String, at offset: Int = 0) -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        precondition(descriptor >= 0, "open \(path): \(errno)")
        defer { close(descriptor) }
        var bytes = [UInt8](repeating: 0, count: count)
        let got = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, off_t(offset)) }
        return Array(bytes.prefix(max(got, 0)))
    }

    /// A shm region config rooted at `path`.
    static func region(_ path: String, id: Int = 0, size: ByteCount = .mebibytes(64)) -> RegionConfig {
        RegionConfig(id: id, backend: .shm, size: size, align: .page2M, pageSize: .page4K, targetNode: nil, path: path)
    }

    /// A device record with a fixed UUID.
    static func record(_ instance: Int, region: Int = 0, state: DeviceState = .enabled) -> DeviceRecord {
        DeviceRecord(
            id: DeviceID(region: region, instance: instance),
            uuid: LabelUUID(high: 0x1234_5678_9abc_4def, low: 0x8000_0000_0000_0000 | UInt64(instance)),
            name: nil,
            align: .page4K,
            state: state
        )
    }

    /// One extent of `length` at `start`.
    static func extent(_ start: UInt64, _ length: ByteCount) -> Extent {
        Extent(start: RegionOffset(start), length: length)
    }
}
