// Linux only.
import CLinuxShims
import DaxPoolCore
import DaxPoolSystem
import Glibc
import Logging
import SystemPackage

/// Pre-zeroed, pre-faulted memory files of one region, kept in `<region path>/.pool/` (mode 0700) so that a new
/// device of the same size is ready at once: its file is renamed into place, with every page already allocated
/// and zero, instead of being allocated (and zeroed by the kernel) on the request path.
///
/// The choices, kept simple so that they are easy to check:
///
/// - **Scrub after destroy, off the request path.** A destroyed device's file is first renamed into the pool
///   directory as `dirty.<token>` (`hide`: its path is gone at once), then, on the daemon's scrub thread, zeroed by
///   the `Scrubber` through a `MAP_SHARED` mapping and renamed to `clean.<size>.<random>` (`scrubHidden`). Only
///   `clean.*` files are ever handed out, so a crash mid-scrub leaves a `dirty.*` file that is never reused and is
///   removed by `removeDirty()` (called on reconcile), which gives its pages back to the kernel to zero. A small
///   file that holds nothing to zero is settled at once instead (`scrubHiddenAtOnce`), with the same checks.
/// - **Nobody may still hold the memory.** Before scrubbing, the pool takes a write lease (`fcntl(F_SETLEASE,
///   F_WRLCK)`): Linux grants it only while no other open file description refers to the file, and a mapping
///   keeps its file description alive after `close`, so the lease also proves that no process still maps the
///   old device (read-only openers count too on Linux 5.3 and later). If the lease is refused, the file is
///   unlinked instead of pooled: the old holder keeps pages nobody else will get, and the next owner gets fresh
///   pages from the kernel.
/// - **Exact sizes.** A create takes a clean file of exactly its size; anything else allocates fresh memory.
/// - **Pooled memory counts as free.** The region's allocator does not know about the pool, so before a create
///   or grow allocates, the backend asks the pool to `makeRoom`: it unlinks clean files (and files still being
///   filled) until the region's files leave the memory it needs free.
/// - **Filled ahead of demand.** A region can name the file sizes its pool should hold (`RegionConfig.pool`);
///   `fill` allocates them in the background, so even the first device of such a size is ready at once.
/// - **If scrubbing fails** (the file cannot be mapped, ...), the file is unlinked, never pooled.
struct ScrubPool {
    /// `<region path>/.pool`.
    let directory: FilePath
    let scrubber: Scrubber
    let threads: Int
    let logger: Logger
    /// A destroyed device's file smaller than this is given back to the kernel, not scrubbed and kept: the kernel
    /// zeroes a few pages as fast as daxpool, and a pool of many small files would only slow every lookup.
    let minimumKeptSize: Int64

    static let directoryName = ".pool"

    /// The most clean files a pool keeps from destroyed devices: beyond it a destroyed device's file is given back
    /// to the kernel. (Files a region's `pool` names are made by `fill` whatever this says.)
    static let maximumKeptFiles = 64

    init(regionDirectory: FilePath, scrubber: Scrubber, threads: Int, logger: Logger, minimumKeptSize: Int64 = 0) {
        directory = regionDirectory.appending(Self.directoryName)
        self.scrubber = scrubber
        self.threads = threads
        self.logger = logger
        self.minimumKeptSize = minimumKeptSize
    }

    /// A clean pooled file.
    struct Entry: Hashable {
        var path: FilePath
        /// The file's length.
        var size: Int64
        /// The memory the file holds (`st_blocks * 512`).
        var allocatedBytes: Int64
    }

    /// What `retire` did with a file.
    enum Outcome: Equatable {
        /// Scrubbed and kept, `size` bytes.
        case pooled(size: Int64)
        /// Unlinked, with the reason.
        case removed(String)
        /// There was no file.
        case absent
        /// Left as it was: it holds bytes to zero, and stores were not allowed (`scrubHiddenAtOnce`).
        case needsStores
    }

    /// The clean files, smallest first.
    func entries(operation: String) throws(BackendError) -> [Entry] {
        var entries: [Entry] = []
        for name in try names(operation: operation) where name.hasPrefix("clean.") {
            let path = directory.appending(name)
            do throws(Errno) {
                guard let status = try Syscall.linkStatusIfPresent(path), status.isRegularFile else { continue }
                entries.append(Entry(path: path, size: status.size, allocatedBytes: status.allocatedBytes))
            } catch {
                throw BackendError(operation, path, error, "cannot look at the pooled file \(path): \(error)")
            }
        }
        return entries.sorted { ($0.size, $0.path.string) < ($1.size, $1.path.string) }
    }

    /// The memory all clean files hold.
    func pooledBytes(operation: String) throws(BackendError) -> Int64 {
        try entries(operation: operation).reduce(0) { $0 + $1.allocatedBytes }
    }

