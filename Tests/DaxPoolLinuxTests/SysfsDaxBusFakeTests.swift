import DaxPoolLinux
import Synchronization
import SystemPackage
import Testing

/// A test fake: a small in-memory model of the dax bus that answers sysfs reads and stores the way
/// `drivers/dax/bus.c` (Linux 6.1) does, so backend sequences can be tested without a kernel. It models dynamic
/// regions (create, seed, delete, size with first-fit growth and in-place extension, mapping, align, bind) and
/// static ones (one fixed device). Every store is logged in order; `failNext` makes one store fail.
final class SysfsDaxBusFake: SysfsAccess {
    struct Range: Equatable, Sendable {
        var start: UInt64
        var end: UInt64
        var pageOffset: UInt64
        var index: Int
        var size: UInt64 { end - start + 1 }
    }

    struct Device: Sendable {
        var instance: Int
        var ranges: [Range] = []
        var align: UInt64
        var driver: String?
        var size: UInt64 { ranges.reduce(0) { $0 + $1.size } }
    }

    struct Region: Sendable {
        var id: Int
        var parent: String
        var start: UInt64
        var size: UInt64
        var align: UInt64
        var isStatic: Bool
        var parentResource: UInt64?
        var seed: Int?
        var youngest: Int?
        var devices: [Int: Device] = [:]
        var end: UInt64 { start + size - 1 }

        var allocations: [(instance: Int, range: Range)] {
            devices.values.flatMap { device in device.ranges.map { (device.instance, $0) } }
                .sorted { $0.range.start < $1.range.start }
        }
        var available: UInt64 { size - devices.values.reduce(0) { $0 + $1.size } }
    }

    struct State: Sendable {
        var regions: [Region] = []
        var stores: [String] = []
        var failures: [(path: String, errno: Errno)] = []
        /// Added to the next range a `mapping` store claims: a kernel that does not hold what it was told.
        var skew: UInt64 = 0
    }

    private let state = Mutex(State())

    /// An hmem-like dynamic region of `size` at `start`; `idle` as with `dax_hmem.region_idle=1` (daxR.0 empty,
    /// unbound), else daxR.0 covers the region and is bound, as the kernel does by default.
    func addDynamicRegion(id: Int, start: UInt64, size: UInt64, idle: Bool = true, parent: String? = nil) {
        state.withLock { state in
            var region = Region(
                id: id, parent: parent ?? "devices/platform/hmem.\(id)", start: start, size: size, align: 2 << 20,
                isStatic: false)
            var zero = Device(instance: 0, align: 2 << 20)
            if !idle {
                zero.ranges = [Range(start: start, end: start + size - 1, pageOffset: 0, index: 0)]
                zero.driver = "device_dax"
            }
            region.devices[0] = zero
            state.regions.append(region)
        }
    }

    /// A pmem-like static region: one bound device over the whole region.
    func addStaticRegion(id: Int, start: UInt64, size: UInt64, align: UInt64) {
        state.withLock { state in
            var region = Region(
                id: id, parent: "devices/platform/e820_pmem/ndbus0/region\(id)/dax\(id).1", start: start, size: size,
                align: align, isStatic: true, parentResource: start)
            region.devices[0] = Device(
                instance: 0, ranges: [Range(start: start, end: start + size - 1, pageOffset: 0, index: 0)],
                align: align, driver: "device_dax")
            state.regions.append(region)
        }
    }

    /// The stores so far, as `attribute=value` with the attribute path relative to the device or region.
    var stores: [String] { state.withLock { $0.stores } }

    func clearStores() { state.withLock { $0.stores = [] } }

    /// Makes the next store to a path ending in `suffix` fail with `errno`.
    func failNext(_ suffix: String, _ errno: Errno) { state.withLock { $0.failures.append((suffix, errno)) } }

    /// Makes the next `mapping` store claim a range `bytes` further on than asked.
    func skewNextMapping(by bytes: UInt64) { state.withLock { $0.skew = bytes } }

