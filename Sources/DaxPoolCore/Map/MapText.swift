/// Text helpers the map renderers share: sizes, offsets, numbers and escaping.
public enum MapText {
    /// A binary size the short way: `48 MiB`, `1 GiB`, `4 KiB`, `512 B`, or `1.50 GiB` when not a whole number.
    public static func size(_ count: ByteCount) -> String {
        let value = count.rawValue
        let units: [(String, UInt64)] = [("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)]
        for (unit, scale) in units where value >= scale {
            if value % scale == 0 { return "\(value / scale) \(unit)" }
            let hundredths = (value.multipliedFullWidth(by: 100).low + scale / 2) / scale
            if hundredths % 100 == 0 { return "\(hundredths / 100) \(unit)" }
            let fraction = hundredths % 100
            return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction) \(unit)"
        }
        return "\(value) B"
    }

    /// `0x2fffff`.
    public static func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }

    /// `0x0-0x2ffffff`: first and last byte, as `list -M` prints `start` and `end`.
    public static func range(_ extent: Extent) -> String {
        "\(hex(extent.start.rawValue))-\(hex(extent.lastByte.rawValue))"
    }

    /// The ranges of a device, at most `limit` of them spelled out: `0x0-0xfffff, 0x300000-0x3fffff`, or
    /// `0x0-0xfffff, … (12 ranges)`.
    public static func ranges(_ extents: [Extent], limit: Int = 4) -> String {
        guard extents.count > limit else { return extents.map(range).joined(separator: ", ") }
        return extents.prefix(limit).map(range).joined(separator: ", ") + ", … (\(extents.count) ranges)"
    }

    /// `value` with at most two decimals and no trailing zeros: `12`, `12.5`, `12.25`.
    public static func number(_ value: Double) -> String {
        let hundredths = Int((value * 100).rounded())
        let sign = hundredths < 0 ? "-" : ""
        let magnitude = hundredths.magnitude
        let whole = magnitude / 100
        let fraction = magnitude % 100
        if fraction == 0 { return "\(sign)\(whole)" }
        if fraction % 10 == 0 { return "\(sign)\(whole).\(fraction / 10)" }
        return "\(sign)\(whole).\(fraction < 10 ? "0" : "")\(fraction)"
    }

    /// `text` with `&`, `<`, `>`, `"` and `'` escaped for XML text and attribute values; control characters
    /// (which XML 1.0 forbids) become U+FFFD.
    public static func xmlEscaped(_ text: String) -> String {
        var result = ""
        result.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&quot;"
            case "'": result += "&apos;"
            case "\t", "\n", "\r": result.unicodeScalars.append(scalar)
            default:
                if scalar.value < 0x20 || (0xFFFE...0xFFFF).contains(scalar.value) {
                    result += "\u{FFFD}"
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result
    }

    /// `text` with control characters (terminal escapes among them) replaced by U+FFFD, for the terminal.
    public static func terminalSafe(_ text: String) -> String {
        String(
            String.UnicodeScalarView(
                text.unicodeScalars.map { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) ? "\u{FFFD}" : $0 }))
    }
}