    /// Renames a clean file of exactly `size` bytes to `target` (which must not exist), and proves again that nobody
    /// but the daemon can reach it (`exclusivityProblem`): the daemon owns it, mode 0600, one name, no other open file
    /// description. A pooled file that fails the proof is unlinked, never handed out.
    /// - Returns: whether a file was taken.
    ///
    /// The candidates are the regular files named for the size (`clean.<size>.<random>`, as every clean file is
    /// named when it is made) that hold it; the proof checks the size again. A candidate is claimed by the rename
    /// before it is opened: a rename is atomic, so of two takers racing for one file one gets it and the other moves
    /// on, instead of finding the winner's descriptor and taking the file for one another process holds. Until the
    /// proof passes, the file at `target` is the daemon's alone (mode 0600) and the device is not listed. Concurrent
    /// takers start at random candidates (one random number, not one per candidate), so that they seldom race.
    ///
    /// With `owner`, a file that passed the proof is given to that uid through the descriptor the proof opened (its
    /// mode is 0600 already), so that the new device needs no second open by path; nothing is changed when `owner` is
    /// the daemon, which owns it already. If that fails, the file stays at `target` and the error is thrown, as when
    /// `setDeviceOwner` fails after a create.
    func take(size: ByteCount, to target: FilePath, owner: UInt32? = nil, operation: String) throws(BackendError)
        -> Bool
    {
        guard let length = Int64(exactly: size.rawValue), length > 0 else { return false }
        let prefix = "clean.\(length)."
        let candidates = try names(operation: operation).filter { $0.hasPrefix(prefix) }
        let start = candidates.isEmpty ? 0 : Int.random(in: 0..<candidates.count)
        for name in candidates[start...] + candidates[..<start] {
            let path = directory.appending(name)
            // Only a regular file of the size, all allocated, is a candidate; anything else by that name is left
            // alone, never moved or opened (a device node or a FIFO must not be).
            do throws(Errno) {
                guard let status = try Syscall.linkStatusIfPresent(path), status.isRegularFile,
                    status.size == length, status.allocatedBytes >= length
                else { continue }
                try Syscall.rename(path, to: target)
            } catch .noSuchFileOrDirectory {
                continue
            } catch {
                throw BackendError(operation, path, error, "cannot move the pooled file \(path) to \(target): \(error)")
            }
            let file: OwnedDescriptor
            do throws(Errno) {
                file = try OwnedDescriptor.open(target, .readWrite, options: .noFollow)
            } catch {
                // Not the file's fault (out of descriptors, say): it goes back to the pool, as it was.
                if (try? Syscall.rename(target, to: path)) == nil { try unlink(target, operation: operation) }
                throw BackendError(operation, path, error, "cannot open the pooled file \(path): \(error)")
            }
            guard let problem = Self.handOutProblem(of: file, size: length) else {
                if let owner, owner != geteuid() {
                    do throws(Errno) {
                        try file.changeOwner(uid: owner)
                    } catch {
                        throw BackendError(operation, target, error, "cannot give \(target) to uid \(owner): \(error)")
                    }
                }
                return true
            }
            logger.warning(
                "unlinked a pooled file instead of handing it out",
                metadata: ["path": "\(path)", "moved_to": "\(target)", "reason": "\(problem)"])
            try unlink(target, operation: operation)
        }
        return false
    }

    /// Why the pooled file open as `file` may not be handed out as a device of `size` bytes, or `nil`.
    static func handOutProblem(of file: borrowing OwnedDescriptor, size: Int64) -> String? {
        let status: FileStatus
        do throws(Errno) {
            status = try file.status()
        } catch {
            return "cannot look at it: \(error)"
        }
        guard status.ownerUID == geteuid(), status.permissions == 0o600 else {
            return "it is owned by uid \(status.ownerUID) with mode \(String(status.permissions, radix: 8)), "
                + "not the daemon's with 0600"
        }
        guard status.size == size, status.allocatedBytes >= size, status.allocatedBytes <= size + 4096 else {
            return "it holds \(status.allocatedBytes) bytes in \(status.size), not \(size)"
        }
        return exclusivityProblem(of: file, owned: true)
    }

    /// Takes a destroyed device's file at `path` out of sight, checks that nobody else holds it, scrubs it and
    /// keeps it; unlinks it instead when it is still held or cannot be scrubbed. (`hide` then `scrubHidden`.) A file
    /// too small to keep (an empty one: a revoked device, a create undone) is unlinked where it is, and a missing
    /// one is `.absent`, without passing through the pool, so the pool directory is not made for them.
    func retire(_ path: FilePath, operation: String) throws(BackendError) -> Outcome {
        let status: FileStatus
        do throws(Errno) {
            guard let present = try Syscall.linkStatusIfPresent(path) else { return .absent }
            status = present
        } catch {
            throw BackendError(operation, path, error, "cannot look at \(path): \(error)")
        }
        if status.isRegularFile, max(status.size, status.allocatedBytes) < max(minimumKeptSize, 1) {
            try unlink(path, operation: operation)
            return .removed("it is smaller than the \(minimumKeptSize) bytes worth keeping")
        }
        let token = Self.uniqueSuffix()
        guard try hide(path, token: token, operation: operation) else { return .absent }
        return try scrubHidden(token: token, expectedSize: nil, operation: operation, progress: nil)
    }

