// Linux only.
import DaxPoolCore
import DaxPoolSystem
import Logging
import SystemPackage

/// How a file backend commits a device's memory.
struct FileCommitPolicy {
    /// The region's pool of ready files: a new device of exactly a pooled size takes one, and pooled memory is
    /// freed when a commit needs it. `nil`: the backend keeps no pool.
    var pool: ScrubPool?
    /// The region's size: its files together may not hold more.
    var regionSize: Int64
    /// The region's page size: every size is a whole number of pages.
    var pageSize: Int64
    /// The NUMA node the memory must come from (`nil`: the thread's default policy).
    var node: Int?

    /// The bytes `fallocate(2)` allocates between progress reports: `HugetlbBackend.prefaultChunk`, rounded
    /// to whole pages.
    var chunk: Int64 { max(HugetlbBackend.prefaultChunk / pageSize, 1) * pageSize }
}

extension FileBackedDevices {
    /// Opens (or creates) the device file at `path` and makes it exactly `size` bytes, every page allocated, mode
    /// 0600: from the pool when creating and a pooled file has exactly `size`; otherwise by `fallocate(2)` in
    /// pieces after the pool made room. A shrink frees the tail with `ftruncate(2)`. On failure a new file is
    /// removed and a grown file gets its old size back.
    /// - Parameters:
    ///   - describe: the backend's error for a failed system call.
    ///   - progress: (bytes committed, total) after each piece; (total, total) at the end.
    func commit(
        _ device: DaxPoolCore.DeviceID,
        at path: FilePath,
        size: ByteCount,
        creating: Bool,
        policy: FileCommitPolicy,
        operation: String,
        describe: (Errno) -> BackendError,
        progress: (ByteCount, ByteCount) -> Void
    ) throws(BackendError) {
        guard let length = Int64(exactly: size.rawValue), length % policy.pageSize == 0 else {
            throw BackendError(
                operation, path, .invalidArgument,
                "\(device) must be a whole number of \(ByteCount(UInt64(policy.pageSize))) pages, not \(size) bytes"
            )
        }
        if creating, let pool = policy.pool, try take(device, at: path, size: size, from: pool, operation: operation) {
            progress(size, size)
            return
        }
        let options: FileDescriptor.OpenOptions = creating ? [.create, .exclusiveCreate, .noFollow] : [.noFollow]
        let file: OwnedDescriptor
        do throws(Errno) {
            file = try OwnedDescriptor.open(path, .readWrite, options: options, permissions: .ownerReadWrite)
        } catch {
            throw BackendError(operation, path, error, "cannot open the memory file of \(device) at \(path): \(error)")
        }
        let descriptor = file.descriptor.rawValue
        var oldLength: Int64 = 0
        do throws(BackendError) {
            let before: FileStatus
            do throws(Errno) {
                before = try file.status()
                oldLength = before.size
                if length < before.size { try file.resize(to: length) }
            } catch {
                throw describe(error)
            }
            let needed = length - min(before.allocatedBytes, length)
            if needed > 0 {
                // Commit only the new tail when everything before it is committed already.
                let start = before.allocatedBytes >= before.size ? min(before.size, length) : 0
                try allocate(
                    descriptor, at: path, from: start, to: length, needed: needed, policy: policy, operation: operation,
                    describe: describe, progress: progress)
            }
            do throws(Errno) {
                try file.setPermissions(.ownerReadWrite)
            } catch {
                throw describe(error)
            }
            progress(size, size)
        } catch {
            if creating {
                try? Syscall.unlink(path)
            } else if length > oldLength {
                try? file.resize(to: oldLength)
            }
            throw error
        }
    }

    /// Makes the new device file at `path` from a pooled file of exactly `size` bytes when the pool has one
    /// (`ScrubPool.take`, which proved it the daemon's, mode 0600, with no other way in), given to `owner` when one
    /// is named. Quick: a rename, and nothing allocated.
    /// - Returns: whether a pooled file was taken.
    func take(
        _ device: DaxPoolCore.DeviceID, at path: FilePath, size: ByteCount, owner: UInt32? = nil, from pool: ScrubPool,
        operation: String
    ) throws(BackendError) -> Bool {
        guard try pool.take(size: size, to: path, owner: owner, operation: operation) else { return false }
        logger.debug("took a ready file from the pool", metadata: ["device": "\(device)", "bytes": "\(size)"])
        return true
    }

    /// Allocates `start..<length` of the file open as `descriptor` in `policy.chunk` pieces on `policy.node`. The
    /// room is made and reserved under the pools' room lock, and the allocation runs outside it, so that the pool
    /// filler cannot take the memory meanwhile and a slow allocation holds up no other commit.
    private func allocate(
        _ descriptor: CInt,
        at path: FilePath,
        from start: Int64,
        to length: Int64,
        needed: Int64,
        policy: FileCommitPolicy,
        operation: String,
        describe: (Errno) -> BackendError,
        progress: (ByteCount, ByteCount) -> Void
    ) throws(BackendError) {
        let total = ByteCount(UInt64(length))
        try ScrubPool.reserveRoom(length, for: path) { () throws(BackendError) in
            if let pool = policy.pool, try pool.holdsEvictableFiles(operation: operation) {
                try pool.makeRoom(needed, regionSize: policy.regionSize, operation: operation)
            }
        }
        defer { ScrubPool.releaseRoom(path) }
        do throws(Errno) {
            var binding: NUMABinding? = nil
            if let node = policy.node { binding = try NUMABinding(node: node) }
            var offset = start
            progress(ByteCount(UInt64(offset)), total)
            while offset < length {
                let piece = min(policy.chunk, length - offset)
                try Syscall.allocate(descriptor, offset: offset, length: piece)
                offset += piece
                progress(ByteCount(UInt64(offset)), total)
            }
            if let binding = binding.take() { try binding.restore() }
        } catch {
            throw describe(error)
        }
    }
}
