/// A user-chosen device name: 1 to 63 bytes of UTF-8 (63 bytes plus a NUL fill the 64-byte `name` field of a
/// namespace label), printable characters only, no `/`, not `.` or `..`, and never the form of a device id or a
/// uuid, so that a name cannot pass for another device or hide what it says.
///
/// Refused: the Unicode general categories Cc (controls), Cf (format, which holds the bidi and zero-width
/// controls), Zl and Zp (line and paragraph separators), Co (private use), Cs (surrogates) and Cn (unassigned);
/// the bidi controls U+061C, U+200E, U+200F, U+202A-202E and U+2066-2069 and the zero-width U+200B-200D, U+2060
/// and U+FEFF by name as well; names of the form `daxR.N` or `R.N` (any case), `regionR.pool` (a pool fill in
/// progress reports), and 8-4-4-4-12 hex (a uuid).
public struct DeviceName: Hashable, Sendable, Codable, CustomStringConvertible {
    /// The name as given, already checked.
    public let value: String

    /// The longest name in UTF-8 bytes: 63, so that the name and a NUL fill the label's 64-byte `name` field.
    public static let maximumByteCount = 63

    /// Checks a name that comes from outside (a request, the CLI) against every rule.
    public init(validating value: String) throws(NameError) {
        try Self.checkStructure(value)
        if let scalar = value.unicodeScalars.first(where: { !Self.isPrintable($0) }) {
            throw .forbiddenCharacter(Self.describe(scalar))
        }
        if let form = Self.reservedForm(of: value) { throw .looksLike(value, form) }
        self.value = value
    }

    /// A name read back from the daemon's own state: only the rules that keep files and labels sound (1 to 63
    /// bytes, no NUL, no `/`, not `.` or `..`), so that a name an older daemon accepted still loads.
    public init(loading value: String) throws(NameError) {
        try Self.checkStructure(value)
        self.value = value
    }

    /// The name itself.
    public var description: String { value }

    /// Decodes a JSON string with the loading rules of `init(loading:)`, so state written by an older daemon still
    /// loads.
    /// - Throws: `DecodingError.dataCorrupted` with the `NameError`'s message when the string breaks them.
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do {
            try self.init(loading: text)
        } catch {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: error.description))
        }
    }

    /// Encodes the name as a JSON string.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(value)
    }

    private static func checkStructure(_ value: String) throws(NameError) {
        let byteCount = value.utf8.count
        guard byteCount > 0 else { throw .empty }
        guard byteCount <= maximumByteCount else { throw .tooLong(byteCount) }
        guard !value.unicodeScalars.contains(where: { $0.value == 0 }) else { throw .forbiddenCharacter("NUL") }
        guard !value.contains("/") else { throw .forbiddenCharacter("/") }
        guard value != ".", value != ".." else { throw .reserved(value) }
    }

    /// Whether `scalar` is a printable character a name may hold.
    static func isPrintable(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x061C, 0x200B...0x200F, 0x202A...0x202E, 0x2060, 0x2066...0x2069, 0xFEFF: return false
        default: break
        }
        switch scalar.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator, .privateUse, .surrogate, .unassigned:
            return false
        default:
            return true
        }
    }

    /// What `value` could be taken for, or `nil` when it is an ordinary name.
    static func reservedForm(of value: String) -> String? {
        let lower = value.lowercased()
        let bytes = Array(lower.utf8)
        func isDigits(_ part: ArraySlice<UInt8>) -> Bool {
            !part.isEmpty && part.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
        }
        func isIDPair(_ part: ArraySlice<UInt8>) -> Bool {
            let halves = part.split(separator: 0x2E, omittingEmptySubsequences: false)
            return halves.count == 2 && halves.allSatisfy(isDigits)
        }
        if isIDPair(bytes[...]) || (lower.hasPrefix("dax") && isIDPair(bytes.dropFirst(3))) {
            return "a device id (daxR.N)"
        }
        if lower.hasPrefix("region"), lower.hasSuffix(".pool"), isDigits(bytes.dropFirst(6).dropLast(5)) {
            return "a region's pool (regionR.pool)"
        }
        let groups = bytes.split(separator: 0x2D, omittingEmptySubsequences: false)
        if groups.map(\.count) == [8, 4, 4, 4, 12],
            groups.allSatisfy({ $0.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) } })
        {
            return "a uuid"
        }
        return nil
    }

    /// `U+202E RIGHT-TO-LEFT OVERRIDE`-style words for a refused character.
    static func describe(_ scalar: Unicode.Scalar) -> String {
        let hex = String(scalar.value, radix: 16, uppercase: true)
        let code = "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
        if let name = scalar.properties.name ?? scalar.properties.nameAlias { return "\(code) \(name)" }
        return "\(code) (\(scalar.properties.generalCategory))"
    }
}

/// Why a device name was refused.
public enum NameError: Error, Equatable, Sendable, CustomStringConvertible {
    case empty
    case tooLong(Int)
    case forbiddenCharacter(String)
    case reserved(String)
    /// The name has the form of something else (a device id, a uuid): the name and what it looks like.
    case looksLike(String, String)

    /// Why the name was refused and what to do instead, for error bodies and the CLI.
    public var description: String {
        switch self {
        case .empty: "name is empty: give 1 to 63 bytes"
        case .tooLong(let count): "name is \(count) bytes long: names are at most 63 bytes (the label name field)"
        case .forbiddenCharacter(let what):
            "name contains \(what): names hold printable characters only, no '/', NUL, control, format (bidi, "
                + "zero-width), separator, private-use or unassigned characters"
        case .reserved(let value): "name '\(value)' is reserved: choose another"
        case .looksLike(let value, let form):
            "name '\(value)' has the form of \(form), so it could be taken for one: choose another"
        }
    }
}
