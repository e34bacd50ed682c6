import DaxPoolCore
import DaxPoolLinux
import DaxPoolTestSupport
import Foundation
import Glibc
import Testing

/// The threat model's tenant against the shm pool: it owns a device, keeps a way into the device's memory past the
/// destroy (a hard link, an open descriptor, a descriptor in flight in a socket message, a mapping), or grows the
/// device's file; the device is destroyed and scrubbed the ordinary way, and a new owner (root) gets a device of
/// the same size and writes its secret. The tenant must see nothing of it, and the new device must read zero.
///
/// The tenant is a throwaway user running a small Python program, so every attack is made with the real system
/// calls and the real credentials of someone who is not the daemon.
@Suite(
    "pool hand-out attacks", .serialized, .timeLimit(.minutes(20)),
    .enabled(if: ThrowawayUser.isAvailable, "needs root and useradd: the test acts as throwaway users")
)
struct PoolHandOutAttackTests {
    /// What the tenant keeps after its device is destroyed.
    enum Attack: String, CaseIterable, Sendable {
        case hardLink = "link"
        case descriptor = "fd"
        case descriptorInFlight = "inflight"
        case mapping = "map"
        case readOnlyMapping = "romap"
    }

    static let deviceSize = ByteCount.mebibytes(16)
    static let newOwnerSecret = "NEW-OWNER-SECRET"

    @Test(
        "a way into destroyed memory that the tenant keeps never reaches the next owner's device",
        arguments: Attack.allCases, [false, true]
    )
    func keptWayIn(attack: Attack, ownMount: Bool) throws {
        try Self.withTenantDevice(mountsRegions: ownMount, regionSize: .mebibytes(64)) {
            tenant, backend, region, victim, victimPath in
            try Self.keptWayIn(attack, ownMount, tenant, backend, region, victim, victimPath)
        }
    }

    @Test(
        "a way into destroyed memory that the tenant keeps never reaches the next owner's device through the quick paths",
        arguments: Attack.allCases
    )
    func keptWayInAtOnce(attack: Attack) throws {
        try Self.withTenantDevice(mountsRegions: false, regionSize: .mebibytes(64)) {
            tenant, backend, region, victim, victimPath in
            try Self.keptWayIn(attack, false, tenant, backend, region, victim, victimPath, atOnce: true)
        }
    }

    static func keptWayIn(
        _ attack: Attack, _ ownMount: Bool, _ tenant: ThrowawayUser, _ backend: ShmBackend, _ region: RegionConfig,
        _ victim: DeviceID, _ victimPath: String, atOnce: Bool = false
    ) throws {

        let keep = "/dev/shm/dxt-keep-\(tenant.name)"
        defer { unlink(keep) }
        let program = try TenantProgram(tenant, mode: attack.rawValue, path: victimPath, keep: keep)
        defer { program.stop() }
        let ready = try program.readLine()
        if attack == .hardLink && ownMount {
            // The region is its own tmpfs: a name for the file elsewhere is impossible.
            #expect(ready == "refused \(EXDEV)", "linking out of the region's own mount: \(ready)")
            return
        }
        #expect(ready.hasPrefix("ready"), "the tenant program: \(ready) \(program.errors())")

        try backend.setDeviceEnabled(victim, enabled: false, in: region)
        try backend.retireDevice(victim, token: "00aa", in: region)
        let scrubbedAtOnce = try atOnce && backend.scrubRetiredAtOnce(token: "00aa", size: Self.deviceSize, in: region)
        if !scrubbedAtOnce {
            try backend.scrubRetired(token: "00aa", size: Self.deviceSize, in: region) { _, _ in }
        }

        let next = DeviceID(region: 0, instance: 1)
        let provisionedAtOnce = try atOnce && backend.provisionDeviceAtOnce(next, size: Self.deviceSize, in: region)
        if !provisionedAtOnce {
            try backend.provisionDevice(next, size: Self.deviceSize, extents: [], in: region)
        }
        let nextPath = try #require(backend.devicePath(next, in: region))
        let nonZero = try TenantIsolationProbe.withMapping(nextPath, writable: true) { bytes -> Int? in
            let nonZero = TenantIsolationProbe.firstNonZero(UnsafeRawBufferPointer(bytes))
            TenantIsolationProbe.fill(bytes, with: Array(Self.newOwnerSecret.utf8))
            return nonZero
        }
        #expect(nonZero == nil, "the next owner reads a non-zero byte at \(nonZero ?? 0)")

        // "denied": the name the tenant kept no longer opens for it; "clean": what it reaches is not the new device.
        let seen = try program.ask("check \(Self.newOwnerSecret)")
        #expect(seen == "clean" || seen == "denied", "the tenant, through its \(attack), reports: \(seen)")
        let tenantInode = UInt64(ready.split(separator: " ").last.flatMap { UInt64($0) } ?? 0)
        #expect(tenantInode != UInt64(Scratch.status(nextPath)?.st_ino ?? 0), "the next device is the tenant's file")
        try backend.destroyDevice(next, in: region)
    }

