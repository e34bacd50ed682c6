// Linux only.
import DaxPoolCore
import DaxPoolSystem
import SystemPackage

/// One line of `/proc/self/mountinfo`: where a filesystem is mounted, its type, its source and its options.
public struct HugetlbMountInfo: Hashable, Sendable {
    /// The mount point, unescaped.
    public var mountPoint: String
    /// The filesystem type (`hugetlbfs`, `tmpfs`, ...).
    public var fileSystemType: String
    /// The mount source: daxpool mounts hugetlbfs with source `daxpool-region<id>`.
    public var source: String
    /// The superblock options (`rw,pagesize=2M,size=...`), unescaped.
    public var superOptions: [String]

    /// The hugetlbfs `pagesize=` option in bytes (`2M`, `1024M`, `1G`), or `nil` without one.
    public var hugePageSize: UInt64? { byteOption("pagesize") }

    /// The superblock option `name=` as bytes: digits with an optional `K`, `M` or `G` suffix (either case); `nil`
    /// without the option, or when it does not read as a byte count.
    func byteOption(_ name: String) -> UInt64? {
        let prefix = name + "="
        guard let option = superOptions.first(where: { $0.hasPrefix(prefix) }) else { return nil }
        var digits = Substring(option.dropFirst(prefix.count))
        var scale: UInt64 = 1
        switch digits.last {
        case "K", "k": scale = 1 << 10
        case "M", "m": scale = 1 << 20
        case "G", "g": scale = 1 << 30
        default: break
        }
        if scale != 1 { digits = digits.dropLast() }
        guard let value = UInt64(digits) else { return nil }
        let (bytes, overflow) = value.multipliedReportingOverflow(by: scale)
        return overflow ? nil : bytes
    }

    /// Parses one mountinfo line: `id parent major:minor root mountpoint options [optional...] - type source super`.
    public init?(line: String) {
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        // The optional fields end at a lone "-"; the fields before them are fixed, so look from the seventh on.
        guard fields.count >= 9, let separator = fields[6...].firstIndex(of: "-"), separator + 2 < fields.count
        else { return nil }
        mountPoint = Self.unescape(fields[4])
        fileSystemType = Self.unescape(fields[separator + 1])
        source = Self.unescape(fields[separator + 2])
        superOptions =
            separator + 3 < fields.count
            ? Self.unescape(fields[separator + 3]).split(separator: ",").map(String.init) : []
    }

    /// The mounts of this process's mount namespace, from `/proc/self/mountinfo`.
    /// The corresponding C functions are `open(2)` and `pread(2)`.
    public static func all(path: String = "/proc/self/mountinfo") throws(Errno) -> [HugetlbMountInfo] {
        let file = try OwnedDescriptor.open(FilePath(path), .readOnly, options: .noFollow)
        let text = String(decoding: try file.readToEnd(), as: UTF8.self)
        return text.split(separator: "\n").compactMap { HugetlbMountInfo(line: String($0)) }
    }

    /// The topmost mount at exactly `mountPoint`, or `nil` when nothing is mounted there.
    public static func mounted(at mountPoint: String) throws(Errno) -> HugetlbMountInfo? {
        try all().last { $0.mountPoint == mountPoint }
    }

    /// Undoes the kernel's octal escapes (`\040` space, `\011` tab, `\012` newline, `\134` backslash).
    static func unescape(_ field: Substring) -> String {
        guard field.contains("\\") else { return String(field) }
        var bytes: [UInt8] = []
        var utf8 = Array(field.utf8)[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "\\"), utf8.count >= 3,
                let value = UInt8(String(decoding: utf8.prefix(3), as: UTF8.self), radix: 8)
            {
                bytes.append(value)
                utf8 = utf8.dropFirst(3)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
