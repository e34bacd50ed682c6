public import DaxPoolCore

/// How request bodies decode their typed fields: sizes, alignments, page sizes, device names, uuids and device
/// references. Each is checked once, here, as the body is decoded; anything else is refused with a
/// `DecodingError.dataCorrupted` whose message starts with the field (`size`, `pool[2]`, `mappings[0].offset`) and
/// says what to write instead.
extension KeyedDecodingContainer {
    /// The size at `key`: a non-negative JSON integer of bytes, or a string in the one size grammar
    /// (`ByteCount(parsing:)`, such as `"2G"` or `"0x200000"`).
    /// - Throws: `DecodingError` naming the field when the key is absent or the value is neither.
    public func decodeSize(forKey key: Key) throws -> ByteCount {
        try decode(WireSize.self, forKey: key).value
    }

    /// The size at `key` as `decodeSize(forKey:)` reads it, or `nil` when the key is absent or `null`.
    public func decodeSizeIfPresent(forKey key: Key) throws -> ByteCount? {
        try decodeIfPresent(WireSize.self, forKey: key)?.value
    }

    /// The list of sizes at `key`, each as `decodeSize(forKey:)` reads it.
    /// - Throws: `DecodingError` naming the field when the key is absent or an entry is not a size.
    public func decodeSizes(forKey key: Key) throws -> [ByteCount] {
        try decode([WireSize].self, forKey: key).map(\.value)
    }

    /// The list of sizes at `key`, each as `decodeSize(forKey:)` reads it, or `nil` when the key is absent or
    /// `null`.
    public func decodeSizesIfPresent(forKey key: Key) throws -> [ByteCount]? {
        try decodeIfPresent([WireSize].self, forKey: key)?.map(\.value)
    }

    /// The region offset at `key`, written as a size (`decodeSize(forKey:)`).
    public func decodeRegionOffset(forKey key: Key) throws -> RegionOffset {
        RegionOffset(try decodeSize(forKey: key).rawValue)
    }

    /// The region offset at `key`, written as a size, or `nil` when the key is absent or `null`.
    public func decodeRegionOffsetIfPresent(forKey key: Key) throws -> RegionOffset? {
        try decodeSizeIfPresent(forKey: key).map { RegionOffset($0.rawValue) }
    }

    /// The alignment at `key`, written as a size (`4K`, `2M`, `1G`, or the same in bytes as an integer or string),
    /// or `nil` when the key is absent or `null`.
    public func decodeAlignmentIfPresent(forKey key: Key) throws -> Alignment? {
        try decodeIfPresent(WireAlignment.self, forKey: key)?.value
    }

    /// The page size at `key`: a JSON string `4K`, `2M` or `1G` (or the same in bytes, as a string), or `nil` when
    /// the key is absent or `null`.
    public func decodePageSizeIfPresent(forKey key: Key) throws -> Alignment? {
        try decodeIfPresent(WirePageSize.self, forKey: key)?.value
    }

    /// The new device name at `key`, checked with every rule of `DeviceName(validating:)`, or `nil` when the key is
    /// absent or `null`.
    public func decodeDeviceNameIfPresent(forKey key: Key) throws -> DeviceName? {
        try decodeIfPresent(WireDeviceName.self, forKey: key)?.value
    }

    /// The device uuid at `key`, in 8-4-4-4-12 hex and not all zero, or `nil` when the key is absent or `null`.
    public func decodeDeviceUUIDIfPresent(forKey key: Key) throws -> LabelUUID? {
        try decodeIfPresent(WireDeviceUUID.self, forKey: key)?.value
    }
}

/// The name of the field a decoder is at, for messages: `size`, `pool[2]`, `mappings[0].offset`.
func wireFieldName(_ path: [any CodingKey]) -> String {
    var name = ""
    for key in path {
        if let index = key.intValue {
            name += "[\(index)]"
        } else if !key.stringValue.isEmpty {
            name += name.isEmpty ? key.stringValue : "." + key.stringValue
        }
    }
    return name.isEmpty ? "value" : name
}

/// A refusal of the value at `decoder`'s field: `"<field>: <message>"`.
func wireRefusal(_ decoder: any Decoder, _ message: String) -> DecodingError {
    .dataCorrupted(
        .init(codingPath: decoder.codingPath, debugDescription: "\(wireFieldName(decoder.codingPath)): \(message)"))
}