    /// Binds `daxR.N` to `driver` behind daxpool's back (`kmem` for system-ram mode).
    func setDriver(_ name: String, _ driver: String?) {
        state.withLock { state in
            guard let (r, n) = Self.locate(name, in: state) else { return }
            state.regions[r].devices[n]?.driver = driver
        }
    }

    /// Forgets every device but an idle daxR.0, as a reboot with `dax_hmem.region_idle=1` does.
    func reboot(idle: Bool = true) {
        state.withLock { state in
            for index in state.regions.indices where !state.regions[index].isStatic {
                let region = state.regions[index]
                var zero = Device(instance: 0, align: 2 << 20)
                if !idle {
                    zero.ranges = [Range(start: region.start, end: region.end, pageOffset: 0, index: 0)]
                    zero.driver = "device_dax"
                }
                state.regions[index].devices = [0: zero]
                state.regions[index].seed = nil
                state.regions[index].youngest = nil
            }
        }
    }

    /// `(start, end, pageOffset)` of each range of `daxR.N`, in page-offset order.
    func ranges(_ name: String) -> [(UInt64, UInt64, UInt64)] {
        state.withLock { state in
            guard let (r, n) = Self.locate(name, in: state) else { return [] }
            return (state.regions[r].devices[n]?.ranges ?? []).map { ($0.start, $0.end, $0.pageOffset) }
        }
    }

    func driver(_ name: String) -> String? {
        state.withLock { state in
            guard let (r, n) = Self.locate(name, in: state) else { return nil }
            return state.regions[r].devices[n]?.driver
        }
    }

    func align(_ name: String) -> UInt64? {
        state.withLock { state in
            guard let (r, n) = Self.locate(name, in: state) else { return nil }
            return state.regions[r].devices[n]?.align
        }
    }

    func deviceNames(region id: Int) -> [String] {
        state.withLock { state in
            (state.regions.first { $0.id == id }?.devices.keys.sorted() ?? []).map { "dax\(id).\($0)" }
        }
    }

    /// Gives `daxR.N` a range behind daxpool's back (as `daxctl` would), creating the device if needed.
    func forceRange(_ name: String, start: UInt64, end: UInt64, bound: Bool) {
        state.withLock { state in
            guard let (regionID, instance) = Self.parse(name),
                let r = state.regions.firstIndex(where: { $0.id == regionID })
            else { return }
            var device = state.regions[r].devices[instance] ?? Device(instance: instance, align: 2 << 20)
            device.ranges.append(
                Range(start: start, end: end, pageOffset: device.size >> 12, index: device.ranges.count))
            device.driver = bound ? "device_dax" : nil
            state.regions[r].devices[instance] = device
        }
    }

    // MARK: - SysfsAccess

    func absolute(_ path: FilePath) -> FilePath { FilePath("/fake-sys").pushing(path) }

    func exists(_ path: FilePath) -> Bool {
        if (try? read(path)) != nil { return true }
        return (try? entries(path)) != nil || (try? resolve(path)) != nil && isLink(path)
    }

    func resolve(_ path: FilePath) throws(Errno) -> FilePath {
        let text = path.string
        return try state.withLock { state throws(Errno) in
            if text.hasPrefix("bus/dax/devices/") {
                let name = String(text.dropFirst("bus/dax/devices/".count))
                guard let (r, _) = Self.locate(name, in: state) else { throw .noSuchFileOrDirectory }
                return FilePath("\(state.regions[r].parent)/\(name)")
            }
            if text.hasSuffix("/driver") {
                let device = String(text.dropLast("/driver".count))
                guard let (r, n) = Self.locate(Self.last(device), in: state),
                    let driver = state.regions[r].devices[n]?.driver
                else { throw .noSuchFileOrDirectory }
                return FilePath("bus/dax/drivers/\(driver)")
            }
            return path
        }
    }

