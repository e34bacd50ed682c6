import DaxPoolAPI
import DaxPoolCore

/// daxctl's `-u` rendering: sizes as "1.00 GiB (1.07 GB)", addresses and page offsets in hex.
///
/// Every byte figure `list` prints is a size: the daxctl fields (`size`, `available_size`,
/// `largest_available_extent`, `page_size`), daxpool's own (`pending_scrub_size`, a device's `excess_size` and
/// `usable_size`, a pool's `ready_bytes` and each entry of its `target` and `ready` lists, `page_metadata`'s `memory`,
/// `bytes` and `bytes_per_tib`); lent devices are devices, so their `size` is covered. Offsets and lengths of mappings,
/// bad blocks and free extents are hex.
enum HumanJSON {
    static let sizeKeys: Set<String> = [
        "size", "available_size", "largest_available_extent", "page_size", "pending_scrub_size", "excess_size",
        "ready_bytes", "memory", "bytes", "bytes_per_tib", "usable_size",
    ]
    /// Keys whose value is a list of sizes (a pool's `target` and `ready` files).
    static let sizeListKeys: Set<String> = ["target", "ready"]
    static let hexKeys: Set<String> = ["start", "end", "page_offset", "align", "offset", "length"]

    static func convert(_ value: JSONValue) -> JSONValue {
        switch value {
        case .object(let fields):
            var converted: [String: JSONValue] = [:]
            for (key, field) in fields {
                if case .integer(let number) = field, sizeKeys.contains(key) {
                    converted[key] = human(number)
                } else if case .integer(let number) = field, hexKeys.contains(key) {
                    converted[key] = .string("0x" + String(number, radix: 16))
                } else if case .array(let items) = field, sizeListKeys.contains(key) {
                    converted[key] = .array(
                        items.map { item in
                            if case .integer(let number) = item { return human(number) }
                            return convert(item)
                        })
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

    private static func human(_ bytes: UInt64) -> JSONValue {
        .string(ByteCount(bytes).humanDescription)
    }
}
