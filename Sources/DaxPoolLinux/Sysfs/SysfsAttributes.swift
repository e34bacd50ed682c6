// Linux only.
import SystemPackage

/// Typed reads and writes of sysfs attributes over any `SysfsAccess`: numbers in the kernel's formats
/// (`%llu`, `%#llx`, `%d`), errors as `SysfsError` naming the absolute path.
public struct SysfsAttributes: Sendable {
    /// The tree the attributes are read from and written to.
    public let access: any SysfsAccess

    /// Attributes over `access`.
    public init(_ access: any SysfsAccess) {
        self.access = access
    }

    /// The attribute's text (one trailing newline removed).
    public func text(_ path: FilePath) throws(SysfsError) -> String {
        do {
            return try access.read(path)
        } catch {
            throw SysfsError(operation: "read", path: access.absolute(path).string, errno: error, detail: "")
        }
    }

    /// The attribute's text, or `nil` when the attribute does not exist (hidden by the kernel) or cannot be read
    /// (`ENXIO` from an unbound nd seed, `EACCES` for root-only attributes).
    public func optionalText(_ path: FilePath) -> String? {
        try? access.read(path)
    }

    /// An unsigned number as sysfs prints sizes and addresses: decimal (`%llu`, `%u`) or `0x` hex (`%#llx`).
    public func unsigned(_ path: FilePath) throws(SysfsError) -> UInt64 {
        let value = try text(path)
        guard let number = Self.parseUnsigned(value) else {
            throw SysfsError(operation: "parse", path: access.absolute(path).string, errno: .badMessage, detail: value)
        }
        return number
    }

    /// `unsigned(_:)`, or `nil` when the attribute is absent or unreadable.
    public func optionalUnsigned(_ path: FilePath) throws(SysfsError) -> UInt64? {
        guard let value = optionalText(path) else { return nil }
        guard let number = Self.parseUnsigned(value) else {
            throw SysfsError(operation: "parse", path: access.absolute(path).string, errno: .badMessage, detail: value)
        }
        return number
    }

    /// A signed decimal (`%d`), such as `numa_node`, which is `-1` when unknown. `nil` when absent.
    public func optionalSigned(_ path: FilePath) throws(SysfsError) -> Int? {
        guard let value = optionalText(path) else { return nil }
        guard let number = Int(value.trimmingSpaces()) else {
            throw SysfsError(operation: "parse", path: access.absolute(path).string, errno: .badMessage, detail: value)
        }
        return number
    }

    /// Stores `value` with one `write(2)`.
    public func write(_ path: FilePath, _ value: String) throws(SysfsError) {
        do {
            try access.write(path, value)
        } catch {
            throw SysfsError(
                operation: "write", path: access.absolute(path).string, errno: error,
                detail: value.trimmingSpaces()
            )
        }
    }

    /// The directory's entries, sorted.
    public func entries(_ directory: FilePath) throws(SysfsError) -> [String] {
        do {
            return try access.entries(directory).sorted()
        } catch {
            throw SysfsError(operation: "list", path: access.absolute(directory).string, errno: error, detail: "")
        }
    }

    /// The canonical root-relative path of `path`.
    public func resolve(_ path: FilePath) throws(SysfsError) -> FilePath {
        do {
            return try access.resolve(path)
        } catch {
            throw SysfsError(operation: "resolve", path: access.absolute(path).string, errno: error, detail: "")
        }
    }

    /// Whether anything is at `path`.
    public func exists(_ path: FilePath) -> Bool { access.exists(path) }

    /// Parses `"1073741824"`, `"0x140000000"` or `"0X1F"` (surrounding spaces ignored).
    public static func parseUnsigned(_ text: String) -> UInt64? {
        let trimmed = text.trimmingSpaces()
        if trimmed.hasPrefix("0x") || trimmed.hasPrefix("0X") {
            let digits = trimmed.dropFirst(2)
            return digits.isEmpty ? nil : UInt64(digits, radix: 16)
        }
        guard !trimmed.isEmpty, trimmed.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return UInt64(trimmed)
    }

    /// `%#llx` as the kernel and libdaxctl print it: `0x140000000`, and `0` for zero.
    public static func hex(_ value: UInt64) -> String {
        value == 0 ? "0" : "0x" + String(value, radix: 16)
    }
}

extension String {
    /// Without leading and trailing spaces, tabs and newlines.
    func trimmingSpaces() -> String {
        var scalars = Substring(self)
        while let first = scalars.first, first == " " || first == "\n" || first == "\t" {
            scalars = scalars.dropFirst()
        }
        while let last = scalars.last, last == " " || last == "\n" || last == "\t" { scalars = scalars.dropLast() }
        return String(scalars)
    }
}
