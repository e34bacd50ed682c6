/// A user-chosen device name: 1 to 63 bytes of UTF-8, no `/`, no NUL, no control characters, not `.` or `..`.
/// 63 bytes plus a NUL fill the 64-byte `name` field of a namespace label.
public struct DeviceName: Hashable, Sendable, Codable, CustomStringConvertible {
    public let value: String

    public static let maximumByteCount = 63

    public init(validating value: String) throws(NameError) {
        let byteCount = value.utf8.count
        guard byteCount > 0 else { throw .empty }
        guard byteCount <= Self.maximumByteCount else { throw .tooLong(byteCount) }
        guard !value.unicodeScalars.contains(where: { $0.value == 0 }) else { throw .forbiddenCharacter("NUL") }
        guard !value.contains("/") else { throw .forbiddenCharacter("/") }
        guard !value.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) else {
            throw .forbiddenCharacter("a control character")
        }
        guard value != ".", value != ".." else { throw .reserved(value) }
        self.value = value
    }

    public var description: String { value }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do {
            try self.init(validating: text)
        } catch {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: error.description))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(value)
    }
}

/// Why a device name was refused.
public enum NameError: Error, Equatable, Sendable, CustomStringConvertible {
    case empty
    case tooLong(Int)
    case forbiddenCharacter(String)
    case reserved(String)

    public var description: String {
        switch self {
        case .empty: "name is empty: give 1 to 63 bytes"
        case .tooLong(let count): "name is \(count) bytes long: names are at most 63 bytes (the label name field)"
        case .forbiddenCharacter(let what):
            "name contains \(what): names may not contain '/', NUL or control characters"
        case .reserved(let value): "name '\(value)' is reserved: choose another"
        }
    }
}
