// Linux only.
import DaxPoolCore
import DaxPoolSystem
import Glibc
import SystemPackage

/// A label storage area inside a file: `size` bytes from `offset`, read with `pread(2)`, written with
/// `pwrite(2)` (short writes continued, `EINTR` retried) and made durable with `fdatasync(2)`.
///
/// daxpool keeps one area per region in its state directory (`region<R>.labels`, the whole file); the label
/// tools also open areas inside other files, such as the last `label-size` bytes of a QEMU NVDIMM backing
/// file, where QEMU keeps the emulated DIMM's label storage area.
public final class FileLabelStorage: LabelStorage, Sendable {
    /// The size of a new area unless told otherwise: 128 KiB, what QEMU's `label-size=128K` and most real
    /// NVDIMMs provide.
    public static let defaultSize = 128 << 10

    /// How the file is opened.
    public enum Access: Hashable, Sendable {
        /// Reads only; `write` and `flush` fail with `EBADF`.
        case readOnly
        /// Reads and writes an existing file that already holds the whole area.
        case readWrite
        /// Like `readWrite`, but creates the file (mode 0600) when it is missing and extends it with zeros
        /// when it is shorter than `offset + size`.
        case createIfMissing
    }

    /// The file.
    public let path: String
    /// Where the area starts in the file.
    public let offset: Int
    /// The size of the area (`config_size`).
    public let size: Int
    private let file: OwnedDescriptor
    private let interposer: (any WriteInterposer)?

    /// Opens (or creates) the area.
    ///
    /// - Parameters:
    ///   - path: The file.
    ///   - offset: Where the area starts; `nil` for "the last `size` bytes of the file".
    ///   - size: The size of the area; `nil` for "from `offset` to the end of the file" (for a new file or
    ///     with `offset` `nil`: `defaultSize`).
    ///   - access: How to open the file.
    /// - Throws: `FileLabelStorageError` naming the file, the failed call and its `Errno`, or the range that
    ///   does not fit.
    public convenience init(
        path: String,
        offset: Int? = 0,
        size: Int? = nil,
        access: Access = .readWrite
    ) throws(FileLabelStorageError) {
        try self.init(path: path, offset: offset, size: size, access: access, interposer: nil)
    }

    /// `init(path:offset:size:access:)` with a write interposer (tests).
    init(
        path: String,
        offset requestedOffset: Int?,
        size requestedSize: Int?,
        access: Access,
        interposer: (any WriteInterposer)?
    ) throws(FileLabelStorageError) {
        let filePath = FilePath(path)
        let file: OwnedDescriptor
        do throws(Errno) {
            switch access {
            case .readOnly:
                file = try OwnedDescriptor.open(filePath, .readOnly)
            case .readWrite:
                file = try OwnedDescriptor.open(filePath, .readWrite)
            case .createIfMissing:
                file = try OwnedDescriptor.open(filePath, .readWrite, options: .create, permissions: .ownerReadWrite)
            }
        } catch {
            throw .io(FileError(operation: "open", path: path, errno: error))
        }
        let status: FileStatus
        do throws(Errno) {
            status = try file.status()
        } catch {
            throw .io(FileError(operation: "fstat", path: path, errno: error))
        }
        guard status.isRegularFile else {
            throw .notAFile(path: path)
        }
        let fileSize = Int(status.size)
        let size: Int
        let offset: Int
        switch (requestedOffset, requestedSize) {
        case (nil, let given):
            size = given ?? FileLabelStorage.defaultSize
            offset = fileSize - size
        case (let start?, let given?):
            offset = start
            size = given
        case (let start?, nil):
            offset = start
            size = access == .createIfMissing && fileSize <= start ? FileLabelStorage.defaultSize : fileSize - start
        }
        guard offset >= 0, size > 0, offset <= Int.max - size else {
            throw .invalidRange(path: path, offset: offset, size: size)
        }
        if fileSize < offset + size {
            guard access == .createIfMissing else {
                throw .outsideFile(path: path, offset: offset, size: size, fileSize: status.size)
            }
            do throws(Errno) {
                try file.resize(to: Int64(offset + size))
            } catch {
                throw .io(FileError(operation: "ftruncate", path: path, errno: error))
            }
        }
        self.path = path
        self.offset = offset
        self.size = size
        self.file = file
        self.interposer = interposer
    }

    /// Reads `count` bytes at `offset` of the area, continuing short reads.
    ///
    /// The corresponding C function is `pread(2)`.
    public func read(offset: Int, count: Int) throws(LabelError) -> [UInt8] {
        try checkBounds(offset: offset, count: count)
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let position = Int64(self.offset + offset + done)
            let start = done
            let result = bytes.withUnsafeMutableBytes { buffer in
                Result { () throws(Errno) in
                    try Syscall.read(
                        file.descriptor.rawValue, into: UnsafeMutableRawBufferPointer(rebasing: buffer[start...]),
                        at: position)
                }
            }
            switch result {
            case .success(0):
                throw .storageShortRead(offset: offset, expected: count, found: done)
            case .success(let read):
                done += read
            case .failure(let error):
                throw .storageFailed(operation: .read, offset: offset, count: count, errorNumber: error.rawValue)
            }
        }
        return bytes
    }

    /// Writes `bytes` at `offset` of the area, continuing short writes. Not durable until `flush()`.
    ///
    /// The corresponding C function is `pwrite(2)`.
    public func write(offset: Int, bytes: [UInt8]) throws(LabelError) {
        try checkBounds(offset: offset, count: bytes.count)
        var admitted = bytes.count
        if let interposer {
            admitted = min(
                bytes.count, max(0, interposer.admit(path: path, offset: self.offset + offset, count: bytes.count)))
        }
        do throws(Errno) {
            try file.writeAll(Array(bytes[..<admitted]), at: Int64(self.offset + offset))
        } catch {
            throw .storageFailed(operation: .write, offset: offset, count: bytes.count, errorNumber: error.rawValue)
        }
        guard admitted == bytes.count else {
            throw .storageFailed(
                operation: .write, offset: offset, count: bytes.count, errorNumber: Errno.ioError.rawValue)
        }
    }

    /// Makes every earlier write durable: the data and what is needed to read it back (a size or blocks an
    /// extension changed), without journaling the file's timestamps, which no reader of labels needs. On ext4 a
    /// timestamp-only `fsync` commits the file system's journal; this is the flush of the written blocks alone.
    ///
    /// The corresponding C function is `fdatasync(2)`.
    public func flush() throws(LabelError) {
        do throws(Errno) {
            try file.synchronizeData()
        } catch {
            throw .storageFailed(operation: .flush, offset: 0, count: size, errorNumber: error.rawValue)
        }
    }

    private func checkBounds(offset: Int, count: Int) throws(LabelError) {
        guard offset >= 0, count >= 0, offset <= size, count <= size - offset else {
            throw .storageOutOfBounds(offset: offset, count: count, size: size)
        }
    }
}
