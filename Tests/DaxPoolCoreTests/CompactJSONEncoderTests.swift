import DaxPoolAPI
import DaxPoolCore
import DaxPoolTestSupport
import Testing

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

@Suite("compact JSON encoder: the journal's record writer", .timeLimit(.minutes(20)))
struct CompactJSONEncoderTests {
    /// Every kind of value a conformance can write: each primitive at its extremes, optionals present and absent,
    /// nested objects and arrays, empty ones, enums with associated values, and a custom `encode(to:)` that asks for
    /// its container twice and writes a nested value through a single-value container.
    struct Everything: Codable, Equatable {
        var bool: Bool
        var int: Int
        var int8: Int8
        var int16: Int16
        var int32: Int32
        var int64: Int64
        var uint: UInt
        var uint8: UInt8
        var uint16: UInt16
        var uint32: UInt32
        var uint64: UInt64
        var double: Double
        var float: Float
        var string: String
        var optional: String?
        var absent: Int?
        var list: [Int?]
        var empty: [String]
        var nested: [[Pair]]
        var pairs: [String: Pair]
        var choice: Choice
        var choices: [Choice]
        var twice: Twice
        var wrapped: Wrapped
        var nothing: Nothing
    }

    struct Pair: Codable, Equatable {
        var left: String
        var right: UInt64
    }

    enum Choice: Codable, Equatable {
        case none
        case one(Int)
        case named(first: Pair, second: [Pair]?)
    }

    /// Asks for its keyed container twice: both add to one object.
    struct Twice: Codable, Equatable {
        var a: Int
        var b: [Bool]

        enum CodingKeys: String, CodingKey { case a, b }

        func encode(to encoder: any Encoder) throws {
            var first = encoder.container(keyedBy: CodingKeys.self)
            try first.encode(a, forKey: .a)
            var second = encoder.container(keyedBy: CodingKeys.self)
            var list = second.nestedUnkeyedContainer(forKey: .b)
            for value in b { try list.encode(value) }
        }
    }

    /// A value written through a single-value container holding another Codable value.
    struct Wrapped: Codable, Equatable {
        var inner: Pair

