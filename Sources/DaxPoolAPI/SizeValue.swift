public import DaxPoolCore

/// A size in a request body: a JSON integer (bytes) or a string in the one size grammar, such as `"2G"` or
/// `"0x200000"` (`ByteCount(parsing:)`: no spaces, sign or `B`/`iB`).
public struct SizeValue: Hashable, Sendable, Codable, ExpressibleByIntegerLiteral {
    /// The size as given: decimal bytes, or a size string not yet parsed.
    public var text: String

    /// The size string `text`, parsed only by `parsed()`.
    public init(_ text: String) { self.text = text }

    /// `bytes` bytes.
    public init(bytes: UInt64) { self.text = String(bytes) }

    /// `value` bytes, from an integer literal.
    public init(integerLiteral value: UInt64) { self.text = String(value) }

    /// The size in bytes.
    /// - Throws: `SizeParseError` when `text` does not follow the size grammar or does not fit in 64 bits.
    public func parsed() throws(SizeParseError) -> ByteCount { try ByteCount(parsing: text) }

    /// Decodes a non-negative JSON integer (bytes) or a JSON string, without parsing the string yet.
    /// - Throws: `DecodingError.dataCorrupted` for any other JSON value.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let number = try? container.decode(UInt64.self) {
            text = String(number)
        } else if let string = try? container.decode(String.self) {
            text = string
        } else {
            throw DecodingError.dataCorrupted(
                .init(
                    codingPath: decoder.codingPath,
                    debugDescription: "expected a non-negative integer or a size string such as \"2G\"")
            )
        }
    }

    /// Encodes a size that is plain decimal bytes as a JSON integer, any other as the string it was given.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let number = UInt64(text) { try container.encode(number) } else { try container.encode(text) }
    }
}
