/// A device's identity `daxR.N`: region id R and instance N, as the kernel names `/dev/daxR.N`.
public struct DeviceID: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    public var region: Int
    public var instance: Int

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

    public var description: String { "dax\(region).\(instance)" }

    public static func < (lhs: DeviceID, rhs: DeviceID) -> Bool {
        (lhs.region, lhs.instance) < (rhs.region, rhs.instance)
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let parsed = DeviceID(parsing: text) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "'\(text)' is not a device name like dax0.1")
            )
        }
        self = parsed
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
