// Linux only.
import DaxPoolSystem
import SystemPackage

extension Ledger {
    /// The ledger's file operations, each asking the write interposer (if any) first: a write as itself, a
    /// rename as a one-byte write at offset 0 of the path it replaces, a truncation as a one-byte write at the
    /// new length.
    enum Files {
        /// Writes `bytes` to `<path>.tmp` (created or truncated, mode 0600), `fdatasync`s it, renames it over
        /// `path` and `fsync`s the directory.
        /// - Returns: the new file, open for reading and writing.
        static func replace(
            path: String, with bytes: [UInt8], interposer: (any FileLabelStorage.WriteInterposer)?
        ) throws(LedgerError) -> OwnedDescriptor {
            let target = FilePath(path)
            let temporary = FilePath(path + ".tmp")
            let file: OwnedDescriptor
            do throws(Errno) {
                file = try OwnedDescriptor.open(
                    temporary, .readWrite, options: [.create, .truncate, .noFollow], permissions: .ownerReadWrite)
            } catch {
                throw .io(FileError("open", temporary, error))
            }
            do throws(LedgerError) {
                try write(bytes, at: 0, of: file, path: temporary.string, interposer: interposer)
                try synchronizeData(file, path: temporary.string)
                if let interposer, interposer.admit(path: path, offset: 0, count: 1) < 1 {
                    throw .interrupted(path: path)
                }
                do throws(Errno) {
                    try Syscall.rename(temporary, to: target)
                } catch {
                    throw .io(FileError("rename", temporary, error))
                }
            } catch {
                // A simulated crash leaves the temporary file as a real one would.
                if case .io = error {
                    try? Syscall.unlink(temporary)
                }
                throw error
            }
            let directory = target.removingLastComponent()
            let parent = directory.isEmpty ? FilePath(".") : directory
            do throws(Errno) {
                try Directory.synchronize(parent)
            } catch {
                throw .io(FileError("fsync", parent, error))
            }
            return file
        }

        /// Writes all of `bytes` at `offset` (`pwrite(2)`, short writes continued).
        static func write(
            _ bytes: [UInt8], at offset: Int, of file: borrowing OwnedDescriptor, path: String,
            interposer: (any FileLabelStorage.WriteInterposer)?
        ) throws(LedgerError) {
            var admitted = bytes.count
            if let interposer {
                admitted = min(bytes.count, max(0, interposer.admit(path: path, offset: offset, count: bytes.count)))
            }
            do throws(Errno) {
                if admitted == bytes.count {
                    try file.writeAll(bytes, at: Int64(offset))
                } else {
                    try file.writeAll(Array(bytes[..<admitted]), at: Int64(offset))
                }
            } catch {
                throw .io(FileError("pwrite", FilePath(path), error))
            }
            guard admitted == bytes.count else {
                throw .interrupted(path: path)
            }
        }

        /// Sets the file's length (`ftruncate(2)`).
        static func resize(
            _ file: borrowing OwnedDescriptor, to length: Int, path: String,
            interposer: (any FileLabelStorage.WriteInterposer)?
        ) throws(LedgerError) {
            if let interposer, interposer.admit(path: path, offset: length, count: 1) < 1 {
                throw .interrupted(path: path)
            }
            do throws(Errno) {
                try file.resize(to: Int64(length))
            } catch {
                throw .io(FileError("ftruncate", FilePath(path), error))
            }
        }

        /// Flushes the file's data and its length to stable storage (`fdatasync(2)`).
        static func synchronizeData(_ file: borrowing OwnedDescriptor, path: String) throws(LedgerError) {
            do throws(Errno) {
                try Syscall.synchronizeData(file.descriptor.rawValue)
            } catch {
                throw .io(FileError("fdatasync", FilePath(path), error))
            }
        }
    }
}
