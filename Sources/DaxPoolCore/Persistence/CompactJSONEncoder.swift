/// Writes an `Encodable` value as compact JSON straight into bytes, in the order its `encode(to:)` encodes: the
/// journal's records, on every commit's path. Foundation's `JSONEncoder` builds a tree of boxed values and
/// dictionaries first and then serializes it; for a device record that was most of a commit's CPU time.
///
/// It reads back with `JSONDecoder` exactly as `JSONEncoder`'s output does: the same keys, nesting, numbers and
/// strings (`null` for `encodeNil`, an empty object for a value that encodes nothing). Containers are written as
/// they are asked for, so a container is complete once the next value of an outer container is written, as
/// synthesized and hand-written conformances use them. What it cannot write as it goes throws
/// `CompactJSONEncoder.Unsupported` (the caller then uses `JSONEncoder`): `superEncoder`, a non-finite number, a
/// container written to after an outer one went on, two values in one place.
public struct CompactJSONEncoder: Sendable {
    /// Why a value could not be written; nothing usable was produced.
    public struct Unsupported: Error, Equatable, CustomStringConvertible {
        /// What was asked for, with its coding path.
        public var description: String
    }

    /// An encoder.
    public init() {}

    /// The compact JSON of `value`.
    public func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let writer = CompactJSONWriter()
        let slot = CompactJSONSlot(writer: writer, depth: 0, codingPath: [])
        try value.encode(to: slot)
        slot.finish()
        if let problem = writer.unsupported { throw Unsupported(description: problem) }
        return writer.bytes
    }
}

/// The output and the stack of open containers (`true`: an object), each with how many values it holds and an id
/// no other container had, so that a container written to after it was closed is caught.
final class CompactJSONWriter {
    var bytes: [UInt8] = []
    var open: [(isObject: Bool, count: Int, id: Int)] = []
    var lastID = 0
    /// Set when something was asked that this encoder does not write.
    var unsupported: String?

    init() { bytes.reserveCapacity(512) }

    /// Closes every container deeper than `depth` (the number of containers that stay open).
    func close(downTo depth: Int) {
        while open.count > depth {
            bytes.append(open.removeLast().isObject ? UInt8(ascii: "}") : UInt8(ascii: "]"))
        }
    }

    /// Readies the container `id` at `depth` (1-based: the count of open containers it makes) for its next value:
    /// closes deeper ones, writes the separator and, in an object, the key. A container that is closed already
    /// (used out of order) is refused.
    func next(at depth: Int, id: Int, key: String?) {
        guard depth > 0, open.count >= depth, open[depth - 1].id == id else {
            unsupported = "a container was written to after it was closed"
            return
        }
        close(downTo: depth)
        if open[depth - 1].count > 0 { bytes.append(UInt8(ascii: ",")) }
        open[depth - 1].count += 1
        if let key {
            string(key)
            bytes.append(UInt8(ascii: ":"))
        }
    }

    /// Opens an object or array; returns its id.
    func push(isObject: Bool) -> Int {
        bytes.append(isObject ? UInt8(ascii: "{") : UInt8(ascii: "["))
        lastID += 1
        open.append((isObject, 0, lastID))
        return lastID
    }

    func literal(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    func integer<T: BinaryInteger>(_ value: T) {
        bytes.append(contentsOf: String(value).utf8)
    }

    func floatingPoint<T: BinaryFloatingPoint & LosslessStringConvertible>(_ value: T, path: [any CodingKey]) {
        guard value.isFinite else {
            unsupported = "the number \(value) at \(path.map(\.stringValue).joined(separator: ".")) is not finite"
            literal("null")
            return
        }
        bytes.append(contentsOf: value.description.utf8)
    }

    /// A JSON string: quotes, backslashes and control characters escaped.
    func string(_ value: String) {
        bytes.append(UInt8(ascii: "\""))
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): literal("\\\"")
            case UInt8(ascii: "\\"): literal("\\\\")
            case UInt8(ascii: "\n"): literal("\\n")
            case UInt8(ascii: "\r"): literal("\\r")
            case UInt8(ascii: "\t"): literal("\\t")
            case 0..<0x20:
                literal("\\u00")
                let digits: [UInt8] = Array("0123456789abcdef".utf8)
                bytes.append(digits[Int(byte >> 4)])
                bytes.append(digits[Int(byte & 0xf)])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}

/// The place of one value: the encoder a value's `encode(to:)` is given. `depth` is the number of containers open
/// around it; a container it opens is the next one.
final class CompactJSONSlot: Encoder {
    let writer: CompactJSONWriter
    let depth: Int
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    /// Whether the value was written (a primitive, or a container opened).
    var written = false
    /// The container the value opened, if it did.
    var container: (isObject: Bool, id: Int)?

