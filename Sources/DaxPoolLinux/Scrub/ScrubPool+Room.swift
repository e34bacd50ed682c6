// Linux only.
import DaxPoolCore
import DaxPoolSystem
import Logging
import Synchronization
import SystemPackage

/// One lock for every pool's room: a device commit holds it while it checks the region's free memory, makes room
/// and reserves what it will allocate (`reserveRoom`); the pool filler while it checks and allocates one piece.
/// Neither takes memory the other counted on.
private let roomLock = Mutex(())

/// The reservations of device commits in progress: file path → the bytes the file will hold. `usage` counts a
/// reserved file in full while its commit allocates it outside the room lock. Taken inside the room lock or alone.
private let roomReservations = Mutex<[String: Int64]>([:])

/// What a region directory's files hold, counted against the region's size.
struct RegionFileUsage: Equatable {
    /// Device files (enabled or disabled).
    var devices: Int64 = 0
    /// Clean pooled files.
    var clean: Int64 = 0
    /// Files waiting for a scrub (`dirty.*`) and files being filled (`filling.*`).
    var other: Int64 = 0

    var total: Int64 { devices + clean + other }
}

extension ScrubPool {
    /// Runs `body` holding the pools' room lock. Keep it short: a device commit waits for it.
    static func withRoomLock<Result, Failure: Error>(_ body: () throws(Failure) -> Result) throws(Failure) -> Result {
        try roomLock.withLock { _ throws(Failure) in try body() }
    }

    /// Checks and makes room (`body`, under the room lock), then reserves `bytes` for the file at `path`, so that
    /// the file can be allocated outside the lock: until `releaseRoom(path)`, `usage` counts the file at least at
    /// `bytes` however little of it is allocated yet. A slow allocation then holds up no other commit.
    static func reserveRoom<Failure: Error>(
        _ bytes: Int64, for path: FilePath, _ body: () throws(Failure) -> Void
    ) throws(Failure) {
        try roomLock.withLock { _ throws(Failure) in
            try body()
            roomReservations.withLock { $0[path.string] = bytes }
        }
    }

    /// Ends the reservation `reserveRoom` made for `path` (its file now holds what it holds, or is gone).
    static func releaseRoom(_ path: FilePath) {
        _ = roomReservations.withLock { $0.removeValue(forKey: path.string) }
    }

    /// The memory the files of `regionDirectory` (the pool's parent) hold.
    func usage(operation: String) throws(BackendError) -> RegionFileUsage {
        var usage = RegionFileUsage()
        let region = directory.removingLastComponent()
        let reservations = roomReservations.withLock { $0 }
        for name in try Self.names(in: region, operation: operation)
        where ShmDeviceFiles.device(fromFileName: name) != nil {
            let path = region.appending(name)
            let allocated = try Self.allocatedBytes(of: path, operation: operation)
            usage.devices += max(allocated, reservations[path.string] ?? 0)
        }
        for name in try names(operation: operation) {
            let bytes = try Self.allocatedBytes(of: directory.appending(name), operation: operation)
            if name.hasPrefix("clean.") {
                usage.clean += bytes
            } else if name.hasPrefix("dirty.") || name.hasPrefix("filling.") {
                usage.other += bytes
            }
        }
        return usage
    }

    /// The memory the region may still allocate: what its size leaves after every file in it, capped by what
    /// the filesystem has free.
    func free(regionSize: Int64, operation: String) throws(BackendError) -> Int64 {
        let used = try usage(operation: operation).total
        let space: FileSystemSpace
        do throws(Errno) {
            space = try FileSystemSpace(of: directory.removingLastComponent())
        } catch {
            throw BackendError(operation, directory, error, "cannot read the free space of \(directory): \(error)")
        }
        return max(0, min(regionSize - used, Int64(clamping: space.available.rawValue)))
    }

    /// Frees pooled memory until the region has `needed` bytes free: clean files first (the smallest one that is
    /// enough on its own, else largest first), then files the filler is still filling. Call it holding the room
    /// lock. Pooled memory counts as free for the region's allocator, so this succeeds when the allocator granted
    /// the memory and nothing else took it; when even every pooled file could not make the room (an owner grew
    /// its device's file, the filesystem is full), it unlinks nothing: the commit that follows is refused, and the
    /// pool keeps its ready files. What the filesystem lacks is the caller's error to report.
    func makeRoom(_ needed: Int64, regionSize: Int64, operation: String) throws(BackendError) {
        var free = try free(regionSize: regionSize, operation: operation)
        guard free < needed else { return }
        let clean = try entries(operation: operation)
        let filling = try names(operation: operation).filter { $0.hasPrefix("filling.") }
        var evictable = clean.reduce(0) { $0 + $1.allocatedBytes }
        for name in filling {
            evictable += try Self.allocatedBytes(of: directory.appending(name), operation: operation)
        }
        guard free + evictable >= needed else {
            logger.debug(
                "no room to make: the pool holds too little to free; it keeps its files",
                metadata: ["needed": "\(needed)", "free": "\(free)", "pooled": "\(evictable)"])
            return
        }
        var victims: [Entry]
        if let single = clean.first(where: { $0.allocatedBytes >= needed - free }) {
            victims = [single]
        } else {
            victims = clean.reversed()
        }
        for entry in victims where free < needed {
            try unlink(entry.path, operation: operation)
            free += entry.allocatedBytes
            logger.debug(
                "evicted a pooled file", metadata: ["path": "\(entry.path)", "bytes": "\(entry.allocatedBytes)"])
        }
        guard free < needed else { return }
        for name in filling where free < needed {
            let path = directory.appending(name)
            free += try Self.allocatedBytes(of: path, operation: operation)
            try unlink(path, operation: operation)
            logger.debug("stopped filling a pooled file", metadata: ["path": "\(path)"])
        }
    }

    /// Whether the pool holds files a commit may take the memory of (clean or being filled): when it holds none,
    /// there is no room to make, and no need to count the region's files.
    func holdsEvictableFiles(operation: String) throws(BackendError) -> Bool {
        try names(operation: operation).contains {
            $0.hasPrefix("clean.") || $0.hasPrefix("filling.")
        }
    }

    // MARK: - Helpers

    /// The names in `directory`; none when it does not exist.
    static func names(in directory: FilePath, operation: String) throws(BackendError) -> [String] {
        do throws(Errno) {
            return try Syscall.directoryEntries(directory)
        } catch .noSuchFileOrDirectory {
            return []
        } catch {
            throw BackendError(operation, directory, error, "cannot list \(directory): \(error)")
        }
    }

    /// The memory the regular file at `path` holds; 0 when it is gone or not a regular file.
    static func allocatedBytes(of path: FilePath, operation: String) throws(BackendError) -> Int64 {
        do throws(Errno) {
            guard let status = try Syscall.linkStatusIfPresent(path), status.isRegularFile else { return 0 }
            return status.allocatedBytes
        } catch {
            throw BackendError(operation, path, error, "cannot look at \(path): \(error)")
        }
    }
}