    func entries(_ directory: FilePath) throws(Errno) -> [String] {
        let text = directory.string
        return try state.withLock { state throws(Errno) in
            if text == "bus/dax/devices" {
                return state.regions.flatMap { region in region.devices.keys.map { "dax\(region.id).\($0)" } }.sorted()
            }
            if let region = state.regions.first(where: { $0.parent == text }) {
                return (["dax_region", "power", "uevent"] + region.devices.keys.map { "dax\(region.id).\($0)" })
                    .sorted()
            }
            guard let (r, n) = Self.locate(Self.last(text), in: state),
                text == "\(state.regions[r].parent)/dax\(state.regions[r].id).\(n)",
                let device = state.regions[r].devices[n]
            else { throw .noSuchFileOrDirectory }
            var names = ["align", "dev", "modalias", "numa_node", "power", "resource", "size", "subsystem"]
            names += ["target_node", "uevent"]
            if !state.regions[r].isStatic { names.append("mapping") }
            if device.driver != nil { names.append("driver") }
            names += device.ranges.map { "mapping\($0.index)" }
            return names.sorted()
        }
    }

    func read(_ path: FilePath) throws(Errno) -> String {
        try state.withLock { state throws(Errno) in
            let (region, rest) = try Self.split(path, in: state)
            let r = region
            let parts = rest.split(separator: "/").map(String.init)
            let info = state.regions[r]
            if parts == ["resource"], let resource = info.parentResource { return SysfsAttributes.hex(resource) }
            if parts.first == "dax_region", parts.count == 2 {
                switch parts[1] {
                case "id": return "\(info.id)"
                case "size": return "\(info.size)"
                case "align": return "\(info.align)"
                case "available_size" where !info.isStatic: return "\(info.available)"
                case "seed" where !info.isStatic: return info.seed.map { "dax\(info.id).\($0)" } ?? ""
                case "create" where !info.isStatic: return info.youngest.map { "dax\(info.id).\($0)" } ?? ""
                default: throw .noSuchFileOrDirectory
                }
            }
            guard let first = parts.first, let (_, n) = Self.parse(first), let device = info.devices[n] else {
                throw .noSuchFileOrDirectory
            }
            switch parts.dropFirst().joined(separator: "/") {
            case "size": return "\(device.size)"
            case "align": return "\(device.align)"
            case "resource": return SysfsAttributes.hex(device.ranges.first?.start ?? info.start)
            case "target_node", "numa_node": return "0"
            case "dev": return "252:\(n)"
            case "mapping" where !info.isStatic: return ""
            case let other:
                let mappingParts = other.split(separator: "/")
                guard mappingParts.count == 2, mappingParts[0].hasPrefix("mapping"),
                    let index = Int(mappingParts[0].dropFirst("mapping".count)),
                    let range = device.ranges.first(where: { $0.index == index })
                else { throw .noSuchFileOrDirectory }
                switch mappingParts[1] {
                case "start": return SysfsAttributes.hex(range.start)
                case "end": return SysfsAttributes.hex(range.end)
                case "page_offset": return SysfsAttributes.hex(range.pageOffset)
                default: throw .noSuchFileOrDirectory
                }
            }
        }
    }

