/// Why a size string could not be parsed.
public enum SizeParseError: Error, Equatable, Sendable, CustomStringConvertible {
    case empty
    case invalid(String)
    case overflow(String)

    public var description: String {
        switch self {
        case .empty:
            "size is empty: give a number of bytes, optionally with a k/m/g/t suffix (e.g. 2G) or in 0x hex"
        case .invalid(let text):
            "size '\(text)' is not valid: give a number of bytes, optionally with a k/m/g/t suffix (e.g. 512M, 2G) "
                + "or in 0x hex"
        case .overflow(let text):
            "size '\(text)' does not fit in 64 bits"
        }
    }
}

extension ByteCount {
    /// Parses `"4096"`, `"0x1000"`, `"512k"`, `"2M"`, `"1g"`, `"1T"` (binary multiples; an optional
    /// trailing `"iB"` or `"B"` after the suffix is accepted).
    public init(parsing text: String) throws(SizeParseError) {
        let trimmed = text.trimmingWhitespace()
        guard !trimmed.isEmpty else { throw .empty }
        if trimmed.hasPrefix("0x") || trimmed.hasPrefix("0X") {
            let digits = trimmed.dropFirst(2)
            guard !digits.isEmpty, digits.count <= 16, let value = UInt64(digits, radix: 16) else {
                throw digits.count > 16 ? .overflow(text) : .invalid(text)
            }
            self.init(value)
            return
        }
        var body = Substring(trimmed)
        for unitSuffix in ["iB", "ib", "B", "b"] where body.hasSuffix(unitSuffix) {
            let candidate = body.dropLast(unitSuffix.count)
            if let last = candidate.last, "kKmMgGtT".contains(last) {
                body = candidate
            }
            break
        }
        var shift: UInt64 = 0
        if let last = body.last, last.isLetter {
            switch last {
            case "k", "K": shift = 10
            case "m", "M": shift = 20
            case "g", "G": shift = 30
            case "t", "T": shift = 40
            default: throw .invalid(text)
            }
            body = body.dropLast()
        }
        guard !body.isEmpty, body.allSatisfy({ $0.isASCII && $0.isNumber }) else { throw .invalid(text) }
        guard let number = UInt64(body) else { throw .overflow(text) }
        guard shift == 0 || number <= (UInt64.max >> shift) else { throw .overflow(text) }
        self.init(number << shift)
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var scalars = Substring(self)
        while let first = scalars.first, first.isWhitespace { scalars = scalars.dropFirst() }
        while let last = scalars.last, last.isWhitespace { scalars = scalars.dropLast() }
        return String(scalars)
    }
}
