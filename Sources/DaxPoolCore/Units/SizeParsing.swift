/// Why a size string could not be parsed.
public enum SizeParseError: Error, Equatable, Sendable, CustomStringConvertible {
    case empty
    case invalid(String)
    case overflow(String)

    /// What is wrong with the size and the grammar to use instead, for error bodies and the CLI.
    public var description: String {
        switch self {
        case .empty:
            "size is empty: give a number of bytes, optionally with a k/m/g/t suffix (e.g. 2G) or in 0x hex"
        case .invalid(let text):
            "size \(SizeGrammar.quoted(text)) is not valid: give a number of bytes, optionally with a k/m/g/t "
                + "suffix (e.g. 512M, 2G) or in 0x hex, with no spaces, sign or B/iB"
        case .overflow(let text):
            "size \(SizeGrammar.quoted(text)) does not fit in 64 bits"
        }
    }
}

/// The one grammar every size from outside follows (request bodies, CLI options, pool lists):
/// `^(0x[0-9a-fA-F]+|[0-9]+)([kKmMgGtT])?$`. No spaces, no sign, no `B`/`iB`; k/m/g/t are binary multiples.
enum SizeGrammar {
    /// `text` for a message: at most 40 characters, everything outside printable ASCII escaped.
    static func quoted(_ text: String) -> String {
        var result = "'"
        for (index, scalar) in text.unicodeScalars.enumerated() {
            if index == 40 {
                result += "..."
                break
            }
            if scalar.value >= 0x20, scalar.value < 0x7f, scalar != "'", scalar != "\\" {
                result.unicodeScalars.append(scalar)
            } else {
                result += "\\u{\(String(scalar.value, radix: 16))}"
            }
        }
        return result + "'"
    }
}

extension ByteCount {
    /// Parses a size in the one strict grammar: decimal bytes (`"4096"`), `0x` hex (`"0x200000"`), either with an
    /// optional `k`, `m`, `g` or `t` suffix in either case (`"512k"`, `"2M"`, `"1g"`, `"0x10M"`; binary multiples).
    /// Anything else is refused: spaces, signs, `B`/`iB` suffixes, `0X`, and values past 64 bits.
    public init(parsing text: String) throws(SizeParseError) {
        guard !text.isEmpty else { throw .empty }
        var digits = Substring(text)
        var shift: UInt64 = 0
        switch digits.last {
        case "k", "K": shift = 10
        case "m", "M": shift = 20
        case "g", "G": shift = 30
        case "t", "T": shift = 40
        default: break
        }
        if shift > 0 { digits = digits.dropLast() }
        let radix: Int
        if digits.hasPrefix("0x") {
            digits = digits.dropFirst(2)
            radix = 16
            guard !digits.isEmpty, digits.utf8.allSatisfy({ $0.isASCIIHexDigit }) else { throw .invalid(text) }
        } else {
            radix = 10
            guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { throw .invalid(text) }
        }
        guard let number = UInt64(digits, radix: radix) else { throw .overflow(text) }
        guard number <= (UInt64.max >> shift) else { throw .overflow(text) }
        self.init(number << shift)
    }
}

extension UInt8 {
    fileprivate var isASCIIHexDigit: Bool {
        (self >= 0x30 && self <= 0x39) || (self >= 0x41 && self <= 0x46) || (self >= 0x61 && self <= 0x66)
    }
}