    func write(_ path: FilePath, _ value: String) throws(Errno) {
        try state.withLock { state throws(Errno) in
            let text = path.string
            if let failure = state.failures.firstIndex(where: { text.hasSuffix($0.path) }) {
                let errno = state.failures.remove(at: failure).errno
                throw errno
            }
            let trimmed = value.hasSuffix("\n") ? String(value.dropLast()) : value
            if text.hasPrefix("bus/dax/drivers/device_dax/") {
                state.stores.append("\(Self.last(text))=\(trimmed)")
                try Self.driverStore(Self.last(text), trimmed, &state)
                return
            }
            let (r, rest) = try Self.split(path, in: state)
            state.stores.append("\(rest)=\(trimmed)")
            let parts = rest.split(separator: "/").map(String.init)
            if parts.first == "dax_region", parts.count == 2 {
                guard !state.regions[r].isStatic else { throw .noSuchFileOrDirectory }
                switch parts[1] {
                case "create": try Self.create(trimmed, &state.regions[r])
                case "delete": try Self.delete(trimmed, &state.regions[r])
                default: throw .permissionDenied
                }
                return
            }
            guard parts.count == 2, let (_, n) = Self.parse(parts[0]), state.regions[r].devices[n] != nil else {
                throw .noSuchFileOrDirectory
            }
            guard !state.regions[r].isStatic else { throw .permissionDenied }
            switch parts[1] {
            case "size": try Self.resize(n, to: trimmed, &state.regions[r])
            case "align": try Self.setAlign(n, trimmed, &state.regions[r])
            case "mapping":
                try Self.addMapping(n, trimmed, skew: state.skew, &state.regions[r])
                state.skew = 0
            default: throw .permissionDenied
            }
        }
    }

    // MARK: - The kernel's rules (drivers/dax/bus.c)

    private static func create(_ value: String, _ region: inout Region) throws(Errno) {
        guard value == "1" else { throw .invalidArgument }
        guard region.available > 0 else { throw .noSpace }
        var instance = 0
        while region.devices[instance] != nil { instance += 1 }
        region.devices[instance] = Device(instance: instance, align: region.align)
        if region.seed == nil { region.seed = instance }
        region.youngest = instance
    }

    private static func delete(_ value: String, _ region: inout Region) throws(Errno) {
        guard let (id, n) = parse(value), id == region.id, let device = region.devices[n] else {
            throw .noSuchAddressOrDevice
        }
        guard device.driver == nil, device.size == 0, n > 0 else { throw .resourceBusy }
        region.devices[n] = nil
        if region.seed == n { region.seed = nil }
        if region.youngest == n { region.youngest = nil }
    }

    private static func granule(_ device: Device) -> UInt64 { max(device.align, 2 << 20) }

    private static func resize(_ n: Int, to value: String, _ region: inout Region) throws(Errno) {
        guard let size = SysfsAttributes.parseUnsigned(value), var device = region.devices[n] else {
            throw .invalidArgument
        }
        guard size % granule(device) == 0 else { throw .invalidArgument }
        guard device.driver == nil else { throw .resourceBusy }
        if size == device.size { return }
        if size < device.size {
            var excess = device.size - size
            while excess > 0, var last = device.ranges.popLast() {
                if last.size <= excess {
                    excess -= last.size
                } else {
                    last.end -= excess
                    excess = 0
                    device.ranges.append(last)
                }
            }
            region.devices[n] = device
            return
        }
        var wanted = size - device.size
        guard wanted <= region.available else { throw .noSpace }
        while wanted > 0 {
            let allocations = region.allocations
            var step: (start: UInt64, length: UInt64, extend: Bool)?
            if let first = allocations.first {
                if first.range.start > region.start {
                    step = (region.start, min(first.range.start - region.start, wanted), false)
                } else {
                    for (index, item) in allocations.enumerated() {
                        let gapEnd = index + 1 < allocations.count ? allocations[index + 1].range.start : region.end + 1
                        guard gapEnd > item.range.end + 1 else { continue }
                        let isLast = item.instance == n && device.ranges.last == item.range
                        step = (item.range.end + 1, min(gapEnd - item.range.end - 1, wanted), isLast)
                        break
                    }
                }
            } else {
                step = (region.start, min(region.size, wanted), false)
            }
            guard let step else { throw .noSpace }
            if step.extend, var last = device.ranges.popLast() {
                last.end += step.length
                device.ranges.append(last)
            } else {
                device.ranges.append(
                    Range(
                        start: step.start, end: step.start + step.length - 1, pageOffset: device.size >> 12,
                        index: freeIndex(device)))
            }
            region.devices[n] = device
            wanted -= step.length
        }
    }

