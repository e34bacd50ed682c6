/// A device's identity `daxR.N`: region id R and instance N, as the kernel names `/dev/daxR.N`.
public struct DeviceID: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    /// The region id R: the kernel's `daxR` region number.
    public var region: Int
    /// The instance N within the region.
    public var instance: Int

    /// The id of device `dax<region>.<instance>`.
    public init(region: Int, instance: Int) {
        self.region = region
        self.instance = instance
    }

    /// Parses `dax1.2`, `/dev/dax1.2` or `1.2`.
    public init?(parsing text: String) {
        var body = Substring(text)
        if body.hasPrefix("/dev/") { body = body.dropFirst(5) }
        if body.hasPrefix("dax") { body = body.dropFirst(3) }
        let parts = body.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2,
            parts.allSatisfy({ !$0.isEmpty && $0.count <= 9 && $0.allSatisfy { $0.isASCII && $0.isNumber } }),
            let region = Int(parts[0]), let instance = Int(parts[1])
        else { return nil }
        self.init(region: region, instance: instance)
    }

    /// The kernel's name for the device, `daxR.N`; also its JSON form.
    public var description: String { "dax\(region).\(instance)" }

    /// Orders by region id, then by instance.
    public static func < (lhs: DeviceID, rhs: DeviceID) -> Bool {
        (lhs.region, lhs.instance) < (rhs.region, rhs.instance)
    }

    /// Decodes a JSON string in any form `init(parsing:)` accepts.
    /// - Throws: `DecodingError.dataCorrupted` when the string is not a device id.
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let parsed = DeviceID(parsing: text) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "'\(text)' is not a device name like dax0.1")
            )
        }
        self = parsed
    }

    /// Encodes the id as a JSON string `daxR.N`.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
