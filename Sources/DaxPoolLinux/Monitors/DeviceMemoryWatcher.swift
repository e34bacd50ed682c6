// Linux only.
import DaxPoolCore
import DaxPoolSystem
import Glibc
import Logging
import Synchronization
import SystemPackage

/// The daemon's own mapping of every device's memory, so that the kernel tells the daemon when that memory fails.
///
/// When memory-failure handling poisons a page, the kernel sends `SIGBUS` with `BUS_MCEERR_AO` to every process
/// that maps the page and asked for early kill (`prctl(PR_MCE_KILL, PR_MCE_KILL_SET, PR_MCE_KILL_EARLY)`, which
/// `MemoryErrorMonitor` sets). For file pages (tmpfs, hugetlbfs) it walks the file's mappings
/// (`collect_procs_file`), and since Linux 6.8 it counts a mapping only where the page is present in its page
/// tables (`page_mapped_in_vma`); and when no process maps the page at all it signals nobody. So each device file
/// is mapped `MAP_SHARED`, read-only (the daemon never touches the bytes) and populated (`MAP_POPULATE`: the
/// page tables point at every page). The cost is page tables only: one entry per 2M/1G page for hugetlb, 8 bytes
/// per 4 KiB page for shm.
///
/// A mapping keeps its file's open file description alive, which makes the scrub pool's lease check fail: a
/// backend stops watching a device (`unwatch`) before it retires the device's file.
///
/// `resolve` turns a signal's `si_addr` into the device and the offset inside it.
public final class DeviceMemoryWatcher: Sendable {
    struct Watched: Sendable, Hashable {
        var address: UInt
        var length: Int
    }

    private let mappings = Mutex<[DaxPoolCore.DeviceID: Watched]>([:])
    private let logger: Logger

    /// - Parameter logger: hears of mappings that could not be made (the device still works; memory errors in
    ///   it then reach the daemon only through kernel badblocks or the API).
    public init(logger: Logger = Logger(label: "daxpool.watch")) {
        self.logger = logger
    }

    deinit {
        mappings.withLock { all in
            for watched in all.values { Self.unmap(watched) }
            all.removeAll()
        }
    }

    /// Maps the device file at `path` (`size` bytes), replacing the device's previous mapping. A failure is logged,
    /// not thrown: watching is best effort and must never fail a device operation.
    /// The corresponding C functions are `open(2)`, `mmap(2)` with `MAP_SHARED | MAP_POPULATE` and `close(2)`.
    public func watch(_ device: DaxPoolCore.DeviceID, path: FilePath, size: ByteCount) {
        unwatch(device)
        guard let length = Int(exactly: size.rawValue), length > 0 else { return }
        do throws(Errno) {
            let file = try OwnedDescriptor.open(path, .readOnly, options: .noFollow)
            let base = try Syscall.map(
                length: length,
                protection: .read,
                flags: [.shared, .populate],
                descriptor: file.descriptor.rawValue,
                offset: 0
            )
            let watched = Watched(address: UInt(bitPattern: base), length: length)
            let replaced = mappings.withLock { $0.updateValue(watched, forKey: device) }
            if let replaced { Self.unmap(replaced) }
        } catch {
            logger.warning(
                "cannot map device memory to watch it for memory errors",
                metadata: ["device": "\(device)", "path": "\(path)", "error": "\(error)"]
            )
        }
    }

    /// Unmaps the device's memory, if it is watched.
    public func unwatch(_ device: DaxPoolCore.DeviceID) {
        if let watched = mappings.withLock({ $0.removeValue(forKey: device) }) { Self.unmap(watched) }
    }

    /// The device whose mapping holds `address`, and the offset of `address` inside the device.
    public func resolve(address: UInt) -> (device: DaxPoolCore.DeviceID, offset: ByteCount)? {
        mappings.withLock { all in
            for (device, watched) in all where address >= watched.address && address - watched.address < watched.length
            {
                return (device, ByteCount(UInt64(address - watched.address)))
            }
            return nil
        }
    }

    /// Whether the running kernel handles memory failures (`CONFIG_MEMORY_FAILURE`: it has
    /// `/proc/sys/vm/memory_failure_early_kill`). A kernel without it poisons nothing and signals nobody, so
    /// mapping and populating every device's memory to hear of errors would only cost time (every page of a new
    /// shm device faulted in, and so scrubbed in full when the device goes).
    /// - Parameter procRoot: `/proc`, or a copy of it in a test.
    public static func kernelHandlesMemoryFailure(procRoot: FilePath = "/proc") -> Bool {
        let knob = procRoot.appending("sys").appending("vm").appending("memory_failure_early_kill")
        return (try? Syscall.linkStatusIfPresent(knob)) != nil
    }

    /// The address and length of the device's mapping (for tests and drills).
    public func mapping(of device: DaxPoolCore.DeviceID) -> (address: UInt, length: Int)? {
        mappings.withLock { $0[device].map { ($0.address, $0.length) } }
    }

    /// The devices watched now.
    public var devices: [DaxPoolCore.DeviceID] { mappings.withLock { $0.keys.sorted() } }

    private static func unmap(_ watched: Watched) {
        guard let base = UnsafeMutableRawPointer(bitPattern: watched.address) else { return }
        try? Syscall.unmap(base, length: watched.length)
    }
}
