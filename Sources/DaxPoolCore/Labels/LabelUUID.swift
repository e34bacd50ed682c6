/// A 128-bit UUID or GUID as used in NVDIMM namespace labels.
///
/// The value is kept in RFC 4122 byte order: `high` holds bytes 0–7 and `low` bytes 8–15, each read
/// big-endian, so comparing `(high, low)` orders UUIDs the way their canonical strings sort.
///
/// A label's own `uuid` field is stored in this byte order (`bytes`). The `type_guid` and
/// `abstraction_guid` fields are kernel `guid_t` values, stored in the mixed-endian GUID layout
/// (`mixedEndianBytes`): the first three groups little-endian, the last two as written.
public struct LabelUUID: Hashable, Sendable, Comparable, CustomStringConvertible, LosslessStringConvertible {
    /// Bytes 0–7 of the RFC 4122 form, big-endian.
    public var high: UInt64
    /// Bytes 8–15 of the RFC 4122 form, big-endian.
    public var low: UInt64

    /// Creates a UUID from its two big-endian halves.
    ///
    /// - Parameters:
    ///   - high: Bytes 0–7 of the RFC 4122 form.
    ///   - low: Bytes 8–15 of the RFC 4122 form.
    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// Creates a UUID from 16 bytes in RFC 4122 (textual) order, or `nil` if `bytes` is not 16 bytes long.
    ///
    /// - Parameter bytes: The bytes in the order in which the canonical string shows them.
    public init?(bytes: [UInt8]) {
        guard bytes.count == 16 else {
            return nil
        }
        var high: UInt64 = 0
        var low: UInt64 = 0
        for index in 0..<8 {
            high = high << 8 | UInt64(bytes[index])
            low = low << 8 | UInt64(bytes[index + 8])
        }
        self.init(high: high, low: low)
    }

    /// Creates a GUID from its 16-byte mixed-endian (`guid_t`) layout, or `nil` if `bytes` is not 16 bytes long.
    ///
    /// - Parameter mixedEndianBytes: The bytes as stored in a label's `type_guid` or `abstraction_guid`.
    public init?(mixedEndianBytes: [UInt8]) {
        guard mixedEndianBytes.count == 16 else {
            return nil
        }
        self.init(bytes: LabelUUID.swapGUIDGroups(mixedEndianBytes))
    }

    /// The 16 bytes in RFC 4122 (textual) order, as stored in a label's `uuid` field.
    public var bytes: [UInt8] {
        var result = [UInt8](repeating: 0, count: 16)
        for index in 0..<8 {
            result[index] = UInt8(truncatingIfNeeded: high >> (56 - 8 * index))
            result[index + 8] = UInt8(truncatingIfNeeded: low >> (56 - 8 * index))
        }
        return result
    }

    /// The 16 bytes in the mixed-endian GUID layout, as stored in `type_guid` and `abstraction_guid`.
    ///
    /// For example, the DAX abstraction GUID `97a86d9c-3cdd-4eda-986f-5068b4f80088` is stored as
    /// `9c 6d a8 97 dd 3c da 4e 98 6f 50 68 b4 f8 00 88`.
    public var mixedEndianBytes: [UInt8] {
        LabelUUID.swapGUIDGroups(bytes)
    }

