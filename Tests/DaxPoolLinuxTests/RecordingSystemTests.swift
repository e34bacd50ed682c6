import DaxPoolCore
import DaxPoolSystem
import DaxPoolTestSupport
import Foundation
import Glibc
import Synchronization
import SystemPackage
import Testing

@testable import DaxPoolLinux

/// What the backends ask of the kernel, checked through the recording fake of the system (`RecordingSystem`), so
/// that logic which needs root to run for real (mounts, giving files to other users, a full disk) is tested as any
/// user. The root tests that make the real calls stay beside these.
@Suite("backends' system calls through the recording fake", .timeLimit(.minutes(20)))
struct RecordingSystemTests {
    // MARK: - Mounts

    @Test("an shm region's own tmpfs is mounted nosuid, nodev and noexec with the region's size, inode cap and mode")
    func shmRegionMountOptions() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let fake = RecordingSystem()
        fake.answer(.succeed(0)) { call, _ in if case .mount = call { true } else { false } }
        let backend = ShmBackend(mountsRegions: true)

        _ = try fake.run { () throws(BackendError) in
            try backend.createRegion(Scratch.region("\(root)/region3", id: 3, size: .mebibytes(32)))
        }

        let mounts = fake.entries.compactMap { entry -> SystemCall? in
            if case .mount = entry.call { entry.call } else { nil }
        }
        #expect(
            mounts == [
                .mount(
                    source: "daxpool-region3", target: FilePath("\(root)/region3"), type: "tmpfs",
                    flags: [.noSetUserID, .noDevices, .noExecute],
                    data: "size=33554432,nr_inodes=16384,mode=700,uid=\(geteuid()),gid=\(getegid()),huge=within_size")
            ], "\(fake.entries)")
        #expect(Scratch.exists("\(root)/region3"))
    }

    @Test("a kernel that refuses huge pages for tmpfs gets the region's mount without them, not a failed create")
    func shmRegionMountWithoutHugePages() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let fake = RecordingSystem()
        // A kernel built without transparent huge pages answers an unknown `huge=` with EINVAL.
        fake.answer(.fail(.invalidArgument)) { call, _ in
            if case .mount(_, _, _, _, let data) = call { data.contains("huge=") } else { false }
        }
        fake.answer(.succeed(0)) { call, _ in if case .mount = call { true } else { false } }
        let backend = ShmBackend(mountsRegions: true)

        _ = try fake.run { () throws(BackendError) in
            try backend.createRegion(Scratch.region("\(root)/region4", id: 4, size: .mebibytes(32)))
        }

        let mounts = fake.entries.compactMap { entry -> String? in
            if case .mount(_, _, _, _, let data) = entry.call { data } else { nil }
        }
        let plain = "size=33554432,nr_inodes=16384,mode=700,uid=\(geteuid()),gid=\(getegid())"
        #expect(mounts == [plain + ",huge=within_size", plain], "\(fake.entries)")
    }

    @Test(
        "a hugetlb segment's mount is hugetlbfs, nosuid, nodev and noexec, with its page size and min_size holding its pages"
    )
    func hugetlbMountFlags() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let fake = RecordingSystem()
        fake.answer(.succeed(0)) { call, _ in if case .mount = call { true } else { false } }
        let mount = HugetlbMount(
            mountPoint: FilePath("\(root)/region2/.segment1"), regionID: 2, pageSize: .page2M, size: .mebibytes(64),
            segment: 1)

        try fake.run { () throws(Errno) in try mount.mount() }

        #expect(
            fake.entries.map(\.call) == [
                .mount(
                    source: "daxpool-region2-segment1", target: FilePath("\(root)/region2/.segment1"),
                    type: "hugetlbfs",
                    flags: [.noSetUserID, .noDevices, .noExecute],
                    data: "pagesize=2M,size=67108864,min_size=67108864,mode=0700")
            ])
        #expect(fake.entries.allSatisfy { !$0.reachedKernel })
    }

    // MARK: - Owners

    @Test("giving a device to a user changes the owner of that device's file alone, keeps its group and sets mode 0600")
    func deviceOwnerChange() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let backend = ShmBackend()
        let region = try backend.createRegion(Scratch.region("\(root)/region0"))
        let device = DeviceID(region: 0, instance: 1)
        try backend.provisionDevice(DeviceID(region: 0, instance: 0), size: .mebibytes(2), extents: [], in: region)
        try backend.provisionDevice(device, size: .mebibytes(2), extents: [], in: region)
        let fake = RecordingSystem()
        // Only root may give a file away: the fake answers for the kernel.
        fake.answer(.succeed(0)) { call, _ in if case .changeOwner = call { true } else { false } }

        try fake.run { () throws(BackendError) in try backend.setDeviceOwner(device, uid: 4242, in: region) }

        let file = FilePath("\(root)/region0/dax0.1")
        let changes = fake.entries.filter { entry in
            switch entry.call {
            case .changeOwner, .changePathOwner, .changeMode, .changePathMode: true
            default: false
            }
        }
        #expect(changes.count == 2, "\(fake.entries)")
        let owner = try #require(changes.first)
        #expect(owner.path == file)
        if case .changeOwner(_, let uid, let gid) = owner.call {
            #expect(uid == 4242 && gid == nil)
        } else {
            Issue.record("the first change is not a fchown: \(owner)")
        }
        let mode = try #require(changes.last)
        #expect(mode.path == file && mode.reachedKernel)
        if case .changeMode(_, let permissions) = mode.call {
            #expect(permissions == .ownerReadWrite)
        } else {
            Issue.record("the second change is not a fchmod: \(mode)")
        }
        #expect(Scratch.status(file.string).map { $0.st_mode & 0o7777 } == 0o600)
    }

    // MARK: - Failures leave nothing behind

    @Test("a create refused because fallocate finds the disk full reports ENOSPC and leaves no device file behind")
    func fullDiskLeavesNoFile() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let backend = ShmBackend()
        let region = try backend.createRegion(Scratch.region("\(root)/region0"))
        let before = Self.listing("\(root)/region0")
        let fake = RecordingSystem()
        // fallocate finds no room, as on a full tmpfs.
        fake.answer(.fail(.noSpace)) { call, _ in if case .allocate = call { true } else { false } }

        let error = try #require(throws: BackendError.self) {
            try fake.run { () throws(BackendError) in
                try backend.provisionDevice(
                    DeviceID(region: 0, instance: 0), size: .mebibytes(16), extents: [], in: region)
            }
        }

        #expect(error.errno == .noSpace, "\(error)")
        #expect(Self.listing("\(root)/region0") == before)
        #expect(fake.entries.contains { $0.call == .unlink(FilePath("\(root)/region0/dax0.0")) }, "\(fake.entries)")
    }

    @Test("a create that fails at any one of its system calls leaves the region directory as it was")
    func failureAtEachCallLeavesNothing() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let backend = ShmBackend()
        let device = DeviceID(region: 0, instance: 0)
        // The calls of a create that succeeds.
        let rehearsal = try backend.createRegion(Scratch.region("\(root)/rehearsal"))
        let recorder = RecordingSystem()
        try recorder.run { () throws(BackendError) in
            try backend.provisionDevice(device, size: .mebibytes(16), extents: [], in: rehearsal)
        }
        let calls = recorder.entries.count
        #expect(calls > 5, "\(recorder.entries)")

        for failing in 0..<calls {
            let region = try backend.createRegion(Scratch.region("\(root)/region\(failing)", id: failing))
            let before = Self.listing(region.path)
            let fake = RecordingSystem()
            let seen = Mutex(0)
            fake.answer(.fail(.ioError), times: 1) { _, _ in
                seen.withLock { count in
                    defer { count += 1 }
                    return count == failing
                }
            }
            let id = DeviceID(region: failing, instance: 0)
            do {
                try fake.run { () throws(BackendError) in
                    try backend.provisionDevice(id, size: .mebibytes(16), extents: [], in: region)
                }
                // Only a failure the create may ignore (closing a file it is done with) lets it succeed.
                let failed = fake.entries.first { !$0.reachedKernel }
                if case .close = failed?.call {
                } else {
                    Issue.record("the create succeeded though call \(failing) failed: \(String(describing: failed))")
                }
                #expect(Scratch.status("\(region.path)/dax\(failing).0")?.st_size == 16 << 20)
            } catch {
                #expect(
                    Self.listing(region.path) == before,
                    "call \(failing) failed (\(fake.entries.first { !$0.reachedKernel }.map(\.description) ?? "?"))")
            }
        }
    }

    // MARK: - The funnel

    @Test("a call interrupted by a signal (EINTR) is made again by the funnel, and the create goes on")
    func interruptedCallsAreRetried() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let backend = ShmBackend()
        let region = try backend.createRegion(Scratch.region("\(root)/region0"))
        let fake = RecordingSystem()
        fake.answer(.fail(.interrupted), times: 2) { call, _ in if case .allocate = call { true } else { false } }

        try fake.run { () throws(BackendError) in
            try backend.provisionDevice(DeviceID(region: 0, instance: 0), size: .mebibytes(4), extents: [], in: region)
        }

        let allocations = fake.entries.filter { if case .allocate = $0.call { true } else { false } }
        #expect(allocations.map(\.reachedKernel) == [false, false, true], "\(allocations)")
        #expect(Set(allocations.map(\.call)).count == 1, "the same range each time")
        #expect(Scratch.status("\(root)/region0/dax0.0")?.st_blocks == (4 << 20) / 512)
    }

    @Test("a fake installed in one task sees none of the calls another task makes at the same time")
    func fakesArePerTask() async throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let fake = RecordingSystem()
        fake.answer(.fail(.permissionDenied)) { _, _ in true }
        let outside = FilePath("\(root)/outside")

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { () async throws -> Void in
                try await fake.run { () async throws -> Void in
                    // The fake stays installed until the other task has made its call.
                    for _ in 0..<2000 where !Scratch.exists(outside.string) {
                        try await Task.sleep(for: .milliseconds(5))
                    }
                    #expect(throws: Errno.permissionDenied) {
                        try Syscall.makeDirectory(FilePath("\(root)/inside"), mode: 0o700)
                    }
                }
            }
            group.addTask { () async throws -> Void in try Syscall.makeDirectory(outside, mode: 0o700) }
            try await group.waitForAll()
        }

        #expect(
            fake.entries.map(\.call) == [.makeDirectory(FilePath("\(root)/inside"), FilePermissions(rawValue: 0o700))])
        #expect(Scratch.exists(outside.string) && !Scratch.exists("\(root)/inside"))
    }

    // MARK: - Helpers

    /// Every name under `directory` (recursively) with its size and the memory it holds.
    static func listing(_ directory: String) -> [String: String] {
        var result: [String: String] = [:]
        for name in (try? FileManager.default.subpathsOfDirectory(atPath: directory)) ?? [] {
            guard let status = Scratch.status("\(directory)/\(name)") else { continue }
            result[name] =
                status.st_mode & S_IFMT == S_IFDIR ? "directory" : "\(status.st_size) bytes, \(status.st_blocks) blocks"
        }
        return result
    }
}

