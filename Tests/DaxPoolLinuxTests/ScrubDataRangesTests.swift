import CLinuxShims
import DaxPoolCore
import DaxPoolLinux
import Glibc
import Testing

/// A device file's scrub stores only to the ranges that may hold data: what a tenant wrote is zeroed, pages it never
/// wrote are left for the kernel to clear, a file with holes is zeroed whole, and the whole file reads zero after.
@Suite("scrub of a file's data ranges", .timeLimit(.minutes(20)))
struct ScrubDataRangesTests {
    static let mebibyte = 1 << 20

    /// The data ranges of the file at `path` (`SEEK_DATA`/`SEEK_HOLE`).
    static func dataRanges(_ path: String) -> [Range<Int>] {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { return [] }
        defer { close(descriptor) }
        let size = Int(lseek(descriptor, 0, SEEK_END))
        var ranges: [Range<Int>] = []
        var offset = 0
        while offset < size {
            let start = lseek(descriptor, off_t(offset), cshim_SEEK_DATA)
            guard start >= 0 else { break }
            let end = lseek(descriptor, start, cshim_SEEK_HOLE)
            ranges.append(Int(start)..<Int(end))
            offset = Int(end)
        }
        return ranges
    }

    /// A committed 8 MiB file on tmpfs that a tenant wrote through write(2) and through a mapping.
    static func writtenFile(_ path: String, size: Int) throws -> CInt {
        let descriptor = open(path, O_RDWR | O_CREAT | O_EXCL, 0o600)
        try #require(descriptor >= 0)
        // Committed as a device is: every page allocated, none written yet.
        try #require(cshim_fallocate(descriptor, 0, 0, off_t(size)) == 0)
        #expect(Self.dataRanges(path).isEmpty, "tmpfs reports allocated pages nobody wrote as holes")
        Scratch.write([UInt8](repeating: 0xA5, count: 4096), to: path, at: Self.mebibyte)
        let mapped = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, descriptor, 0)
        let base = try #require(mapped == MAP_FAILED ? nil : mapped)
        (base + 3 * Self.mebibyte).initializeMemory(as: UInt8.self, repeating: 0x5A, count: 8192)
        munmap(base, size)
        Scratch.write([UInt8](repeating: 0xC3, count: Self.mebibyte), to: path, at: 7 * Self.mebibyte)
        return descriptor
    }

    @Test("what a tenant wrote is zeroed and the pages it never wrote are not stored to")
    func zeroesWrittenRangesOnly() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let path = "\(root)/dax0.0"
        let size = 8 * Self.mebibyte
        let descriptor = try Self.writtenFile(path, size: size)
        defer { close(descriptor) }
        let written = Self.dataRanges(path)
        #expect(
            written == [
                Self.mebibyte..<(Self.mebibyte + 4096), (3 * Self.mebibyte)..<(3 * Self.mebibyte + 8192),
                (7 * Self.mebibyte)..<(8 * Self.mebibyte),
            ])

        var reports: [Int] = []
        let zeroed = try Scrubber().scrubDeviceFile(path: path, threads: 2) { done, total in
            #expect(total == size)
            reports.append(done)
        }

        #expect(zeroed == ByteCount(UInt64(size)))
        // Checked before anything reads the file: a read of an unwritten page may initialise it.
        #expect(
            Self.dataRanges(path) == written,
            "the scrub stored to the written ranges only: the rest is still unwritten, for the kernel to clear")
        let back = Scratch.read(size, from: path)
        #expect(back.count == size)
        #expect(back.firstIndex { $0 != 0 } == nil, "every byte reads zero")
        #expect(Int(try #require(Scratch.status(path)).st_blocks) * 512 >= size, "every page stays allocated")
        #expect(reports == reports.sorted(), "progress never goes back")
        #expect(reports.last == size)
    }

    @Test("a file with a hole its owner punched is zeroed whole and every page of it is allocated again")
    func punchedFile() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let path = "\(root)/dax0.2"
        let size = 8 * Self.mebibyte
        let descriptor = try Self.writtenFile(path, size: size)
        defer { close(descriptor) }
        let punch = cshim_FALLOC_FL_PUNCH_HOLE | cshim_FALLOC_FL_KEEP_SIZE
        try #require(cshim_fallocate(descriptor, punch, off_t(6 * Self.mebibyte), off_t(Self.mebibyte)) == 0)
        #expect(Int(try #require(Scratch.status(path)).st_blocks) * 512 < size)

        try Scrubber().scrubDeviceFile(path: path)

        #expect(Self.dataRanges(path) == [0..<size], "every page was faulted in and zeroed")
        #expect(Int(try #require(Scratch.status(path)).st_blocks) * 512 >= size, "the hole is allocated again")
        #expect(Scratch.read(size, from: path).allSatisfy { $0 == 0 })
    }

    @Test("a file nobody wrote is scrubbed without a store, and its pages stay allocated")
    func untouchedFile() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let path = "\(root)/dax0.1"
        let size = 2 * Self.mebibyte
        let descriptor = open(path, O_RDWR | O_CREAT | O_EXCL, 0o600)
        try #require(descriptor >= 0)
        defer { close(descriptor) }
        try #require(cshim_fallocate(descriptor, 0, 0, off_t(size)) == 0)

        var reports: [Int] = []
        let zeroed = try Scrubber().scrubDeviceFile(path: path) { done, _ in reports.append(done) }

        #expect(zeroed == ByteCount(UInt64(size)))
        #expect(Self.dataRanges(path).isEmpty)
        #expect(Scratch.read(size, from: path).allSatisfy { $0 == 0 })
        #expect(Int(try #require(Scratch.status(path)).st_blocks) * 512 >= size)
        #expect(reports == [size])
    }
}
