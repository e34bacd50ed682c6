/// The kernel command-line arguments that carve memory away from the page allocator (`memmap=` and
/// `efi_fake_mem=`), and the physical ranges they carve. A kexec'd kernel keeps a devdax region only when its
/// command line carves the same memory again, so `live-update prepare` prints them and checks them against the
/// regions, and the restore compares them with the ones recorded at prepare.
public struct KernelCarve: Hashable, Sendable {
    /// One carved range.
    public struct Range: Hashable, Sendable {
        /// The first byte.
        public var start: UInt64
        /// The number of bytes.
        public var size: UInt64
        /// What the argument makes of it: `pmem` (`!`), `soft-reserved` (`%…+0xefffffff`, or `efi_fake_mem` with
        /// EFI_MEMORY_SP), or `other`.
        public var kind: String
        /// The argument it came from.
        public var argument: String

        /// Whether the range covers `start..<start+size` whole.
        public func covers(start other: UInt64, size length: UInt64) -> Bool {
            other >= start && other &+ length <= start &+ size
        }

        /// Whether the range and `start..<start+size` share a byte.
        public func overlaps(start other: UInt64, size length: UInt64) -> Bool {
            other < start &+ size && start < other &+ length
        }
    }

    /// The carve arguments in command-line order (`memmap=…`, `efi_fake_mem=…`).
    public var arguments: [String]
    /// The ranges they carve (memory they return to RAM, `nn@ss`, is not a carve).
    public var ranges: [Range]

    /// Reads the carve arguments of a kernel command line (`/proc/cmdline`).
    public init(commandLine: String) {
        arguments = commandLine.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }).map(String.init)
            .filter { $0.hasPrefix("memmap=") || $0.hasPrefix("efi_fake_mem=") }
        ranges = arguments.flatMap(Self.ranges(of:))
    }

    /// The ranges one argument carves; an argument it cannot read carves nothing.
    static func ranges(of argument: String) -> [Range] {
        let isEFI = argument.hasPrefix("efi_fake_mem=")
        let value = argument.drop { $0 != "=" }.dropFirst()
        return value.split(separator: ",").compactMap { item -> Range? in
            let text = String(item)
            if isEFI {
                // nn@ss:attr
                let parts = text.split(separator: ":", maxSplits: 1)
                let place = parts[0].split(separator: "@", maxSplits: 1)
                guard place.count == 2, let size = memparse(String(place[0])), let start = memparse(String(place[1]))
                else { return nil }
                let attribute = parts.count == 2 ? memparse(String(parts[1])) ?? 0 : 0
                return Range(
                    start: start, size: size, kind: attribute & 0x40000 != 0 ? "soft-reserved" : "other",
                    argument: argument)
            }
            guard let separator = text.firstIndex(where: { "!%$#@".contains($0) }),
                let size = memparse(String(text[..<separator]))
            else { return nil }
            let rest = text[text.index(after: separator)...]
            switch text[separator] {
            case "!":
                guard let start = memparse(String(rest)) else { return nil }
                return Range(start: start, size: size, kind: "pmem", argument: argument)
            case "%":
                // size%offset-oldtype+newtype (either type may be omitted)
                let offsetText = rest.prefix { $0 != "-" && $0 != "+" }
                guard let start = memparse(String(offsetText)) else { return nil }
                let newType = rest.split(separator: "+").dropFirst().first.flatMap { memparse(String($0)) }
                return Range(
                    start: start, size: size, kind: newType == 0xefff_ffff ? "soft-reserved" : "other",
                    argument: argument)
            case "$", "#":
                guard let start = memparse(String(rest)) else { return nil }
                return Range(start: start, size: size, kind: "other", argument: argument)
            default:
                return nil
            }
        }
    }

    /// The kernel's `memparse`: decimal, `0x` hex or leading-zero octal, with an optional K, M, G, T, P or E.
    public static func memparse(_ text: String) -> UInt64? {
        var digits = Substring(text)
        var shift: UInt64 = 0
        if let last = digits.last, let power = "KMGTPE".firstIndex(of: Character(last.uppercased())) {
            shift = UInt64("KMGTPE".distance(from: "KMGTPE".startIndex, to: power) + 1) * 10
            digits = digits.dropLast()
        }
        let value: UInt64?
        if digits.hasPrefix("0x") || digits.hasPrefix("0X") {
            value = UInt64(digits.dropFirst(2), radix: 16)
        } else if digits.count > 1, digits.hasPrefix("0") {
            value = UInt64(digits.dropFirst(), radix: 8)
        } else {
            value = UInt64(digits)
        }
        guard let value, value.leadingZeroBitCount >= Int(shift) else { return nil }
        return value << shift
    }

    /// How the command line carves the physical range `start..<start+size` of a region: the argument that covers it
    /// whole, `nil` when no argument touches it (firmware carved it: the next kernel needs no argument), or a
    /// problem when arguments touch it without covering it.
    public func check(start: UInt64, size: UInt64) -> Result<String?, CarveMismatch> {
        if let covering = ranges.first(where: { $0.covers(start: start, size: size) }) {
            return .success(covering.argument)
        }
        let touching = ranges.filter { $0.overlaps(start: start, size: size) }
        guard touching.isEmpty else {
            return .failure(
                CarveMismatch(message: "\(touching.map(\.argument).joined(separator: " ")) carves only part of it"))
        }
        return .success(nil)
    }
}

/// A command line that does not carve a region as it was adopted.
public struct CarveMismatch: Error, Hashable, Sendable {
    /// What disagrees.
    public var message: String
}
