import DaxPoolCore
import DaxPoolLinux
import Glibc
import Synchronization
import SystemPackage
import Testing

@Suite("scrubber", .timeLimit(.minutes(20)))
struct ScrubberTests {
    /// Every implementation this CPU runs.
    static let kinds = ScrubKind.supported

    /// (length, offset of the start from a 4 KiB boundary).
    static let shapes: [(Int, Int)] = [
        (1, 0), (1, 63), (63, 1), (64, 0), (127, 1), (4095, 0), (4095, 1), (4096, 0), (4097, 13),
        ((2 << 20) + 17, 0), ((2 << 20) + 17, 5), ((2 << 20) - 1, 63), (3 << 20, 4095),
    ]

    @Test("the best implementation is the first the CPU supports, and memset is always there")
    func choosesAtRunTime() {
        #expect(ScrubKind.supported.last == .memset)
        #expect(ScrubKind.best == ScrubKind.supported.first)
        #expect(Scrubber().kind == .best)
        #expect(ScrubKind.sse2.isSupported, "every x86-64 CPU has SSE2")
        for kind in ScrubKind.allCases {
            #expect((Scrubber(kind: kind) != nil) == kind.isSupported)
        }
    }

    @Test("every implementation zeroes odd sizes at odd alignments and touches no byte outside", arguments: kinds)
    func zeroesExactly(kind: ScrubKind) throws {
        let scrubber = try #require(Scrubber(kind: kind))
        for (length, misalignment) in Self.shapes {
            let guardBytes = 256
            let total = length + misalignment + 2 * guardBytes + 4096
            let raw = UnsafeMutableRawBufferPointer.allocate(byteCount: total, alignment: 4096)
            defer { raw.deallocate() }
            raw.initializeMemory(as: UInt8.self, repeating: 0xA5)
            let start = guardBytes + misalignment
            let target = UnsafeMutableRawBufferPointer(rebasing: raw[start..<(start + length)])
            scrubber.zero(target)
            #expect(scrubber.verifyZero(UnsafeRawBufferPointer(target)), "\(kind) length \(length) at +\(misalignment)")
            #expect(raw[start - 1] == 0xA5 && raw[start + length] == 0xA5, "\(kind) wrote outside the buffer")
            #expect(raw[..<start].allSatisfy { $0 == 0xA5 } && raw[(start + length)...].allSatisfy { $0 == 0xA5 })
        }
    }

    @Test(
        "verifyZero finds a single non-zero byte anywhere, and its offset",
        arguments: [0, 1, 7, 8, 63, 64, 4095, 65_537, (2 << 20) + 16])
    func findsOneByte(offset: Int) {
        let length = (2 << 20) + 17
        let raw = UnsafeMutableRawBufferPointer.allocate(byteCount: length, alignment: 64)
        defer { raw.deallocate() }
        raw.initializeMemory(as: UInt8.self, repeating: 0)
        let scrubber = Scrubber()
        #expect(scrubber.verifyZero(UnsafeRawBufferPointer(raw)))
        raw[offset] = 0x01
        #expect(!scrubber.verifyZero(UnsafeRawBufferPointer(raw)))
        #expect(scrubber.firstNonZeroOffset(in: UnsafeRawBufferPointer(raw)) == offset)
        let unaligned = UnsafeRawBufferPointer(rebasing: raw[1...])
        #expect(scrubber.firstNonZeroOffset(in: unaligned) == (offset >= 1 ? offset - 1 : nil))
    }

    @Test("an empty buffer is fine and reports (0, 0)")
    func emptyBuffer() {
        let calls = Mutex<[[Int]]>([])
        Scrubber().zero(UnsafeMutableRawBufferPointer(start: nil, count: 0)) { done, total in
            calls.withLock { $0.append([done, total]) }
        }
        #expect(calls.withLock { $0 } == [[0, 0]])
        #expect(Scrubber().verifyZero(UnsafeRawBufferPointer(start: nil, count: 0)))
    }

    @Test("several threads zero a large buffer; progress rises on the calling thread and ends at the total")
    func threadsAndProgress() throws {
        let length = (96 << 20) + 4097
        let raw = UnsafeMutableRawBufferPointer.allocate(byteCount: length, alignment: 4096)
        defer { raw.deallocate() }
        raw.initializeMemory(as: UInt8.self, repeating: 0x5A)
        let caller = pthread_self()
        var reports: [Int] = []
        var onCaller = true
        Scrubber().zero(raw, threads: 4) { done, total in
            #expect(total == length)
            reports.append(done)
            onCaller = onCaller && pthread_equal(pthread_self(), caller) != 0
        }
        #expect(Scrubber().verifyZero(UnsafeRawBufferPointer(raw)))
        #expect(onCaller)
        #expect(reports.last == length)
        #expect(reports == reports.sorted(), "progress never goes back")
        #expect(reports.count >= 2)
    }

    @Test("scrubDeviceFile zeroes a file through a shared mapping and keeps its pages")
    func scrubsDeviceFile() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let path = "\(root)/dax0.0"
        Scratch.makeFile(path, byteCount: 0)
        let size = (4 << 20) + 4096
        let secret = [UInt8](repeating: 0xC3, count: size)
        Scratch.write(secret, to: path)
        let zeroed = try Scrubber().scrubDeviceFile(path: path, threads: 2)
        #expect(zeroed == ByteCount(UInt64(size)))
        let back = Scratch.read(size, from: path)
        #expect(back.count == size && back.allSatisfy { $0 == 0 })
        let status = try #require(Scratch.status(path))
        #expect(Int(status.st_blocks) * 512 >= size, "the pages stay allocated: the file is pre-faulted")
        #expect(status.st_size == size)
    }

    @Test("scrubDeviceFile of a missing file is a backend error naming the path")
    func missingFile() {
        let error = #expect(throws: BackendError.self) {
            try Scrubber().scrubDeviceFile(path: "/dev/shm/daxpool-no-such-file-\(getpid())")
        }
        #expect(error?.errno.rawValue == ENOENT)
        #expect(error?.operation == "scrub")
        #expect(error?.message.contains("daxpool-no-such-file") == true)
    }
}