    /// Parses the canonical 8-4-4-4-12 hexadecimal form (either case), or returns `nil`.
    ///
    /// - Parameter description: A string such as `5b405e8d-700e-4499-9e09-1967d5637178`.
    public init?(_ description: String) {
        let characters = Array(description.utf8)
        guard characters.count == 36 else {
            return nil
        }
        var nibbles: [UInt8] = []
        nibbles.reserveCapacity(32)
        for (index, character) in characters.enumerated() {
            if index == 8 || index == 13 || index == 18 || index == 23 {
                guard character == UInt8(ascii: "-") else {
                    return nil
                }
                continue
            }
            guard let nibble = LabelUUID.hexValue(character) else {
                return nil
            }
            nibbles.append(nibble)
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(16)
        for index in stride(from: 0, to: 32, by: 2) {
            bytes.append(nibbles[index] << 4 | nibbles[index + 1])
        }
        self.init(bytes: bytes)
    }

    /// Parses the canonical 8-4-4-4-12 hexadecimal form.
    ///
    /// - Parameter text: A string such as `5b405e8d-700e-4499-9e09-1967d5637178`.
    /// - Returns: The parsed UUID.
    /// - Throws: `LabelError.invalidUUIDString` if `text` is not in the canonical form.
    public static func parse(_ text: String) throws(LabelError) -> LabelUUID {
        guard let uuid = LabelUUID(text) else {
            throw .invalidUUIDString(text)
        }
        return uuid
    }

    /// The canonical lowercase 8-4-4-4-12 form.
    public var description: String {
        let digits = Array("0123456789abcdef".utf8)
        var characters: [UInt8] = []
        characters.reserveCapacity(36)
        for (index, byte) in bytes.enumerated() {
            if index == 4 || index == 6 || index == 8 || index == 10 {
                characters.append(UInt8(ascii: "-"))
            }
            characters.append(digits[Int(byte >> 4)])
            characters.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: characters, as: UTF8.self)
    }

    /// Creates a random RFC 4122 version 4 UUID.
    ///
    /// - Parameter generator: The source of randomness.
    /// - Returns: A UUID with the version nibble set to 4 and the variant bits set to `10`.
    public static func random<G: RandomNumberGenerator>(using generator: inout G) -> LabelUUID {
        let high = generator.next() & ~0xf000 | 0x4000
        let low = generator.next() & ~(0xc0 << 56) | (0x80 << 56)
        return LabelUUID(high: high, low: low)
    }

    /// The all-zero UUID, which labels use for "none".
    public static let zero = LabelUUID(high: 0, low: 0)

    /// Whether every bit is zero.
    public var isZero: Bool {
        high == 0 && low == 0
    }

    /// The NFIT SPA range type GUID of persistent memory, `66f0d379-b4f3-4074-ac43-0d3318b78cdb`.
    public static let persistentMemoryRegionType = LabelUUID(high: 0x66f0_d379_b4f3_4074, low: 0xac43_0d33_18b7_8cdb)
    /// The device-dax abstraction (claim class) GUID, `97a86d9c-3cdd-4eda-986f-5068b4f80088`.
    public static let daxAbstraction = LabelUUID(high: 0x97a8_6d9c_3cdd_4eda, low: 0x986f_5068_b4f8_0088)
    /// The fsdax (PFN) abstraction GUID, `266400ba-fb9f-4677-bcb0-968f11d0d225`.
    public static let pfnAbstraction = LabelUUID(high: 0x2664_00ba_fb9f_4677, low: 0xbcb0_968f_11d0_d225)
    /// The v1.1 BTT abstraction GUID, `8aed63a2-29a2-4c66-8b12-f05d15d3922a`.
    public static let bttAbstraction = LabelUUID(high: 0x8aed_63a2_29a2_4c66, low: 0x8b12_f05d_15d3_922a)
    /// The BTT2 abstraction GUID, `18633bfc-1735-4217-8ac9-17239282d3f8`.
    public static let btt2Abstraction = LabelUUID(high: 0x1863_3bfc_1735_4217, low: 0x8ac9_1723_9282_d3f8)

    /// Orders UUIDs as their canonical strings sort.
    public static func < (lhs: LabelUUID, rhs: LabelUUID) -> Bool {
        (lhs.high, lhs.low) < (rhs.high, rhs.low)
    }

    /// Reverses the first three groups (4, 2 and 2 bytes); the operation is its own inverse.
    private static func swapGUIDGroups(_ bytes: [UInt8]) -> [UInt8] {
        [
            bytes[3], bytes[2], bytes[1], bytes[0], bytes[5], bytes[4], bytes[7], bytes[6],
            bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15],
        ]
    }

    private static func hexValue(_ character: UInt8) -> UInt8? {
        switch character {
        case UInt8(ascii: "0")...UInt8(ascii: "9"):
            return character - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"):
            return character - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"):
            return character - UInt8(ascii: "A") + 10
        default:
            return nil
        }
    }
}
