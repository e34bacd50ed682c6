// Linux only.
import DaxPoolCore
import DaxPoolSystem

/// Why a label storage area in a file could not be opened or created.
public enum FileLabelStorageError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A system call on the file failed (its operation, path and `Errno`).
    case io(FileError)
    /// The area `offset..<offset+size` does not lie inside the file.
    case outsideFile(path: String, offset: Int, size: Int, fileSize: Int64)
    /// The offset or size is negative, or the size is zero.
    case invalidRange(path: String, offset: Int, size: Int)
    /// The path names something other than a regular file or block device.
    case notAFile(path: String)

    /// What went wrong and what to do.
    public var description: String {
        switch self {
        case .io(let error):
            return "cannot use the label area file (\(error)): check that it exists and that this user may read "
                + "and write it"
        case .outsideFile(let path, let offset, let size, let fileSize):
            return "\(path): a \(size)-byte label area at offset \(offset) does not fit in the \(fileSize)-byte file; "
                + "give --offset and --size inside the file (for a QEMU NVDIMM backing file: --offset end --size 128K)"
        case .invalidRange(let path, let offset, let size):
            return "\(path): offset \(offset) and size \(size) do not describe a label area; "
                + "the size must be positive and the offset not negative"
        case .notAFile(let path):
            return "\(path) is not a regular file: give the file that holds the label area"
        }
    }
}
