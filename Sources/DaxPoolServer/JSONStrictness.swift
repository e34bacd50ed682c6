import DaxPoolAPI

/// Checks a request body before `JSONDecoder` reads it, for what the decoder lets through: a key given twice (the
/// decoder keeps one of them silently), a key the request type does not know (the decoder ignores it), nesting
/// deeper than `maximumDepth`, numbers with a fraction or exponent (no request field takes one), and anything
/// RFC 8259 does not allow (bad UTF-8, raw control characters in strings, lone surrogates, trailing bytes).
///
/// Keys are compared after their escapes are decoded, as the decoder compares them: `"siz\u0065"` is `"size"`.
struct JSONStrictness {
    /// The deepest nesting of objects and arrays a body may have.
    static let maximumDepth = 32

    private let bytes: [UInt8]
    private var index = 0

    private init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// Refuses `bytes` unless they are one JSON object whose keys `keys` allows, with no key twice in any object.
    /// - Throws: `RequestError` `bad_request` (400) naming the key or the byte where the body goes wrong.
    static func check(_ bytes: [UInt8], keys: RequestKeys) throws(RequestError) {
        var scanner = JSONStrictness(bytes)
        scanner.skipWhitespace()
        guard scanner.peek == UInt8(ascii: "{") else {
            throw RequestError(
                code: .badRequest, message: "the request body must be one JSON object")
        }
        try scanner.value(keys: keys, path: "the request body", depth: 1)
        scanner.skipWhitespace()
        guard scanner.index == bytes.count else { throw scanner.malformed("bytes after the JSON object") }
    }

    private var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

    private mutating func skipWhitespace() {
        while let byte = peek, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { index += 1 }
    }

    private func malformed(_ what: String) -> RequestError {
        RequestError(
            code: .badRequest, message: "the request body is not valid JSON: \(what) at byte \(index)")
    }

    /// One value; `keys` apply when it is an object (or to each object in it when it is an array).
    private mutating func value(keys: RequestKeys?, path: String, depth: Int) throws(RequestError) {
        skipWhitespace()
        guard let byte = peek else { throw malformed("a value is missing") }
        switch byte {
        case UInt8(ascii: "{"):
            try object(keys: keys, path: path, depth: depth)
        case UInt8(ascii: "["):
            try array(keys: keys, path: path, depth: depth)
        case UInt8(ascii: "\""):
            _ = try string()
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            try number(path: path)
        case UInt8(ascii: "t"):
            try literal("true")
        case UInt8(ascii: "f"):
            try literal("false")
        case UInt8(ascii: "n"):
            try literal("null")
        default:
            throw malformed("an unexpected character")
        }
    }

    private mutating func object(keys: RequestKeys?, path: String, depth: Int) throws(RequestError) {
        guard depth <= Self.maximumDepth else { throw Self.tooDeep() }
        index += 1
        var seen: Set<String> = []
        skipWhitespace()
        if peek == UInt8(ascii: "}") {
            index += 1
            return
        }
        while true {
            skipWhitespace()
            guard peek == UInt8(ascii: "\"") else { throw malformed("a key is missing") }
            let key = try string()
            guard seen.insert(key).inserted else {
                throw RequestError(
                    code: .badRequest, message: "duplicate key \(Self.quoted(key)) in \(path)")
            }
            if let keys, !keys.known.contains(key) {
                throw RequestError(
                    code: .badRequest,
                    message: "unknown key \(Self.quoted(key)) in \(path); known keys: "
                        + keys.known.sorted().joined(separator: ", "))
            }
            skipWhitespace()
            guard peek == UInt8(ascii: ":") else { throw malformed("':' is missing after a key") }
            index += 1
            let nestedPath = path == "the request body" ? key : "\(path).\(key)"
            try value(keys: keys?.nested[key], path: nestedPath, depth: depth + 1)
            skipWhitespace()
            switch peek {
            case UInt8(ascii: ","):
                index += 1
            case UInt8(ascii: "}"):
                index += 1
                return
            default:
                throw malformed("',' or '}' is missing")
            }
        }
    }

    private mutating func array(keys: RequestKeys?, path: String, depth: Int) throws(RequestError) {
        guard depth <= Self.maximumDepth else { throw Self.tooDeep() }
        index += 1
        skipWhitespace()
        if peek == UInt8(ascii: "]") {
            index += 1
            return
        }
        var element = 0
        while true {
            try value(keys: keys, path: "\(path)[\(element)]", depth: depth + 1)
            element += 1
            skipWhitespace()
            switch peek {
            case UInt8(ascii: ","):
                index += 1
            case UInt8(ascii: "]"):
                index += 1
                return
            default:
                throw malformed("',' or ']' is missing")
            }
        }
    }

