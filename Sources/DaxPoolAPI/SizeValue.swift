public import DaxPoolCore

/// A size in a request body: a JSON integer (bytes) or a string in the one size grammar, such as `"2G"` or
/// `"0x200000"` (`ByteCount(parsing:)`: no spaces, sign or `B`/`iB`).
public struct SizeValue: Hashable, Sendable, Codable, ExpressibleByIntegerLiteral {
    public var text: String

    public init(_ text: String) { self.text = text }

    public init(bytes: UInt64) { self.text = String(bytes) }

    public init(integerLiteral value: UInt64) { self.text = String(value) }

    public func parsed() throws(SizeParseError) -> ByteCount { try ByteCount(parsing: text) }

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

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let number = UInt64(text) { try container.encode(number) } else { try container.encode(text) }
    }
}
