// Linux only.
import CLinuxShims
import Foundation
import Glibc

/// Why a benchmark step could not run.
struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }

    /// `what` failed with the current `errno`.
    static func errno(_ what: String) -> BenchError {
        BenchError("\(what): \(String(cString: strerror(Glibc.errno)))")
    }
}

func onlineProcessors() -> Int { max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN))) }

/// A fresh directory under `parent`, removed by `remove()`.
struct TemporaryDirectory {
    let path: String

    init(under parent: String = "/var/tmp", prefix: String) throws {
        var template = Array("\(parent)/\(prefix)-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { buffer in buffer.baseAddress.flatMap { mkdtemp($0) } }
        guard let made else { throw BenchError.errno("mkdtemp \(parent)") }
        path = String(cString: made)
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// Runs `body` on a thread of its own and waits for it, so that blocking calls (sockets, fsync) never hold one of
/// Swift's cooperative threads, which the daemon under test needs.
func onThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        let thread = Thread { continuation.resume(returning: body()) }
        thread.stackSize = 8 << 20
        thread.start()
    }
}

/// Runs `body(index)` on `count` threads at once (index 0 on the calling thread) and waits for all.
func inParallel(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    guard count > 1 else {
        body(0)
        return
    }
    let group = DispatchGroup()
    for index in 1..<count {
        group.enter()
        let thread = Thread {
            body(index)
            group.leave()
        }
        thread.start()
    }
    body(0)
    group.wait()
}

/// Anonymous or file memory mapped for a benchmark, unmapped by `unmap()`.
struct Mapping: @unchecked Sendable {
    // SAFETY: benchmarks hand the pointer to worker threads that write disjoint slices and are joined before the
    // mapping is used again or unmapped.
    let base: UnsafeMutableRawPointer
    let length: Int

    /// Private anonymous memory.
    static func anonymous(_ length: Int) throws -> Mapping {
        let pointer = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        guard let pointer, pointer != MAP_FAILED else { throw BenchError.errno("mmap anonymous \(length)") }
        return Mapping(base: pointer, length: length)
    }

    /// A shared mapping of `length` bytes of `descriptor`, optionally with `MAP_POPULATE`.
    static func shared(_ descriptor: Int32, length: Int, populate: Bool = false) throws -> Mapping {
        let flags = MAP_SHARED | (populate ? MAP_POPULATE : 0)
        let pointer = mmap(nil, length, PROT_READ | PROT_WRITE, flags, descriptor, 0)
        guard let pointer, pointer != MAP_FAILED else { throw BenchError.errno("mmap shared \(length)") }
        return Mapping(base: pointer, length: length)
    }

    /// Writes one byte in every `stride` bytes: the first touch a VMM's guest would cause.
    func touch(stride: Int) {
        var offset = 0
        while offset < length {
            base.storeBytes(of: 1, toByteOffset: offset, as: UInt8.self)
            offset += stride
        }
    }

    func advise(_ advice: Int32) throws {
        guard madvise(base, length, advice) == 0 else { throw BenchError.errno("madvise \(advice)") }
    }

    func unmap() { munmap(base, length) }
}

/// `MADV_POPULATE_WRITE` (Linux 5.14), which the C library headers here may lack.
let populateWriteAdvice = cshim_MADV_POPULATE_WRITE
let hugePageAdvice = cshim_MADV_HUGEPAGE

/// The size of one of the kernel's huge page pools (`nr_hugepages`) and how many of its pages are free.
struct HugePagePool {
    let pageKilobytes: Int
    var directory: String { "/sys/kernel/mm/hugepages/hugepages-\(pageKilobytes)kB" }

    func read(_ name: String) -> Int? {
        readText("\(directory)/\(name)").flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    var total: Int? { read("nr_hugepages") }
    var free: Int? { read("free_hugepages") }

    /// Sets `nr_hugepages`; true when the kernel reports exactly `count` afterwards.
    func setTotal(_ count: Int) -> Bool {
        guard let handle = FileHandle(forWritingAtPath: "\(directory)/nr_hugepages") else { return false }
        defer { try? handle.close() }
        do { try handle.write(contentsOf: Data("\(count)\n".utf8)) } catch { return false }
        return total == count
    }
}

/// The commit rows' baseline: a 4 KiB `pwrite` over the same block of one file, then `fsync`, in the file system
/// under test. The file is removed when the probe goes away.
final class FsyncProbe {
    private let fd: Int32
    private let path: String
    private var block = [UInt8](repeating: 0x78, count: 4096)

    /// Creates the file at `path` with its block written and flushed once.
    init(path: String) throws(BenchError) {
        fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw .errno("open \(path)") }
        self.path = path
        _ = block.withUnsafeBytes { pwrite(fd, $0.baseAddress, 4096, 0) }
        fsync(fd)
    }

    deinit {
        close(fd)
        unlink(path)
    }

    /// One write + fsync (the block's first byte varies with `iteration`) and its duration.
    func measure(_ iteration: Int) -> Duration {
        block[0] = UInt8(truncatingIfNeeded: iteration)
        let clock = ContinuousClock()
        let start = clock.now
        _ = block.withUnsafeBytes { pwrite(fd, $0.baseAddress, 4096, 0) }
        fsync(fd)
        return clock.now - start
    }
}