    private static func setAlign(_ n: Int, _ value: String, _ region: inout Region) throws(Errno) {
        guard let align = SysfsAttributes.parseUnsigned(value), var device = region.devices[n] else {
            throw .noSuchAddressOrDevice
        }
        guard [4096, 2 << 20, 1 << 30].contains(align) else { throw .invalidArgument }
        guard device.driver == nil else { throw .resourceBusy }
        guard device.ranges.allSatisfy({ $0.size % max(align, 2 << 20) == 0 }) else { throw .invalidArgument }
        device.align = align
        region.devices[n] = device
    }

    private static func addMapping(_ n: Int, _ value: String, skew: UInt64, _ region: inout Region) throws(Errno) {
        let bounds = value.split(separator: "-")
        guard bounds.count == 2, let first = SysfsAttributes.parseUnsigned(String(bounds[0])),
            let last = SysfsAttributes.parseUnsigned(String(bounds[1])), last >= first, var device = region.devices[n]
        else { throw .invalidArgument }
        guard (last - first + 1) % granule(device) == 0 else { throw .noSuchAddressOrDevice }
        let start = first + skew
        let end = last + skew
        guard start >= region.start, end <= region.end,
            !region.allocations.contains(where: { $0.range.start <= end && start <= $0.range.end })
        else { throw .noMemory }
        device.ranges.append(Range(start: start, end: end, pageOffset: device.size >> 12, index: freeIndex(device)))
        region.devices[n] = device
    }

    private static func driverStore(_ store: String, _ name: String, _ state: inout State) throws(Errno) {
        guard let (r, n) = locate(name, in: state), var device = state.regions[r].devices[n] else {
            throw .operationNotSupportedByDevice
        }
        switch store {
        case "bind":
            guard device.driver == nil else { throw .operationNotSupportedByDevice }
            guard device.size > 0 else { throw .noSuchAddressOrDevice }
            device.driver = "device_dax"
            if state.regions[r].seed == n { state.regions[r].seed = nil }
        case "unbind":
            guard device.driver == "device_dax" else { throw .operationNotSupportedByDevice }
            device.driver = nil
        default:
            throw .permissionDenied
        }
        state.regions[r].devices[n] = device
    }

    // MARK: - Paths

    /// The last component of a `/`-separated path (cheaper than `FilePath` in debug builds).
    private static func last(_ path: String) -> String {
        path.split(separator: "/").last.map(String.init) ?? ""
    }

    private static func freeIndex(_ device: Device) -> Int {
        var index = 0
        while device.ranges.contains(where: { $0.index == index }) { index += 1 }
        return index
    }

    private static func parse(_ name: String) -> (Int, Int)? {
        guard name.hasPrefix("dax") else { return nil }
        let parts = name.dropFirst(3).split(separator: ".")
        guard parts.count == 2, let region = Int(parts[0]), let instance = Int(parts[1]) else { return nil }
        return (region, instance)
    }

    private static func locate(_ name: String, in state: State) -> (Int, Int)? {
        guard let (id, n) = parse(name), let r = state.regions.firstIndex(where: { $0.id == id }),
            state.regions[r].devices[n] != nil
        else { return nil }
        return (r, n)
    }

    /// The region whose directory `path` is under, and the rest of the path.
    private static func split(_ path: FilePath, in state: State) throws(Errno) -> (Int, String) {
        let text = path.string
        for (index, region) in state.regions.enumerated() where text.hasPrefix(region.parent + "/") {
            return (index, String(text.dropFirst(region.parent.count + 1)))
        }
        throw .noSuchFileOrDirectory
    }

    private func isLink(_ path: FilePath) -> Bool {
        path.string.hasPrefix("bus/dax/devices/") || path.string.hasSuffix("/driver")
    }
}

/// The fake reproduces what the real kernel did in the captured transcripts, so tests built on it mean something.
@Suite("dax bus fake against the kernel's transcripts", .timeLimit(.minutes(20)))
struct SysfsDaxBusFakeTests {
    static let gib: UInt64 = 1 << 30
    static let mib: UInt64 = 1 << 20

