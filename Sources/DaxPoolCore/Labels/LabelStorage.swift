/// The kind of access that failed in a `LabelStorage`.
public enum LabelStorageOperation: Hashable, Sendable, CustomStringConvertible {
    /// A read.
    case read
    /// A write.
    case write
    /// A flush (durability barrier).
    case flush

    /// `read`, `write` or `flush`.
    public var description: String {
        switch self {
        case .read: return "read"
        case .write: return "write"
        case .flush: return "flush"
        }
    }
}

/// The bytes of one label storage area, as a backend provides them.
///
/// Writes may reach the medium in any order and may be torn until `flush()` returns; `LabelStore` puts a
/// flush between every write that must not overtake another. An implementation over a file uses
/// `pread(2)`, `pwrite(2)` and `fsync(2)` (or `fdatasync(2)`).
public protocol LabelStorage {
    /// The size of the area in bytes (`config_size`).
    var size: Int { get }

    /// Reads `count` bytes at `offset`.
    ///
    /// - Parameters:
    ///   - offset: The first byte, counted from the start of the area.
    ///   - count: The number of bytes.
    /// - Returns: Exactly `count` bytes.
    /// - Throws: `LabelError.storageOutOfBounds`, `.storageShortRead` or `.storageFailed`.
    mutating func read(offset: Int, count: Int) throws(LabelError) -> [UInt8]

    /// Writes `bytes` at `offset`. Not durable until the next `flush()` returns.
    ///
    /// - Parameters:
    ///   - offset: The first byte, counted from the start of the area.
    ///   - bytes: The bytes to write.
    /// - Throws: `LabelError.storageOutOfBounds` or `.storageFailed`.
    mutating func write(offset: Int, bytes: [UInt8]) throws(LabelError)

    /// Makes every earlier write durable before returning.
    ///
    /// - Throws: `LabelError.storageFailed`.
    mutating func flush() throws(LabelError)
}
