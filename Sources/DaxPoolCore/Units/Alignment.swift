/// A device or region alignment: 4 KiB, 2 MiB or 1 GiB, the page sizes x86-64 maps.
public struct Alignment: RawRepresentable, Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    /// The alignment in bytes: 4096, 2097152 or 1073741824.
    public let rawValue: UInt64

    /// Accepts only the three supported page sizes.
    public init?(rawValue: UInt64) {
        guard Self.supported.contains(where: { $0 == rawValue }) else { return nil }
        self.rawValue = rawValue
    }

    private init(unchecked value: UInt64) { self.rawValue = value }

    /// 4 KiB, the base page (shm's page size).
    public static let page4K = Alignment(unchecked: 4096)
    /// 2 MiB, the x86-64 huge page.
    public static let page2M = Alignment(unchecked: 2 << 20)
    /// 1 GiB, the x86-64 gigantic page.
    public static let page1G = Alignment(unchecked: 1 << 30)

    static let supported: [UInt64] = [4096, 2 << 20, 1 << 30]

    /// The page sizes in ascending order.
    public static let all: [Alignment] = [.page4K, .page2M, .page1G]

    /// The alignment as a number of bytes.
    public var byteCount: ByteCount { ByteCount(rawValue) }

    /// log2 of the alignment in bytes (12, 21 or 30).
    public var shift: Int { rawValue.trailingZeroBitCount }

    /// Orders by size in bytes.
    public static func < (lhs: Alignment, rhs: Alignment) -> Bool { lhs.rawValue < rhs.rawValue }

    /// The short form `4K`, `2M` or `1G`, as the CLI takes and prints it.
    public var description: String {
        switch rawValue {
        case 4096: "4K"
        case 2 << 20: "2M"
        default: "1G"
        }
    }

    /// Parses `4K`, `2M`, `1G`, or the same in bytes (`4096`, `2097152`, `0x40000000`).
    public init(parsing text: String) throws(AlignmentError) {
        let bytes: ByteCount
        do {
            bytes = try ByteCount(parsing: text)
        } catch {
            throw .invalid(text)
        }
        guard let alignment = Alignment(rawValue: bytes.rawValue) else { throw .invalid(text) }
        self = alignment
    }

    /// Decodes a bare JSON integer of bytes.
    /// - Throws: `DecodingError.dataCorrupted` unless it is 4096, 2097152 or 1073741824.
    public init(from decoder: any Decoder) throws {
        let value = try decoder.singleValueContainer().decode(UInt64.self)
        guard let alignment = Alignment(rawValue: value) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "align must be 4096, 2097152 or 1073741824")
            )
        }
        self = alignment
    }

    /// Encodes the alignment as a bare JSON integer of bytes.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

/// An alignment that is not one of the supported page sizes.
public enum AlignmentError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalid(String)

    /// What was given and which alignments work, for error bodies and the CLI.
    public var description: String {
        switch self {
        case .invalid(let text): "alignment '\(text)' is not supported: use 4K, 2M or 1G"
        }
    }
}