    init(writer: CompactJSONWriter, depth: Int, codingPath: [any CodingKey]) {
        self.writer = writer
        self.depth = depth
        self.codingPath = codingPath
    }

    /// Closes the value's container; a value that wrote nothing is an empty object, as `JSONEncoder` writes it.
    func finish() {
        if !written {
            writer.literal("{}")
            written = true
        }
        writer.close(downTo: depth)
    }

    /// Opens the value's container, or finds the one already open (a second `container(keyedBy:)` call adds to it);
    /// returns its id.
    func openContainer(isObject: Bool) -> Int {
        if let container {
            if container.isObject != isObject {
                writer.unsupported = "one value asked for an object and an array at \(pathText)"
            }
            return container.id
        }
        if written { writer.unsupported = "a value asked for a container after writing at \(pathText)" }
        written = true
        let id = writer.push(isObject: isObject)
        container = (isObject, id)
        return id
    }

    var pathText: String { codingPath.map(\.stringValue).joined(separator: ".") }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        let id = openContainer(isObject: true)
        return KeyedEncodingContainer(
            CompactKeyedContainer<Key>(writer: writer, depth: depth + 1, id: id, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        let id = openContainer(isObject: false)
        return CompactUnkeyedContainer(writer: writer, depth: depth + 1, id: id, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        CompactSingleValueContainer(slot: self)
    }

    /// Writes `value` in the container `id` at `depth` under `key`, as a child slot.
    static func write<T: Encodable>(
        _ value: T, writer: CompactJSONWriter, depth: Int, id: Int, key: String?, codingPath: [any CodingKey]
    ) throws {
        writer.next(at: depth, id: id, key: key)
        let child = CompactJSONSlot(writer: writer, depth: depth, codingPath: codingPath)
        try value.encode(to: child)
        child.finish()
    }
}

/// A value written where its slot is.
struct CompactSingleValueContainer: SingleValueEncodingContainer {
    let slot: CompactJSONSlot
    var codingPath: [any CodingKey] { slot.codingPath }

    /// Marks the slot written; a second value in one slot is refused.
    private func claim() {
        if slot.written { slot.writer.unsupported = "two values in one place at \(slot.pathText)" }
        slot.written = true
    }

    mutating func encodeNil() throws {
        claim()
        slot.writer.literal("null")
    }
    mutating func encode(_ value: Bool) throws {
        claim()
        slot.writer.literal(value ? "true" : "false")
    }
    mutating func encode(_ value: String) throws {
        claim()
        slot.writer.string(value)
    }
    mutating func encode(_ value: Double) throws {
        claim()
        slot.writer.floatingPoint(value, path: codingPath)
    }
    mutating func encode(_ value: Float) throws {
        claim()
        slot.writer.floatingPoint(value, path: codingPath)
    }
    mutating func encode(_ value: Int) throws { try integer(value) }
    mutating func encode(_ value: Int8) throws { try integer(value) }
    mutating func encode(_ value: Int16) throws { try integer(value) }
    mutating func encode(_ value: Int32) throws { try integer(value) }
    mutating func encode(_ value: Int64) throws { try integer(value) }
    mutating func encode(_ value: UInt) throws { try integer(value) }
    mutating func encode(_ value: UInt8) throws { try integer(value) }
    mutating func encode(_ value: UInt16) throws { try integer(value) }
    mutating func encode(_ value: UInt32) throws { try integer(value) }
    mutating func encode(_ value: UInt64) throws { try integer(value) }

    private func integer<T: BinaryInteger>(_ value: T) throws {
        claim()
        slot.writer.integer(value)
    }

    /// A nested value is written in this same place (its `encode(to:)` gets this slot).
    mutating func encode<T: Encodable>(_ value: T) throws {
        try value.encode(to: slot)
    }
}

/// An object's members, written as they come.
struct CompactKeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let writer: CompactJSONWriter
    /// The object's place in the writer's stack (the count of containers open while it is the innermost).
    let depth: Int
    /// The object's id in the writer's stack.
    let id: Int
    let codingPath: [any CodingKey]

    private func key(_ key: Key) { writer.next(at: depth, id: id, key: key.stringValue) }

    mutating func encodeNil(forKey key: Key) throws {
        self.key(key)
        writer.literal("null")
    }
    mutating func encode(_ value: Bool, forKey key: Key) throws {
        self.key(key)
        writer.literal(value ? "true" : "false")
    }
    mutating func encode(_ value: String, forKey key: Key) throws {
        self.key(key)
        writer.string(value)
    }
    mutating func encode(_ value: Double, forKey key: Key) throws {
        self.key(key)
        writer.floatingPoint(value, path: codingPath + [key])
    }
    mutating func encode(_ value: Float, forKey key: Key) throws {
        self.key(key)
        writer.floatingPoint(value, path: codingPath + [key])
    }
    mutating func encode(_ value: Int, forKey key: Key) throws { integer(value, key) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { integer(value, key) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { integer(value, key) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { integer(value, key) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { integer(value, key) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { integer(value, key) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { integer(value, key) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { integer(value, key) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { integer(value, key) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { integer(value, key) }

    private func integer<T: BinaryInteger>(_ value: T, _ key: Key) {
        self.key(key)
        writer.integer(value)
    }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try CompactJSONSlot.write(
            value, writer: writer, depth: depth, id: id, key: key.stringValue, codingPath: codingPath + [key])
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy keyType: NestedKey.Type, forKey key: Key
    ) -> KeyedEncodingContainer<NestedKey> {
        self.key(key)
        let nested = writer.push(isObject: true)
        return KeyedEncodingContainer(
            CompactKeyedContainer<NestedKey>(
                writer: writer, depth: depth + 1, id: nested, codingPath: codingPath + [key]))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        self.key(key)
        let nested = writer.push(isObject: false)
        return CompactUnkeyedContainer(writer: writer, depth: depth + 1, id: nested, codingPath: codingPath + [key])
    }

    mutating func superEncoder() -> any Encoder { unsupportedSuperEncoder() }

    mutating func superEncoder(forKey key: Key) -> any Encoder { unsupportedSuperEncoder() }

    private func unsupportedSuperEncoder() -> any Encoder {
        writer.unsupported = "superEncoder at \(codingPath.map(\.stringValue).joined(separator: "."))"
        return CompactJSONSlot(writer: CompactJSONWriter(), depth: 0, codingPath: codingPath)
    }
}

/// An array's elements, written as they come.
final class CompactUnkeyedContainer: UnkeyedEncodingContainer {
    let writer: CompactJSONWriter
    let depth: Int
    /// The array's id in the writer's stack.
    let id: Int
    let codingPath: [any CodingKey]
    private(set) var count = 0

    init(writer: CompactJSONWriter, depth: Int, id: Int, codingPath: [any CodingKey]) {
        self.writer = writer
        self.depth = depth
        self.id = id
        self.codingPath = codingPath
    }

    private func element() {
        writer.next(at: depth, id: id, key: nil)
        count += 1
    }

    func encodeNil() throws {
        element()
        writer.literal("null")
    }
    func encode(_ value: Bool) throws {
        element()
        writer.literal(value ? "true" : "false")
    }
    func encode(_ value: String) throws {
        element()
        writer.string(value)
    }
    func encode(_ value: Double) throws {
        element()
        writer.floatingPoint(value, path: codingPath)
    }
    func encode(_ value: Float) throws {
        element()
        writer.floatingPoint(value, path: codingPath)
    }
    func encode(_ value: Int) throws { integer(value) }
    func encode(_ value: Int8) throws { integer(value) }
    func encode(_ value: Int16) throws { integer(value) }
    func encode(_ value: Int32) throws { integer(value) }
    func encode(_ value: Int64) throws { integer(value) }
    func encode(_ value: UInt) throws { integer(value) }
    func encode(_ value: UInt8) throws { integer(value) }
    func encode(_ value: UInt16) throws { integer(value) }
    func encode(_ value: UInt32) throws { integer(value) }
    func encode(_ value: UInt64) throws { integer(value) }

    private func integer<T: BinaryInteger>(_ value: T) {
        element()
        writer.integer(value)
    }

    func encode<T: Encodable>(_ value: T) throws {
        count += 1
        try CompactJSONSlot.write(value, writer: writer, depth: depth, id: id, key: nil, codingPath: codingPath)
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        element()
        let nested = writer.push(isObject: true)
        return KeyedEncodingContainer(
            CompactKeyedContainer<NestedKey>(writer: writer, depth: depth + 1, id: nested, codingPath: codingPath))
    }

    func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        element()
        let nested = writer.push(isObject: false)
        return CompactUnkeyedContainer(writer: writer, depth: depth + 1, id: nested, codingPath: codingPath)
    }

    func superEncoder() -> any Encoder {
        writer.unsupported = "superEncoder at \(codingPath.map(\.stringValue).joined(separator: "."))"
        return CompactJSONSlot(writer: CompactJSONWriter(), depth: 0, codingPath: codingPath)
    }
}
