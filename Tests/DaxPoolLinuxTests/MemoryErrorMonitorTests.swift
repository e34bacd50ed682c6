import DaxPoolCore
import DaxPoolLinux
import Glibc
import Synchronization
import Testing

@Suite("memory-error signals", .serialized)
struct MemoryErrorMonitorTests {
    @Test("a real SIGBUS with BUS_MCEERR_AO is queued with its address and granule and the process lives on")
    func actionOptional() throws {
        let monitor = try MemoryErrorMonitor(earlyKill: false)
        let page = UnsafeMutableRawPointer.allocate(byteCount: 4096, alignment: 4096)
        defer { page.deallocate() }
        #expect(MemoryErrorMonitor.raise(code: 5, address: page, granuleShift: 21))
        let report = try #require(monitor.next())
        #expect(report.code == 5)
        #expect(report.address == UInt(bitPattern: page))
        #expect(report.granuleShift == 21)
        #expect(!report.isActionRequired)
        #expect(monitor.next() == nil)
    }

    @Test("the draining thread hands each report to the callback")
    func drainingThread() throws {
        let monitor = try MemoryErrorMonitor(earlyKill: false)
        let received = Mutex<[MemoryErrorMonitor.Report]>([])
        monitor.start { report in received.withLock { $0.append(report) } }
        defer { monitor.stop() }
        let page = UnsafeMutableRawPointer.allocate(byteCount: 4096, alignment: 4096)
        defer { page.deallocate() }
        for _ in 0..<3 { #expect(MemoryErrorMonitor.raise(code: 5, address: page, granuleShift: 12)) }
        for _ in 0..<200 where received.withLock({ $0.count }) < 3 { usleep(10_000) }
        #expect(received.withLock { $0.count } == 3)
    }

    @Test("a synchronous SIGBUS during a guarded scrub is reported instead of killing the process")
    func guardedScrubSurvivesSigbus() throws {
        _ = try MemoryErrorMonitor(earlyKill: false)
        let path = "/dev/shm/daxpool-sigbus-\(getpid())"
        let fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0o600)
        #expect(fd >= 0)
        defer {
            close(fd)
            unlink(path)
        }
        #expect(ftruncate(fd, 1 << 20) == 0)
        let mapping = try #require(mmap(nil, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0))
        #expect(mapping != MAP_FAILED)
        defer { munmap(mapping, 1 << 20) }
        // Shrink the file under the mapping: touching the second half raises a real SIGBUS (BUS_ADRERR).
        #expect(ftruncate(fd, 512 << 10) == 0)
        let fault = MemoryErrorMonitor.guardedZero(UnsafeMutableRawBufferPointer(start: mapping, count: 1 << 20))
        let report = try #require(fault)
        #expect(report.address == UInt(bitPattern: mapping) + (512 << 10))
        #expect(!report.isMemoryError)
        // The first half was zeroed and the process is alive to check it.
        #expect(MemoryErrorMonitor.guardedZero(UnsafeMutableRawBufferPointer(start: mapping, count: 512 << 10)) == nil)
    }
}
