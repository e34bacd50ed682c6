// Linux only.
import DaxPoolCore
import DaxPoolSystem
import Dispatch
import Glibc
import Logging
import Synchronization
import SystemPackage

/// Lending device memory to the host as System RAM, as `daxctl reconfigure-device --mode=system-ram` and
/// `--mode=devdax -f` do (`daxctl/lib/libdaxctl.c`): `kmem/new_id` + `kmem/bind`, every memory block
/// `online_movable`; back: every block `offline`, `kmem/remove_id` + `kmem/unbind`.
extension DevDaxBackend: MemoryLending {
    /// `bus/dax/drivers/kmem`.
    static let kmemDriver: FilePath = "bus/dax/drivers/kmem"

    var memoryBlocks: SysfsMemoryBlocks { SysfsMemoryBlocks(bus.attributes.access) }

    /// The kernel's memory block size (`/sys/devices/system/memory/block_size_bytes`).
    /// - Throws: `BackendError` when the kernel has no memory hot-plug, so it cannot take dax memory as System RAM.
    public func memoryBlockSize() throws(BackendError) -> ByteCount {
        do throws(SysfsError) {
            return ByteCount(try memoryBlocks.blockSize())
        } catch {
            throw BackendError(
                operation: "lend", path: error.path, errno: SystemErrorNumber(Errno.operationNotSupportedByDevice),
                message: "the kernel has no memory hot-plug (\(error)): it cannot take dax memory as System RAM")
        }
    }

    /// Lends the device to the host through sysfs: unbinds `device_dax`, binds `kmem` and onlines every memory block
    /// movable; on failure the blocks are offlined and `kmem` unbound again.
    /// - Throws: `BackendError` naming the sysfs file, for example when `auto_online_blocks` would online the memory
    ///   in a zone the kernel cannot take back.
    public func lend(_ device: DaxPoolCore.DeviceID, in config: RegionConfig, progress: (ByteCount, ByteCount) -> Void)
        throws(BackendError)
    {
        let operation = "lend"
        let region = try requireRegion(config.id, operation: operation)
        let kernel = try requireDevice(device, in: region, operation: operation)
        let blocks = memoryBlocks
        let policy = blocks.autoOnline()
        if let policy, policy == "online" || policy == "online_kernel" {
            throw BackendError(
                operation, bus.attributes.access.absolute(SysfsMemoryBlocks.directory.appending("auto_online_blocks")),
                .resourceBusy,
                "the kernel onlines hot-added memory as '\(policy)' (auto_online_blocks), in a zone it cannot take "
                    + "back from: daxpool lends only memory it can reclaim. Set auto_online_blocks to offline or "
                    + "online_movable first (echo offline > /sys/devices/system/memory/auto_online_blocks)")
        }
        if kernel.targetNode == nil {
            throw BackendError(
                operation, bus.attributes.access.absolute(kernel.path), .invalidArgument,
                "\(kernel.name) has no target_node (the firmware gave its memory no NUMA node), and kmem takes only "
                    + "dax memory with a node: the host needs an SRAT/NUMA description of this memory")
        }
        let blockSize = try memoryBlockSize().rawValue
        let wanted = SysfsMemoryBlocks.blocks(covering: kernel.mappings.map(DevDaxRange.init), blockSize: blockSize)
        let total = ByteCount(UInt64(wanted.count) &* blockSize)
        guard !wanted.isEmpty, total.rawValue == kernel.size else {
            throw BackendError(
                operation, bus.attributes.access.absolute(kernel.path), .invalidArgument,
                "\(kernel.name) is not made of whole \(ByteCount(blockSize).spelledOut) memory blocks: only those "
                    + "can be lent")
        }
        try setBound(kernel, false, region: region, operation: operation)
        do throws(BackendError) {
            try bindKmem(kernel, region: region, operation: operation)
            var online: UInt64 = 0
            progress(.zero, total)
            for block in wanted {
                try onlineMovable(block, device: kernel, operation: operation)
                online &+= blockSize
                progress(ByteCount(online), total)
            }
        } catch {
            // Nothing stays lent: blocks go offline again and the device back to device_dax's side, unbound.
            for block in wanted.reversed() where (try? blocks.state(block)) == "online" {
                try? blocks.offline(block)
            }
            try? unbindKmem(kernel, region: region, operation: operation)
            throw error
        }
    }