    @Test("a device file its tenant grew is cut back to the device's size before its memory is pooled")
    func grownFile() throws {
        try Self.withTenantDevice(mountsRegions: false, regionSize: .mebibytes(64)) {
            tenant, backend, region, victim, victimPath in
            try Self.grownFile(tenant, backend, region, victim, victimPath)
        }
    }

    @Test("in a region's own mount, with huge pages, a device file its tenant grew is cut back before it is pooled")
    func grownFileOwnMount() throws {
        try Self.withTenantDevice(mountsRegions: true, regionSize: .mebibytes(64)) {
            tenant, backend, region, victim, victimPath in
            try Self.grownFile(tenant, backend, region, victim, victimPath)
        }
    }

    static func grownFile(
        _ tenant: ThrowawayUser, _ backend: ShmBackend, _ region: RegionConfig, _ victim: DeviceID,
        _ victimPath: String
    ) throws {

        let program = try TenantProgram(tenant, mode: "grow", path: victimPath, keep: "")
        let ready = try program.readLine()
        #expect(ready.hasPrefix("ready"), "the tenant program: \(ready) \(program.errors())")
        program.stop()
        let grown = try #require(Scratch.status(victimPath))
        #expect(grown.st_size == 48 << 20, "the tenant grew its file to 48 MiB")

        try backend.retireDevice(victim, token: "00bb", in: region)
        try backend.scrubRetired(token: "00bb", size: Self.deviceSize, in: region) { _, _ in }
        let pooled = try FileManager.default.contentsOfDirectory(atPath: "\(region.path)/.pool")
        #expect(pooled.count == 1, "\(pooled)")
        for name in pooled {
            let status = try #require(Scratch.status("\(region.path)/.pool/\(name)"))
            #expect(status.st_size == Int(Self.deviceSize.rawValue), "\(name) was not cut back")
            #expect(Int64(status.st_blocks) * 512 <= Int64(Self.deviceSize.rawValue))
            #expect(status.st_uid == geteuid() && status.st_mode & 0o7777 == 0o600)
        }
        // The cut-back file is what the next device of the device's size gets, and it reads zero.
        let next = DeviceID(region: 0, instance: 1)
        try backend.provisionDevice(next, size: Self.deviceSize, extents: [], in: region)
        let nextPath = try #require(backend.devicePath(next, in: region))
        let nonZero = try TenantIsolationProbe.withMapping(nextPath, writable: false) {
            TenantIsolationProbe.firstNonZero(UnsafeRawBufferPointer($0))
        }
        #expect(nonZero == nil)
        try backend.destroyDevice(next, in: region)
    }

    @Test("as root a shm region is its own tmpfs mount, sized to the region: a tenant cannot grow past it")
    func regionMountCapsGrowth() throws {
        try Self.withTenantDevice(mountsRegions: true, regionSize: .mebibytes(32)) {
            tenant, backend, region, victim, victimPath in
            #expect(
                Self.mountOptions(region.path)?.contains("size=32768k") == true,
                "\(Self.mountOptions(region.path) ?? "-")")
            let program = try TenantProgram(tenant, mode: "grow", path: victimPath, keep: "")
            let ready = try program.readLine()
            program.stop()
            #expect(ready == "refused \(ENOSPC)", "growing to 48 MiB in a 32 MiB region: \(ready)")
            try backend.destroyDevice(victim, in: region)
        }
    }

    /// Makes a throwaway tenant, a shm region in a scratch directory and a device of `deviceSize` the tenant owns,
    /// runs `body` with them, and removes them all again.
    static func withTenantDevice(
        mountsRegions: Bool,
        regionSize: ByteCount,
        _ body: (ThrowawayUser, ShmBackend, RegionConfig, DeviceID, String) throws -> Void
    ) throws {
        let tenant = try ThrowawayUser()
        defer { tenant.remove() }
        let root = try Scratch.makeDirectory()
        defer { Self.removeRegion(root) }
        let backend = ShmBackend(directoryMode: 0o711, scrubThreads: 2, mountsRegions: mountsRegions)
        let region = try backend.createRegion(Scratch.region("\(root)/region0", size: regionSize))
        defer { try? backend.destroyRegion(region) }
        let victim = DeviceID(region: 0, instance: 0)
        try backend.provisionDevice(victim, size: deviceSize, extents: [], in: region)
        try backend.setDeviceOwner(victim, uid: tenant.uid, in: region)
        try body(tenant, backend, region, victim, try #require(backend.devicePath(victim, in: region)))
    }

    /// The options `/proc/self/mountinfo` shows for a mount at `path`, or `nil` when nothing is mounted there.
    static func mountOptions(_ path: String) -> String? {
        guard let text = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count > 4, fields[4] == path { return String(fields.last ?? "") }
        }
        return nil
    }

    /// Unmounts what a test left mounted under `root`, then removes it.
    static func removeRegion(_ root: String) {
        umount2("\(root)/region0", Int32(MNT_DETACH))
        Scratch.remove(root)
    }
}
