// Linux only.
import SystemPackage

/// Whole-file reads and crash-safe whole-file replacement.
public enum AtomicFile {
    /// Replaces the contents of `path` with `bytes` so that after a crash the file holds either the old or
    /// the new bytes: writes `<path>.tmp` (mode 0600), flushes it, renames it over `path`, then flushes the
    /// directory so the rename itself is durable.
    /// - Throws: `FileError` naming the step and path that failed; a partial `<path>.tmp` is removed.
    /// The corresponding C functions are `open(2)`, `pwrite(2)`, `fsync(2)` and `rename(2)`.
    public static func replace(path: String, bytes: [UInt8]) throws(FileError) {
        let target = FilePath(path)
        let temporary = FilePath(path + ".tmp")
        do throws(FileError) {
            try writeDurably(bytes, to: temporary)
            do throws(Errno) {
                try Syscall.rename(temporary, to: target)
            } catch {
                throw FileError("rename", temporary, error)
            }
        } catch {
            try? Syscall.unlink(temporary)
            throw error
        }
        let directory = target.removingLastComponent()
        let parent = directory.isEmpty ? FilePath(".") : directory
        do throws(Errno) {
            try Directory.synchronize(parent)
        } catch {
            throw FileError("fsync", parent, error)
        }
    }

    /// The whole contents of `path`, or `nil` when there is no file there.
    /// The corresponding C functions are `open(2)` and `pread(2)`.
    public static func read(path: String) throws(FileError) -> [UInt8]? {
        let source = FilePath(path)
        let file: OwnedDescriptor
        do throws(Errno) {
            file = try OwnedDescriptor.open(source, .readOnly, options: .noFollow)
        } catch .noSuchFileOrDirectory {
            return nil
        } catch {
            throw FileError("open", source, error)
        }
        do throws(Errno) {
            return try file.readToEnd()
        } catch {
            throw FileError("read", source, error)
        }
    }

    /// Creates or truncates `path` (mode 0600), writes `bytes` and flushes them to stable storage.
    private static func writeDurably(_ bytes: [UInt8], to path: FilePath) throws(FileError) {
        let file: OwnedDescriptor
        do throws(Errno) {
            file = try OwnedDescriptor.open(
                path, .writeOnly, options: [.create, .truncate, .noFollow], permissions: .ownerReadWrite
            )
        } catch {
            throw FileError("open", path, error)
        }
        do throws(Errno) {
            try file.writeAll(bytes)
        } catch {
            throw FileError("write", path, error)
        }
        do throws(Errno) {
            try file.synchronize()
        } catch {
            throw FileError("fsync", path, error)
        }
        do throws(Errno) {
            try file.close()
        } catch {
            throw FileError("close", path, error)
        }
    }
}