    /// Renames the file at `path` to `dirty.<token>` in the pool: its path is gone at once, and a `dirty.*` file
    /// is never handed out. Fast: nothing is zeroed.
    /// - Returns: whether there was a file.
    func hide(_ path: FilePath, token: String, operation: String) throws(BackendError) -> Bool {
        let dirty = try dirtyPath(token: token, operation: operation)
        try prepare(operation: operation)
        do throws(Errno) {
            try Syscall.rename(path, to: dirty)
            return true
        } catch .noSuchFileOrDirectory {
            return false
        } catch {
            throw BackendError(operation, path, error, "cannot move \(path) into the pool \(directory): \(error)")
        }
    }

    /// Scrubs `dirty.<token>` and renames it `clean.<size>.<random>`; unlinks it instead when another process
    /// still holds it or it cannot be scrubbed. A file that is gone already (a restart removed it) is `.absent`.
    /// `progress` hears (bytes zeroed, total) on the calling thread. `expectedSize` is the device's size when known:
    /// a file its last owner grew past it (`ftruncate`, `fallocate`) is cut back to it before the scrub.
    func scrubHidden(
        token: String,
        expectedSize: Int64?,
        operation: String,
        progress: ((Int, Int) -> Void)?
    ) throws(BackendError) -> Outcome {
        let dirty = try dirtyPath(token: token, operation: operation)
        return try settle(dirty, scrub(dirty, expectedSize: expectedSize, progress: progress), operation: operation)
    }

    /// Renames the scrubbed `dirty` file `clean.<size>.<random>`, or unlinks it, as `outcome` says.
    private func settle(_ dirty: FilePath, _ outcome: Outcome, operation: String) throws(BackendError) -> Outcome {
        switch outcome {
        case .pooled(let size):
            let clean = directory.appending("clean.\(size).\(Self.uniqueSuffix())")
            do throws(Errno) {
                try Syscall.rename(dirty, to: clean)
            } catch {
                try unlink(dirty, operation: operation)
                return .removed("cannot rename \(dirty) to \(clean): \(error)")
            }
        case .removed(let reason):
            logger.notice("unlinked instead of pooling", metadata: ["path": "\(dirty)", "reason": "\(reason)"])
            try unlink(dirty, operation: operation)
        case .absent, .needsStores:
            break
        }
        return outcome
    }

