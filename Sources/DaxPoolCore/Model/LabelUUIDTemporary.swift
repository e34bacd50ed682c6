/// A 128-bit UUID in RFC 4122 byte order.
public struct LabelUUID: Hashable, Sendable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    public init?(_ text: String) {
        let hex = text.lowercased().filter { $0 != "-" }
        let groups = text.split(separator: "-", omittingEmptySubsequences: false).map(\.count)
        guard groups == [8, 4, 4, 4, 12], hex.count == 32,
            let high = UInt64(hex.prefix(16), radix: 16), let low = UInt64(hex.suffix(16), radix: 16)
        else { return nil }
        self.init(high: high, low: low)
    }

    public static func random<G: RandomNumberGenerator>(using generator: inout G) -> LabelUUID {
        let high = (generator.next() & ~UInt64(0xf000)) | 0x4000
        let low = (generator.next() & ~(UInt64(0xc) << 60)) | (UInt64(0x8) << 60)
        return LabelUUID(high: high, low: low)
    }

    public var description: String {
        func hex(_ value: UInt64, _ digits: Int) -> String {
            let text = String(value, radix: 16)
            return String(repeating: "0", count: max(0, digits - text.count)) + text
        }
        let all = hex(high, 16) + hex(low, 16)
        let characters = Array(all)
        let cuts = [0, 8, 12, 16, 20, 32]
        return (0..<5).map { String(characters[cuts[$0]..<cuts[$0 + 1]]) }.joined(separator: "-")
    }
}