    @Test("create 256M twice, destroy the first, create 768M: the kernel's discontiguous layout")
    func discontiguousLikeTheKernel() throws {
        let fake = SysfsDaxBusFake()
        fake.addDynamicRegion(id: 0, start: 0x1_4000_0000, size: Self.gib, idle: false)
        let bus = SysfsDaxBus(fake)
        // daxctl disable-device dax0.0; destroy-device dax0.0 (size 0; delete is EBUSY for id 0)
        try bus.unbind("dax0.0")
        let zero = try #require(try bus.device(named: "dax0.0"))
        try bus.setSize(zero, 0)
        #expect(throws: SysfsError.self) { try bus.deleteDevice("dax0.0", in: try #require(try bus.region(id: 0))) }
        for _ in 0..<2 {
            let region = try #require(try bus.region(id: 0))
            try bus.createDevice(in: region)
            let seed = try #require(try bus.region(id: 0)?.seed.flatMap { try bus.device(named: $0) })
            try bus.setSize(seed, 256 * Self.mib)
            try bus.bind(seed.name)
        }
        #expect(fake.deviceNames(region: 0) == ["dax0.0", "dax0.1", "dax0.2"])
        try bus.unbind("dax0.1")
        try bus.setSize(try #require(try bus.device(named: "dax0.1")), 0)
        try bus.deleteDevice("dax0.1", in: try #require(try bus.region(id: 0)))
        try bus.createDevice(in: try #require(try bus.region(id: 0)))
        let region = try #require(try bus.region(id: 0))
        #expect(region.seed == "dax0.1")
        try bus.setSize(try #require(region.device(named: "dax0.1")), 768 * Self.mib)
        // the shared reference fixtures/hmem/hmem-mappings-discontiguous.txt
        #expect(
            fake.ranges("dax0.1").map { "\($0.0):\($0.1):\($0.2)" } == [
                "\(0x1_4000_0000):\(0x1_4fff_ffff):0", "\(0x1_6000_0000):\(0x1_7fff_ffff):\(0x10000)",
            ])
        #expect(fake.ranges("dax0.2").map { "\($0.0):\($0.1)" } == ["\(0x1_5000_0000):\(0x1_5fff_ffff)"])
    }

    @Test("explicit ranges are appended in the order written; growing size takes the first free space")
    func explicitMappingsLikeTheKernel() throws {
        // the shared reference fixtures/hmem/console-region-idle-mapping-attr-kmem.txt
        let fake = SysfsDaxBusFake()
        fake.addDynamicRegion(id: 0, start: 0x1_4000_0000, size: Self.gib)
        let bus = SysfsDaxBus(fake)
        let zero = try #require(try bus.device(named: "dax0.0"))
        try bus.addMapping(zero, start: 0x1_7000_0000, last: 0x1_7fff_ffff)
        try bus.addMapping(zero, start: 0x1_5000_0000, last: 0x1_50ff_ffff)
        #expect(try bus.device(named: "dax0.0")?.size == 285_212_672)
        #expect(try bus.region(id: 0)?.availableSize == 788_529_152)
        try bus.bind("dax0.0")
        #expect(throws: SysfsError.self) { try bus.setSize(zero, 512 * Self.mib) }
        try bus.unbind("dax0.0")
        try bus.setSize(zero, 512 * Self.mib)
        #expect(
            fake.ranges("dax0.0").map { "\($0.0)-\($0.1)@\($0.2)" } == [
                "\(0x1_7000_0000)-\(0x1_7fff_ffff)@0", "\(0x1_5000_0000)-\(0x1_50ff_ffff)@\(0x10000)",
                "\(0x1_4000_0000)-\(0x1_4eff_ffff)@\(0x11000)",
            ])
        #expect(throws: SysfsError.self) { try bus.setAlign(zero, Self.gib) }
        try bus.setAlign(zero, 4096)
        #expect(fake.align("dax0.0") == 4096)
    }
}