    /// `dirty.<token>` in the pool; a token is 1 to 64 hex digits, so it can never name another file.
    func dirtyPath(token: String, operation: String) throws(BackendError) -> FilePath {
        guard !token.isEmpty, token.utf8.count <= 64, token.utf8.allSatisfy({ Self.isHexDigit($0) }) else {
            throw BackendError(
                operation, directory, .invalidArgument,
                "scrub token '\(token)' is not 1 to 64 hex digits: the saved state is corrupt"
            )
        }
        return directory.appending("dirty.\(token)")
    }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
    }

    /// Unlinks `dirty.*` and `filling.*` files: memory a crash left half-scrubbed or half-filled.
    func removeDirty(operation: String) throws(BackendError) {
        for name in try names(operation: operation) where name.hasPrefix("dirty.") || name.hasPrefix("filling.") {
            try unlink(directory.appending(name), operation: operation)
        }
    }

    /// Unlinks every file in the pool and the pool directory itself; files that are not the pool's stay and the
    /// directory then stays too.
    func removeAll(operation: String) throws(BackendError) {
        let poolFiles = ["dirty.", "clean.", "filling."]
        for name in try names(operation: operation) where poolFiles.contains(where: { name.hasPrefix($0) }) {
            try unlink(directory.appending(name), operation: operation)
        }
        do throws(Errno) {
            try Syscall.removeDirectory(directory)
        } catch .noSuchFileOrDirectory {
            return
        } catch {
            throw BackendError(operation, directory, error, "cannot remove the pool directory \(directory): \(error)")
        }
    }

    // MARK: - Helpers

    /// Creates the pool directory (mode 0700) if it is missing; one that exists must be a directory the daemon
    /// owns that nobody else may enter (not a symbolic link), or nothing is moved into it.
    func prepare(operation: String) throws(BackendError) {
        try Directory.preparePrivate(
            directory, name: "the pool directory \(directory)", remedy: "move it away and retry", operation: operation)
    }

    /// The names in the pool directory; none when it does not exist.
    func names(operation: String) throws(BackendError) -> [String] {
        try Self.names(in: directory, operation: operation)
    }

    /// Unlinks a pool file; one that is gone already is fine.
    func unlink(_ path: FilePath, operation: String) throws(BackendError) {
        do throws(Errno) {
            try Syscall.unlink(path)
        } catch .noSuchFileOrDirectory {
            return
        } catch {
            throw BackendError(operation, path, error, "cannot remove \(path): \(error)")
        }
    }

    /// `scrubHidden`, done at once only when it is quick: the file is at most `limit` bytes and holds nothing to
    /// zero (`Scrubber.needsStores`), or it is not to be kept (someone still holds it, it is too small, the pool is
    /// full: it is unlinked). Every check `scrubHidden` makes is made. `nil`: the file needs stores and is left as
    /// `dirty.<token>` for `scrubHidden`.
    func scrubHiddenAtOnce(token: String, expectedSize: Int64?, limit: Int64, operation: String) throws(BackendError)
        -> Outcome?
    {
        let dirty = try dirtyPath(token: token, operation: operation)
        let status: FileStatus?
        do throws(Errno) {
            status = try Syscall.linkStatusIfPresent(dirty)
        } catch {
            return nil
        }
        guard let status else { return .absent }
        guard status.size <= limit, status.allocatedBytes <= limit else { return nil }
        let outcome = scrub(dirty, expectedSize: expectedSize, storesAllowed: false, progress: nil)
        if outcome == .needsStores { return nil }
        return try settle(dirty, outcome, operation: operation)
    }

    /// Proves that nobody else can reach the file at `path` (`exclusivityProblem`), cuts it back to `expectedSize`
    /// when its last owner grew it, and zeroes it; says whether it may be pooled. Without `storesAllowed`, a file
    /// that holds bytes to zero is `.needsStores` and left as it is.
    private func scrub(
        _ path: FilePath, expectedSize: Int64?, storesAllowed: Bool = true, progress: ((Int, Int) -> Void)?
    ) -> Outcome {
        let file: OwnedDescriptor
        do throws(Errno) {
            file = try OwnedDescriptor.open(path, .readWrite, options: .noFollow)
        } catch .noSuchFileOrDirectory {
            return .absent
        } catch {
            return .removed("cannot open it: \(error)")
        }
        if let problem = Self.exclusivityProblem(of: file) {
            return .removed(problem)
        }
        if let expectedSize, let problem = cutBack(file, at: path, to: expectedSize) {
            return .removed(problem)
        }
        let size = (try? file.status().size) ?? 0
        guard size >= minimumKeptSize else {
            progress?(Int(size), Int(size))
            return .removed("it is smaller than the \(minimumKeptSize) bytes worth keeping")
        }
        let kept = (try? Syscall.directoryEntries(directory).count { $0.hasPrefix("clean.") }) ?? 0
        guard kept < Self.maximumKeptFiles else {
            progress?(Int(size), Int(size))
            return .removed("the pool keeps \(Self.maximumKeptFiles) files already")
        }
        if !storesAllowed {
            // Nothing to zero is nothing to store: the file is ready as it is.
            if Scrubber.needsStores(file) { return .needsStores }
            return size > 0 ? .pooled(size: size) : .removed("it is empty")
        }
        do throws(BackendError) {
            let size = try scrubber.scrub(file, at: path, threads: threads, progress: progress)
            return size.rawValue > 0 ? .pooled(size: Int64(size.rawValue)) : .removed("it is empty")
        } catch {
            return .removed(error.message)
        }
    }

    /// Truncates a file its last owner grew past `size` (longer, or pages allocated beyond its end) back to
    /// `size`, freeing what it took beyond; `nil` when the file now holds at most `size` bytes.
    private func cutBack(_ file: borrowing OwnedDescriptor, at path: FilePath, to size: Int64) -> String? {
        do throws(Errno) {
            let before = try file.status()
            guard before.size > size || before.allocatedBytes > max(before.size, size) else { return nil }
            try file.resize(to: min(before.size, size))
            let after = try file.status()
            guard after.allocatedBytes <= size else {
                return "it still holds \(after.allocatedBytes) bytes after it was cut back to \(size)"
            }
            logger.warning(
                "a destroyed device's file had grown past its size; cut back",
                metadata: [
                    "path": "\(path)", "size": "\(before.size)", "allocated": "\(before.allocatedBytes)",
                    "device_size": "\(size)",
                ])
            return nil
        } catch {
            return "cannot cut it back to \(size) bytes: \(error)"
        }
    }

    /// 16 random hex digits, so that concurrent or repeated retirements never collide.
    static func uniqueSuffix() -> String {
        var generator = SystemRandomNumberGenerator()
        let value = generator.next()
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