    /// Takes the lent device back through sysfs: offlines its memory blocks, retrying until `timeLimit`, then unbinds
    /// `kmem`; a device not bound to any driver is already back. When the offline does not finish in time, the
    /// blocks offlined are onlined again.
    /// - Throws: `BackendError` when the device is bound to another driver, or the offline did not finish in time.
    public func reclaim(
        _ device: DaxPoolCore.DeviceID, in config: RegionConfig, timeLimit: Duration,
        progress: (ByteCount, ByteCount) -> Void
    ) throws(BackendError) {
        let operation = "reclaim"
        let region = try requireRegion(config.id, operation: operation)
        let kernel = try requireDevice(device, in: region, operation: operation)
        let blocks = memoryBlocks
        let blockSize = try memoryBlockSize().rawValue
        let all = SysfsMemoryBlocks.blocks(covering: kernel.mappings.map(DevDaxRange.init), blockSize: blockSize)
        let total = ByteCount(UInt64(all.count) &* blockSize)
        guard kernel.driver == "kmem" else {
            if kernel.driver == nil { return }
            throw BackendError(
                operation, bus.attributes.access.absolute(kernel.path.appending("driver")), .invalidArgument,
                "\(kernel.name) is bound to \(kernel.driver ?? "-"), not kmem: it is not lent")
        }
        let clock = ContinuousClock()
        let started = clock.now
        let deadline = started.advanced(by: timeLimit)
        var offlined: [Int] = []
        var done: UInt64 = 0
        var lastError: String?
        progress(.zero, total)
        var pending = all.reversed().filter { (try? blocks.state($0)) != "offline" }
        done = UInt64(all.count - pending.count) &* blockSize
        while !pending.isEmpty, clock.now < deadline {
            var next: [Int] = []
            for block in pending {
                guard clock.now < deadline else {
                    next.append(block)
                    continue
                }
                switch offline(block, until: deadline) {
                case .success:
                    offlined.append(block)
                    done &+= blockSize
                    progress(ByteCount(done), total)
                case .failure(let errno):
                    lastError = "memory\(block): \(errno)"
                    next.append(block)
                }
            }
            pending = next
            if !pending.isEmpty, clock.now < deadline {
                logger.info(
                    "reclaim: memory blocks still online, retrying",
                    metadata: ["device": "\(kernel.name)", "blocks": "\(pending)", "error": "\(lastError ?? "-")"])
                usleep(100_000)
            }
        }
        guard pending.isEmpty else {
            // Fully lent again: the blocks this reclaim offlined go back online, movable.
            var relent = 0
            for block in offlined.reversed() where (try? blocks.onlineMovable(block)) != nil { relent += 1 }
            let elapsed = clock.now - started
            throw BackendError(
                operation, bus.attributes.access.absolute(SysfsMemoryBlocks.directory), .resourceBusy,
                "could not take \(kernel.name) back within \(timeLimit): the kernel offlined "
                    + "\(all.count - pending.count) of \(all.count) memory blocks in \(elapsed), and "
                    + "\(pending.map { "memory\($0)" }.joined(separator: ", ")) are still online ("
                    + (lastError.map { "the kernel could not migrate all their pages: \($0)" }
                        ?? "the limit came before the kernel had migrated their pages")
                    + "). \(kernel.name) stays lent: the \(relent) blocks "
                    + "offlined were onlined again. Retry later, with a longer time limit, or free host memory")
        }
        try unbindKmem(kernel, region: region, operation: operation)
    }

    /// The device's memory blocks online and whether all are in ZONE_MOVABLE (sysfs `memoryN/state` and
    /// `valid_zones`), or `nil` when the device is not bound to `kmem` or cannot be read.
    public func lendStatus(_ device: DaxPoolCore.DeviceID, in config: RegionConfig) -> LendStatus? {
        guard let region = try? requireRegion(config.id, operation: "list"),
            let kernel = region.device(instance: device.instance), kernel.driver == "kmem",
            let blockSize = try? memoryBlocks.blockSize()
        else { return nil }
        let blocks = memoryBlocks
        let all = SysfsMemoryBlocks.blocks(covering: kernel.mappings.map(DevDaxRange.init), blockSize: blockSize)
        var online = 0
        var movable = true
        for block in all where (try? blocks.state(block)) == "online" {
            online += 1
            if let zones = blocks.zones(block), !zones.contains("Movable") { movable = false }
        }
        return LendStatus(onlineBlocks: online, totalBlocks: all.count, movable: movable)
    }

    /// After a start: a lent device the kernel still holds with `kmem` gets any offline block onlined again; one the
    /// kernel forgot (a reboot: reconcile rebuilt it unbound) is lent again. Other devices are bound as persisted.
    func settleBinding(_ kernel: SysfsDaxDevice, _ record: DeviceRecord, region: SysfsDaxRegion, operation: String)
        throws(BackendError)
    {
        guard record.state == .lent else {
            try setBound(kernel, record.state == .enabled, region: region, operation: operation)
            return
        }
        if kernel.driver == "kmem" {
            let blockSize = try memoryBlockSize().rawValue
            for block in SysfsMemoryBlocks.blocks(covering: kernel.mappings.map(DevDaxRange.init), blockSize: blockSize)
            where (try? memoryBlocks.state(block)) == "offline" {
                try onlineMovable(block, device: kernel, operation: operation)
            }
            return
        }
        let config = RegionConfig(
            id: region.id, backend: .devdax, size: ByteCount(region.size), align: .page2M, pageSize: .page2M,
            path: bus.attributes.access.absolute(region.path).string)
        try lend(kernel.id, in: config) { _, _ in }
        logger.notice("lent a device to the host again after a start", metadata: ["device": "\(kernel.name)"])
    }

