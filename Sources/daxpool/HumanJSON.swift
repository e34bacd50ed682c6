import DaxPoolCore

/// daxctl's `-u` rendering: sizes as "1.00 GiB (1.07 GB)", addresses and page offsets in hex.
enum HumanJSON {
    static let sizeKeys: Set<String> = ["size", "available_size", "largest_available_extent", "page_size"]
    static let hexKeys: Set<String> = ["start", "end", "page_offset", "align", "offset", "length"]

    static func convert(_ value: JSONValue) -> JSONValue {
        switch value {
        case .object(let fields):
            var converted: [String: JSONValue] = [:]
            for (key, field) in fields {
                if case .integer(let number) = field, sizeKeys.contains(key) {
                    converted[key] = .string(ByteCount(number).humanDescription)
                } else if case .integer(let number) = field, hexKeys.contains(key) {
                    converted[key] = .string("0x" + String(number, radix: 16))
                } else {
                    converted[key] = convert(field)
                }
            }
            return .object(converted)
        case .array(let items):
            return .array(items.map(convert))
        default:
            return value
        }
    }
}
