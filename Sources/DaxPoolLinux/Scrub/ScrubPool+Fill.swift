// Linux only.
import DaxPoolCore
import DaxPoolSystem
import Logging
import SystemPackage

/// What `ScrubPool.fill` did.
struct PoolFillOutcome: Equatable {
    /// The sizes of the files it made ready.
    var made: [Int64] = []
    /// The sizes it could not make: the region had no room for them, or a commit took the memory meanwhile.
    var skipped: [Int64] = []
    /// Whether `shouldContinue` stopped it.
    var stopped = false
}

extension ScrubPool {
    /// The sizes in `targets` that no clean file has yet, in the order given (a multiset difference: two targets
    /// of 2 GiB and one clean 2 GiB file leave one 2 GiB missing). Only fully allocated files count.
    func missing(_ targets: [Int64], operation: String) throws(BackendError) -> [Int64] {
        var ready: [Int64: Int] = [:]
        for entry in try entries(operation: operation) where entry.allocatedBytes >= entry.size {
            ready[entry.size, default: 0] += 1
        }
        var missing: [Int64] = []
        for size in targets {
            if let count = ready[size], count > 0 {
                ready[size] = count - 1
            } else {
                missing.append(size)
            }
        }
        return missing
    }

    /// The clean files beyond what `targets` asks for, largest first: what `fill` may evict to make a target.
    func surplus(_ targets: [Int64], operation: String) throws(BackendError) -> [Entry] {
        var wanted: [Int64: Int] = [:]
        for size in targets { wanted[size, default: 0] += 1 }
        var surplus: [Entry] = []
        for entry in try entries(operation: operation).reversed() {
            if let count = wanted[entry.size], count > 0, entry.allocatedBytes >= entry.size {
                wanted[entry.size] = count - 1
            } else {
                surplus.append(entry)
            }
        }
        return surplus.sorted { $0.allocatedBytes > $1.allocatedBytes }
    }

    /// Makes a clean file for every size in `targets` that the pool lacks, so that a device of that size is
    /// ready at once. Each file is `filling.<random>` while its memory is allocated (the kernel zeroes it, off
    /// the request path), `chunk` bytes at a time under the room lock, and becomes `clean.<size>.<random>` when it
    /// is whole. A target that does not fit in the region's free memory, even after evicting clean files no target
    /// asks for, is skipped; a commit that needs the memory unlinks a file being filled, and the filler then
    /// skips it. A crash leaves a `filling.*` file, which `removeDirty` removes.
    /// - Parameters:
    ///   - targets: the file sizes the pool should hold, each a whole number of `chunk`'s pages.
    ///   - regionSize: the region's size, which the region's files may not exceed together.
    ///   - chunk: bytes allocated per step (a whole number of the region's pages).
    ///   - node: the NUMA node the memory must come from, or `nil` for the default policy.
    ///   - shouldContinue: asked before each step; `false` stops the fill and removes the file in hand.
    ///   - progress: (bytes made, bytes missing at the start) after each step.
    func fill(
        targets: [Int64],
        regionSize: Int64,
        chunk: Int64,
        node: Int?,
        operation: String = "fill-pool",
        shouldContinue: () -> Bool,
        progress: (Int64, Int64) -> Void
    ) throws(BackendError) -> PoolFillOutcome {
        var outcome = PoolFillOutcome()
        let missing = try missing(targets, operation: operation)
        let total = missing.reduce(0, +)
        var done: Int64 = 0
        progress(0, total)
        try prepare(operation: operation)
        for size in missing {
            let path = directory.appending("filling.\(Self.uniqueSuffix())")
            var offset: Int64 = 0
            var skipped = false
            while offset < size {
                guard shouldContinue() else {
                    try Self.withRoomLock { () throws(BackendError) in try unlink(path, operation: operation) }
                    outcome.stopped = true
                    progress(done, total)
                    return outcome
                }
                let piece = min(chunk, size - offset)
                let allocated = try Self.withRoomLock { () throws(BackendError) -> Bool in
                    try allocatePiece(
                        of: path, offset: offset, length: piece, targets: targets, regionSize: regionSize, node: node,
                        operation: operation)
                }
                guard allocated else {
                    skipped = true
                    break
                }
                offset += piece
                done += piece
                progress(done, total)
            }
            if skipped {
                outcome.skipped.append(size)
                continue
            }
            let clean = directory.appending("clean.\(size).\(Self.uniqueSuffix())")
            let renamed = try Self.withRoomLock { () throws(BackendError) -> Bool in
                do throws(Errno) {
                    try Syscall.rename(path, to: clean)
                    return true
                } catch .noSuchFileOrDirectory {
                    return false
                } catch {
                    try unlink(path, operation: operation)
                    throw BackendError(operation, path, error, "cannot rename \(path) to \(clean): \(error)")
                }
            }
            if renamed {
                outcome.made.append(size)
                logger.debug("filled a pooled file", metadata: ["path": "\(clean)", "bytes": "\(size)"])
            } else {
                outcome.skipped.append(size)
            }
        }
        progress(total, total)
        return outcome
    }

    /// One step of `fill`: opens the file being filled (creating it at offset 0), makes room for `length` bytes
    /// by evicting surplus clean files, and allocates them. Call it holding the room lock.
    /// - Returns: `false` when the file is gone (a commit took its memory) or the region has no room: the file is
    ///   then removed and the target skipped.
    private func allocatePiece(
        of path: FilePath,
        offset: Int64,
        length: Int64,
        targets: [Int64],
        regionSize: Int64,
        node: Int?,
        operation: String
    ) throws(BackendError) -> Bool {
        let file: OwnedDescriptor
        do throws(Errno) {
            let options: FileDescriptor.OpenOptions =
                offset == 0 ? [.create, .exclusiveCreate, .noFollow] : [.noFollow]
            file = try OwnedDescriptor.open(path, .readWrite, options: options, permissions: .ownerReadWrite)
        } catch .noSuchFileOrDirectory {
            return false
        } catch {
            throw BackendError(operation, path, error, "cannot open the pool file \(path): \(error)")
        }
        var free = try free(regionSize: regionSize, operation: operation)
        if free < length {
            for entry in try surplus(targets, operation: operation) where free < length {
                try unlink(entry.path, operation: operation)
                free += entry.allocatedBytes
            }
        }
        guard free >= length else {
            try unlink(path, operation: operation)
            return false
        }
        do throws(Errno) {
            if let node {
                let binding = try NUMABinding(node: node)
                try file.allocate(offset: offset, length: length)
                try binding.restore()
            } else {
                try file.allocate(offset: offset, length: length)
            }
            return true
        } catch .noSpace, .noMemory {
            try unlink(path, operation: operation)
            return false
        } catch {
            try unlink(path, operation: operation)
            throw BackendError(operation, path, error, "cannot allocate memory for the pool file \(path): \(error)")
        }
    }
}
