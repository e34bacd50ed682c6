public import DaxPoolCore

/// A device as a request names it: its id (`daxR.N`, `R.N` or `/dev/daxR.N`, as `DeviceID(parsing:)` reads it) or
/// its name. A name is held to the rules every stored name keeps (`DeviceName(loading:)`: 1 to 63 bytes, no NUL or
/// `/`, not `.` or `..`), so that a device named by an older daemon can still be named; anything else is refused as
/// the body is decoded. Encodes as the JSON string it was given.
public struct DeviceReference: Hashable, Sendable, Codable, CustomStringConvertible {
    /// The reference as given, already checked.
    public let text: String

    /// The device `id`.
    public init(_ id: DeviceID) { self.text = id.description }

    /// The device named `name`.
    public init(_ name: DeviceName) { self.text = name.value }

    /// Checks `text` as a device id or a device name.
    /// - Throws: `NameError` when it is neither.
    public init(parsing text: String) throws(NameError) {
        if DeviceID(parsing: text) == nil { _ = try DeviceName(loading: text) }
        self.text = text
    }

    /// The device id, when the reference has the form of one.
    public var id: DeviceID? { DeviceID(parsing: text) }

    /// The reference as given.
    public var description: String { text }

    /// Decodes a JSON string that is a device id or a device name.
    /// - Throws: `DecodingError.dataCorrupted` naming the field and what to write for anything else.
    public init(from decoder: any Decoder) throws {
        let text = try wireString(decoder, expected: "a device id such as \"dax0.1\" or a device name")
        do {
            try self.init(parsing: text)
        } catch {
            throw wireRefusal(decoder, "neither a device id such as dax0.1 nor a device name: \(error.description)")
        }
    }

    /// Encodes the reference as the JSON string it was given.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(text)
    }
}