    // MARK: - Stores

    private func bindKmem(_ device: SysfsDaxDevice, region: SysfsDaxRegion, operation: String) throws(BackendError) {
        if let parameter = device.path.appending("memmap_on_memory") as FilePath?,
            bus.attributes.exists(parameter), memoryBlocks.memmapOnMemory()
        {
            try? bus.attributes.write(parameter, "1")
        }
        // new_id may already hold the name (EEXIST): libdaxctl ignores its result too.
        try? bus.attributes.write(Self.kmemDriver.appending("new_id"), device.name)
        do throws(SysfsError) {
            if try bus.device(named: device.name)?.driver != "kmem" {
                try bus.attributes.write(Self.kmemDriver.appending("bind"), device.name)
            }
            guard try bus.device(named: device.name)?.driver == "kmem" else {
                throw SysfsError(
                    operation: "write", path: bus.attributes.access.absolute(Self.kmemDriver.appending("bind")).string,
                    errno: .ioError, detail: device.name)
            }
        } catch {
            try? bus.attributes.write(Self.kmemDriver.appending("remove_id"), device.name)
            throw BackendError(
                operation, FilePath(error.path), error.errno,
                "the kernel would not bind \(device.name) to kmem (\(error)): is the kmem module loaded "
                    + "(modprobe kmem), and does the device have a target_node? dmesg says why")
        }
    }

    private func unbindKmem(_ device: SysfsDaxDevice, region: SysfsDaxRegion, operation: String) throws(BackendError) {
        try? bus.attributes.write(Self.kmemDriver.appending("remove_id"), device.name)
        do throws(SysfsError) {
            if try bus.device(named: device.name)?.driver == "kmem" {
                try bus.attributes.write(Self.kmemDriver.appending("unbind"), device.name)
            }
            if let driver = try bus.device(named: device.name)?.driver {
                throw SysfsError(
                    operation: "write",
                    path: bus.attributes.access.absolute(Self.kmemDriver.appending("unbind")).string,
                    errno: .resourceBusy, detail: "still bound to \(driver)")
            }
        } catch {
            throw BackendError(
                operation, FilePath(error.path), error.errno,
                "the kernel would not release \(device.name) from kmem (\(error)): check dmesg and daxctl list -d "
                    + "\(device.name)")
        }
    }

    private func onlineMovable(_ block: Int, device: SysfsDaxDevice, operation: String) throws(BackendError) {
        let blocks = memoryBlocks
        do throws(SysfsError) {
            if try blocks.state(block) != "online" { try blocks.onlineMovable(block) }
            if let zones = blocks.zones(block), !zones.contains("Movable") {
                throw SysfsError(
                    operation: "online",
                    path: blocks.attributes.access.absolute(
                        SysfsMemoryBlocks.blockDirectory(block)
                    ).string,
                    errno: .resourceBusy, detail: "zone \(zones)")
            }
        } catch {
            throw BackendError(
                operation, FilePath(error.path), error.errno,
                "memory\(block) of \(device.name) did not go online movable (\(error)): daxpool lends only memory "
                    + "it can take back")
        }
    }

    /// Offlines one block, interrupting the store at `deadline` (a wake signal to this thread) when the kernel is
    /// still migrating then.
    private func offline(_ block: Int, until deadline: ContinuousClock.Instant) -> Result<Void, Errno> {
        let path = SysfsMemoryBlocks.blockDirectory(block).appending("state")
        guard let real = bus.attributes.access as? Sysfs else {
            do throws(SysfsError) {
                try memoryBlocks.offline(block)
                return .success(())
            } catch {
                return .failure(error.errno)
            }
        }
        _ = Syscall.installWakeHandler
        let remaining = ContinuousClock.now.duration(to: deadline)
        let (seconds, attoseconds) = remaining.components
        let nanoseconds = max(0, seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
        let watchdog = WakeWatchdog(thread: Syscall.currentThread())
        DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(Int(nanoseconds))) { watchdog.fire() }
        defer { watchdog.disarm() }
        do throws(Errno) {
            try Syscall.writeInterruptibly(real.absolute(path), "offline")
            return .success(())
        } catch {
            return .failure(error)
        }
    }
}

/// Wakes a thread blocked in an offline store, every 20 ms from `fire()` until the thread disarms it.
private final class WakeWatchdog: Sendable {
    private let armed = Mutex(true)
    private let thread: pthread_t

    init(thread: pthread_t) {
        self.thread = thread
    }

    /// The store returned: no more signals.
    func disarm() { armed.withLock { $0 = false } }

    func fire() {
        while armed.withLock({ armed in
            if armed { Syscall.wake(thread) }
            return armed
        }) {
            usleep(20_000)
        }
    }
}