// MARK: - Calls routed through the funnel later: the ledger's sync and the lease holders' pidfds

extension RecordingSystemTests {
    @Test("a ledger append whose fdatasync fails with EIO reports it, and the store refuses every later commit")
    func ledgerSyncFailureStopsTheStore() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let states = try LedgerStateStoreTests.steps().map(\.state)
        try #require(states.count >= 3)
        let store = LedgerStateStore(directory: "\(root)/state", areaSize: LedgerStateStoreTests.areaSize)
        #expect(try store.load() == nil)
        try store.commit(states[0])
        let fake = RecordingSystem()
        fake.answer(.fail(.ioError), times: 1) { call, _ in
            if case .synchronizeData = call { true } else { false }
        }

        let error = try #require(throws: LabelStateStoreError.self) {
            try fake.run { () throws(LabelStateStoreError) in try store.commit(states[1]) }
        }

        #expect("\(error)".contains("fdatasync"), "\(error)")
        let syncs = fake.entries.filter { if case .synchronizeData = $0.call { true } else { false } }
        #expect(syncs.map(\.reachedKernel) == [false], "\(fake.entries)")
        // The failure stays: the journal takes no more records, with the fake gone too.
        #expect(throws: LabelStateStoreError.self) { try store.commit(states[2]) }
        let reopened = LedgerStateStore(directory: "\(root)/state", areaSize: LedgerStateStoreTests.areaSize)
        #expect(try reopened.load() != states[2])
    }

    @Test("watching a lease holder opens its pidfd through the funnel: a scripted ESRCH is a process that is gone")
    func pidfdOpenIsScripted() throws {
        let watcher = try PidfdProcessWatcher()
        let fake = RecordingSystem()
        fake.answer(.fail(.noSuchProcess)) { call, _ in if case .openProcess = call { true } else { false } }

        let error = try #require(throws: ProcessWatchError.self) {
            try fake.run { () throws in try watcher.watch(pid: getpid(), startTime: nil) {} }
        }

        #expect(error.reason == "does not exist", "\(error)")
        #expect(fake.entries.map(\.call) == [.openProcess(pid: getpid())], "\(fake.entries)")
    }

    @Test("a pidfd the epoll refuses (epoll_ctl ENOSPC) is closed, after a poll that found its process alive")
    func refusedPidfdIsClosed() throws {
        let watcher = try PidfdProcessWatcher()
        let fake = RecordingSystem()
        fake.answer(.fail(.noSpace)) { call, _ in if case .addToEventPoll = call { true } else { false } }

        let error = try #require(throws: ProcessWatchError.self) {
            try fake.run { () throws in try watcher.watch(pid: getpid(), startTime: nil) {} }
        }

        #expect(error.reason.contains("epoll_ctl"), "\(error)")
        let opened = try #require(fake.entries.first { if case .openProcess = $0.call { true } else { false } })
        let pidfd = try CInt(opened.outcome.get())
        let calls = fake.entries.map(\.call)
        #expect(calls.contains(.poll(pidfd, .readable, timeout: 0)), "\(fake.entries)")
        #expect(calls.suffix(2).first.map { if case .addToEventPoll(_, pidfd) = $0 { true } else { false } } == true)
        #expect(calls.last == .close(pidfd), "\(fake.entries)")
    }

    @Test("a lease holder that exits while its pidfd is checked (poll readable) is refused and its pidfd closed")
    func exitDuringWatchIsRefused() throws {
        let watcher = try PidfdProcessWatcher()
        let fake = RecordingSystem()
        fake.answer(.succeed(1)) { call, _ in if case .poll = call { true } else { false } }

        let error = try #require(throws: ProcessWatchError.self) {
            try fake.run { () throws in try watcher.watch(pid: getpid(), startTime: nil) {} }
        }

        #expect(error.reason == "has exited", "\(error)")
        let opened = try #require(fake.entries.first { if case .openProcess = $0.call { true } else { false } })
        let pidfd = try CInt(opened.outcome.get())
        #expect(fake.entries.map(\.call).suffix(2) == [.poll(pidfd, .readable, timeout: 0), .close(pidfd)])
        #expect(!fake.entries.contains { if case .addToEventPoll = $0.call { true } else { false } })
    }
}