    /// A string, its escapes decoded; the scanner stands on its opening quote.
    private mutating func string() throws(RequestError) -> String {
        index += 1
        var scalars = String.UnicodeScalarView()
        var run: [UInt8] = []
        func flush() throws(RequestError) {
            guard !run.isEmpty else { return }
            guard let text = String(validating: run, as: UTF8.self) else { throw malformed("bad UTF-8 in a string") }
            scalars.append(contentsOf: text.unicodeScalars)
            run.removeAll(keepingCapacity: true)
        }
        while true {
            guard let byte = peek else { throw malformed("a string does not end") }
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                try flush()
                return String(scalars)
            case UInt8(ascii: "\\"):
                try flush()
                index += 1
                scalars.append(try escape())
            case 0..<0x20:
                throw malformed("a control character in a string (escape it)")
            default:
                run.append(byte)
                index += 1
            }
        }
    }

    /// The character an escape stands for; the scanner stands after its backslash.
    private mutating func escape() throws(RequestError) -> Unicode.Scalar {
        guard let byte = peek else { throw malformed("a string does not end") }
        index += 1
        switch byte {
        case UInt8(ascii: "\""): return "\""
        case UInt8(ascii: "\\"): return "\\"
        case UInt8(ascii: "/"): return "/"
        case UInt8(ascii: "b"): return "\u{08}"
        case UInt8(ascii: "f"): return "\u{0C}"
        case UInt8(ascii: "n"): return "\n"
        case UInt8(ascii: "r"): return "\r"
        case UInt8(ascii: "t"): return "\t"
        case UInt8(ascii: "u"):
            let first = try hexQuad()
            if (0xDC00...0xDFFF).contains(first) { throw malformed("a lone low surrogate") }
            guard (0xD800...0xDBFF).contains(first) else {
                guard let scalar = Unicode.Scalar(first) else { throw malformed("a bad \\u escape") }
                return scalar
            }
            guard peek == UInt8(ascii: "\\"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "u") else {
                throw malformed("a lone high surrogate")
            }
            index += 2
            let second = try hexQuad()
            guard (0xDC00...0xDFFF).contains(second),
                let scalar = Unicode.Scalar(0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00))
            else { throw malformed("a high surrogate without its low surrogate") }
            return scalar
        default:
            throw malformed("a bad escape")
        }
    }

    private mutating func hexQuad() throws(RequestError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let byte = peek else { throw malformed("a string does not end") }
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw malformed("a bad \\u escape")
            }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }

    /// An integer: `-?(0|[1-9][0-9]*)`. A fraction or an exponent is refused: no request field takes one.
    private mutating func number(path: String) throws(RequestError) {
        let start = index
        if peek == UInt8(ascii: "-") { index += 1 }
        guard let first = peek, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else {
            throw malformed("a bad number")
        }
        index += 1
        if first != UInt8(ascii: "0") {
            while let byte = peek, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) { index += 1 }
        }
        if let byte = peek, byte == UInt8(ascii: ".") || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") {
            let text = String(decoding: bytes[start..<min(bytes.count, index + 1)], as: UTF8.self)
            throw RequestError(
                code: .badRequest,
                message: "\(path) is \(text)...: numbers in a request body are integers (sizes may be strings "
                    + "such as \"2G\")")
        }
        if let byte = peek, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) {
            throw malformed("a number with a leading zero")
        }
    }

    private mutating func literal(_ word: StaticString) throws(RequestError) {
        let expected = UnsafeBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount)
        guard index + expected.count <= bytes.count, bytes[index..<index + expected.count].elementsEqual(expected)
        else { throw malformed("an unknown word") }
        index += expected.count
    }

    private static func tooDeep() -> RequestError {
        RequestError(
            code: .badRequest,
            message: "the request body nests objects and arrays deeper than \(maximumDepth) levels")
    }

    /// `key` in double quotes for a message: at most 64 characters, everything outside printable ASCII escaped.
    static func quoted(_ key: String) -> String {
        var result = "\""
        for (count, scalar) in key.unicodeScalars.enumerated() {
            if count == 64 {
                result += "..."
                break
            }
            if scalar.value >= 0x20, scalar.value < 0x7F, scalar != "\"", scalar != "\\" {
                result.unicodeScalars.append(scalar)
            } else {
                let hex = String(scalar.value, radix: 16, uppercase: true)
                result += "\\u" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
            }
        }
        return result + "\""
    }
}