/// The JSON string a field holds, or a refusal naming the field and saying what was `expected`.
func wireString(_ decoder: any Decoder, expected: String) throws -> String {
    guard let text = try? decoder.singleValueContainer().decode(String.self) else {
        throw wireRefusal(decoder, "expected \(expected)")
    }
    return text
}

/// The text of a JSON integer or string that stands for a number of bytes, or a refusal naming the field.
/// - Throws: `DecodingError` for a negative integer, one past 64 bits, or any other JSON value; `what` says what
///   to write instead.
func wireSizeText(_ decoder: any Decoder, what: String) throws -> String {
    let container = try decoder.singleValueContainer()
    let unsigned: any Error
    do {
        return String(try container.decode(UInt64.self))
    } catch {
        unsigned = error
    }
    if let string = try? container.decode(String.self) { return string }
    if let number = try? container.decode(Int64.self), number < 0 {
        throw wireRefusal(decoder, "\(number) is negative: \(what)")
    }
    // Anything but a type mismatch is a JSON number no UInt64 holds (request bodies hold integers only): one past
    // 64 bits, however long.
    if case .typeMismatch? = unsigned as? DecodingError {
        throw wireRefusal(decoder, "neither a number nor a string: \(what)")
    }
    throw wireRefusal(decoder, "the number does not fit in 64 bits: \(what)")
}

/// A size in a request body: a non-negative JSON integer of bytes, or a string in the one size grammar.
struct WireSize: Decodable {
    var value: ByteCount

    init(from decoder: any Decoder) throws {
        let text = try wireSizeText(
            decoder,
            what:
                "give a number of bytes (an integer from 0 to 18446744073709551615) or a size string such as \"2G\" "
                + "or \"0x200000\"")
        do {
            value = try ByteCount(parsing: text)
        } catch .overflow {
            throw wireRefusal(
                decoder, "\(SizeParseError.overflow(text).description): give at most 18446744073709551615 bytes")
        } catch {
            throw wireRefusal(decoder, error.description)
        }
    }
}

/// An alignment in a request body, written as a size: `4K`, `2M`, `1G`, or the same in bytes.
struct WireAlignment: Decodable {
    var value: Alignment

    init(from decoder: any Decoder) throws {
        let text = try wireSizeText(decoder, what: "give 4K, 2M or 1G, or the same in bytes")
        do {
            value = try Alignment(parsing: text)
        } catch {
            throw wireRefusal(decoder, error.description)
        }
    }
}

/// A page size in a request body: a JSON string `4K`, `2M` or `1G` (or the same in bytes, as a string).
struct WirePageSize: Decodable {
    var value: Alignment

    init(from decoder: any Decoder) throws {
        let text = try wireString(decoder, expected: "a string: \"4K\", \"2M\" or \"1G\"")
        do {
            value = try Alignment(parsing: text)
        } catch {
            throw wireRefusal(decoder, error.description)
        }
    }
}

/// A new device's name in a request body, checked with every rule of `DeviceName(validating:)`.
struct WireDeviceName: Decodable {
    var value: DeviceName

    init(from decoder: any Decoder) throws {
        let text = try wireString(decoder, expected: "a string of 1 to 63 bytes")
        do {
            value = try DeviceName(validating: text)
        } catch {
            throw wireRefusal(decoder, error.description)
        }
    }
}

/// A device uuid in a request body: 8-4-4-4-12 hex, not the all-zero uuid that labels reserve.
struct WireDeviceUUID: Decodable {
    var value: LabelUUID

    init(from decoder: any Decoder) throws {
        let text = try wireString(decoder, expected: "a string in the 8-4-4-4-12 hex form")
        guard let uuid = LabelUUID(text) else {
            throw wireRefusal(decoder, "'\(text.prefix(64))' is not a UUID: use the 8-4-4-4-12 hex form")
        }
        guard !uuid.isZero else {
            throw wireRefusal(
                decoder,
                "uuid \(uuid) is the all-zero uuid, which namespace labels reserve for \"no namespace\": give "
                    + "another uuid, or omit uuid for a random one")
        }
        value = uuid
    }
}