        init(inner: Pair) { self.inner = inner }
        init(from decoder: any Decoder) throws { inner = try decoder.singleValueContainer().decode(Pair.self) }
        func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            try container.encode(inner)
        }
    }

    /// Encodes nothing at all: `JSONEncoder` writes an empty object.
    struct Nothing: Codable, Equatable {
        init() {}
        init(from decoder: any Decoder) throws {}
        func encode(to encoder: any Encoder) throws {}
    }

    static let tricky =
        "quote \" backslash \\ slash / newline \n tab \t return \r nul \u{0} bell \u{7} "
        + "unit \u{1f} delete \u{7f} é ü 😀 \u{2028}"

    static func sample(_ text: String) -> Everything {
        Everything(
            bool: true, int: .min, int8: .min, int16: .max, int32: .min, int64: .max, uint: .max, uint8: .max,
            uint16: 0, uint32: .max, uint64: .max, double: -1.5e-300, float: 3.25, string: text, optional: text,
            absent: nil, list: [1, nil, -3], empty: [],
            nested: [[], [Pair(left: text, right: 0)], [Pair(left: "", right: 1), Pair(left: "x", right: 2)]],
            pairs: ["k\"ey": Pair(left: "v", right: 9), "": Pair(left: text, right: 3)],
            choice: .named(first: Pair(left: "a", right: 1), second: nil),
            choices: [.none, .one(-7), .named(first: Pair(left: "b", right: 2), second: [Pair(left: "c", right: 3)])],
            twice: Twice(a: 4, b: [true, false]), wrapped: Wrapped(inner: Pair(left: text, right: 5)),
            nothing: Nothing())
    }

    @Test("what it writes reads back as what JSONEncoder writes does, for every kind of value")
    func readsBackAsJSONEncoderOutput() throws {
        let value = Self.sample(Self.tricky)
        let compact = try CompactJSONEncoder().encode(value)
        #expect(try JSONDecoder().decode(Everything.self, from: Data(compact)) == value)
        // The same document: the compact bytes and JSONEncoder's, decoded as a generic JSON tree, are equal.
        let reference = try JSONEncoder().encode(value)
        #expect(
            try JSONDecoder().decode(JSONValue.self, from: Data(compact))
                == JSONDecoder().decode(JSONValue.self, from: reference))
    }

    @Test("the exact bytes: compact, in encoding order, escaped")
    func exactBytes() throws {
        let pair = Pair(left: "a\"b\\c\n\u{1}", right: 7)
        #expect(
            String(decoding: try CompactJSONEncoder().encode(pair), as: UTF8.self)
                == #"{"left":"a\"b\\c\n\u0001","right":7}"#)
        #expect(
            String(decoding: try CompactJSONEncoder().encode([Choice.none, .one(2)]), as: UTF8.self)
                == #"[{"none":{}},{"one":{"_0":2}}]"#)
        #expect(
            String(decoding: try CompactJSONEncoder().encode([[Int]]([[], [1], []])), as: UTF8.self) == "[[],[1],[]]")
        #expect(String(decoding: try CompactJSONEncoder().encode(Nothing()), as: UTF8.self) == "{}")
        #expect(String(decoding: try CompactJSONEncoder().encode(Optional<Int>.none), as: UTF8.self) == "null")
    }

    @Test("random strings of every kind of character round-trip, 2,000 of them")
    func randomStrings() throws {
        var generator = SplitMix64(state: 0xc0ffee)
        for _ in 0..<2000 {
            var scalars = String.UnicodeScalarView()
            for _ in 0..<Int(generator.next() % 24) {
                let pick = generator.next() % 4
                let value: UInt32 =
                    switch pick {
                    case 0: UInt32(generator.next() % 0x80)
                    case 1: UInt32(generator.next() % 0x800)
                    case 2: UInt32(generator.next() % 0xd800)
                    default: 0x10000 + UInt32(generator.next() % 0x10000)
                    }
                if let scalar = Unicode.Scalar(value) { scalars.append(scalar) }
            }
            let text = String(scalars)
            let value = Self.sample(text)
            #expect(try JSONDecoder().decode(Everything.self, from: Data(CompactJSONEncoder().encode(value))) == value)
        }
    }

    @Test("refused, not written wrong: superEncoder, a number that is not finite, a container used after it closed")
    func unsupportedIsRefused() {
        struct Super: Encodable {
            enum CodingKeys: String, CodingKey { case a }
            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode(1, forKey: .a)
                var inner = container.superEncoder().singleValueContainer()
                try inner.encode(2)
            }
        }
        /// Writes to a nested object after its parent went on to another key, which closed it.
        struct OutOfOrder: Encodable {
            enum CodingKeys: String, CodingKey { case a, b, c }
            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                var inner = container.nestedContainer(keyedBy: CodingKeys.self, forKey: .a)
                try container.encode(1, forKey: .b)
                try inner.encode(2, forKey: .c)
            }
        }
        #expect(throws: CompactJSONEncoder.Unsupported.self) { try CompactJSONEncoder().encode(Super()) }
        #expect(throws: CompactJSONEncoder.Unsupported.self) { try CompactJSONEncoder().encode(OutOfOrder()) }
        #expect(throws: CompactJSONEncoder.Unsupported.self) { try CompactJSONEncoder().encode([OutOfOrder()]) }
        #expect(throws: CompactJSONEncoder.Unsupported.self) { try CompactJSONEncoder().encode([1.0, .infinity]) }
        #expect(throws: CompactJSONEncoder.Unsupported.self) { try CompactJSONEncoder().encode(["x": Double.nan]) }
    }
}
