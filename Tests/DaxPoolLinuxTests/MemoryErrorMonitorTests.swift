import DaxPoolAPI
import DaxPoolCore
import DaxPoolLinux
import DaxPoolServer
import DaxPoolTestSupport
import Glibc
import Logging
import Synchronization
import Testing

@Suite("memory-error signals", .timeLimit(.minutes(20)), .serialized)
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
        try waitBlockingUntil("the draining thread handed over 3 reports") { received.withLock { $0.count } >= 3 }
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

    @Test("the scrubber's non-temporal zeroing skips pages that raise SIGBUS, on every thread, and zeroes the rest")
    func scrubberSkipsFaultingPages() throws {
        _ = try MemoryErrorMonitor(earlyKill: false)
        let path = "/dev/shm/daxpool-scrub-sigbus-\(getpid())"
        let fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0o600)
        #expect(fd >= 0)
        defer {
            close(fd)
            unlink(path)
        }
        let length = 64 << 20
        #expect(ftruncate(fd, off_t(length)) == 0)
        let mapping = try #require(mmap(nil, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0))
        #expect(mapping != MAP_FAILED)
        defer { munmap(mapping, length) }
        memset(mapping, 0xa5, length)
        // The last 24 MiB of the mapping lies past the end of the file: every page there faults (BUS_ADRERR).
        let kept = 40 << 20
        #expect(ftruncate(fd, off_t(kept)) == 0)
        let faults = Scrubber().zero(UnsafeMutableRawBufferPointer(start: mapping, count: length), threads: 2)
        #expect(faults >= 1)
        #expect(Scrubber().verifyZero(UnsafeRawBufferPointer(start: mapping, count: kept)))
    }
}

// In the same serialized suite as the monitor's own tests: the SIGBUS handler and its queue are per process.
// The signal is raised in-process: Linux refuses a crafted siginfo with si_code >= 0 (BUS_MCEERR_AO is 5) sent to
// another process, through rt_sigqueueinfo and pidfd_send_signal alike, with EPERM even for root (checked on
// 6.18), so a drill against a running daemon cannot forge one.
extension MemoryErrorMonitorTests {
    @Test(
        "a real BUS_MCEERR_AO SIGBUS on the daemon's mapping of a device is attributed, quarantined, persisted and announced"
    )
    func actionOptionalIsRecorded() async throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let watcher = DeviceMemoryWatcher()
        let store = JSONFileStateStore(directory: "\(root)/state")
        let service = try await PoolService(
            backends: [ShmBackend(watcher: watcher)],
            store: store,
            settings: PoolSettings(defaultRegionSize: nil, shmRoot: root, hugetlbRoot: root),
            logger: Logger(label: "test")
        )
        _ = try await service.createRegion(
            CreateRegionRequest(backend: .shm, size: ByteCount.mebibytes(64), path: "\(root)/region0"))
        _ = try await service.createDevice(
            CreateDeviceRequest(size: ByteCount.mebibytes(8), name: try DeviceName(validating: "first")))
        let victim = try await service.createDevice(
            CreateDeviceRequest(size: ByteCount.mebibytes(16), name: try DeviceName(validating: "victim")))
        let parsed = DaxPoolCore.DeviceID(parsing: victim.chardev)
        let id = try #require(parsed)
        let mapping = try #require(watcher.mapping(of: id), "the daemon maps every device it provisions")
        #expect(mapping.length == 16 << 20)

        let routing = MemoryErrorRouting(service: service, logger: Logger(label: "test")) { address in
            watcher.resolve(address: address)
        }
        let monitor = try MemoryErrorMonitor(earlyKill: false)
        let (reports, continuation) = AsyncStream<MemoryErrorMonitor.Report>.makeStream()
        monitor.start { report in continuation.yield(report) }
        defer { monitor.stop() }

        // What the kernel sends on memory failure: SIGBUS, BUS_MCEERR_AO, si_addr in the page, si_addr_lsb 12.
        let address = try #require(UnsafeRawPointer(bitPattern: mapping.address + (5 << 20) + 123))
        #expect(MemoryErrorMonitor.raise(code: 5, address: address, granuleShift: 12))
        var iterator = reports.makeAsyncIterator()
        let report = try #require(await iterator.next())
        let events = await routing.handle(code: report.code, address: report.address, granuleShift: report.granuleShift)

        #expect(events.count == 1)
        let event = try #require(events.first)
        #expect(event.source == "sigbus-ao")
        #expect(event.device == victim.chardev)
        #expect(event.deviceName == "victim")
        #expect(event.deviceOffset == 5 << 20)
        #expect(event.length == 4096)
        #expect(await service.events(after: 0) == [event])
        #expect(try await service.device("victim").badblocks == [BadBlock(offset: 5 << 20, length: 4096)])
        let region = try await service.region(0)
        #expect(region.badblocks == [BadBlock(offset: event.regionOffset, length: 4096)])
        // Persisted: the stored state has the bad block and the event.
        let stored = try #require(try store.load())
        #expect(
            stored.regions.first?.badBlocks == [Extent(start: RegionOffset(event.regionOffset), length: .kibibytes(4))])
        #expect(stored.events == [event])

        // An address outside every device's memory records nothing; neither does a signal that is no memory error.
        #expect(await routing.handle(code: 5, address: 4096, granuleShift: 12).isEmpty)
        #expect(await routing.handle(code: 2, address: mapping.address, granuleShift: 12).isEmpty)
        // Destroying the device unmaps it.
        try await service.destroyDevice("victim", force: true)
        #expect(watcher.mapping(of: id) == nil)
        #expect(watcher.resolve(address: mapping.address) == nil)
    }
}
