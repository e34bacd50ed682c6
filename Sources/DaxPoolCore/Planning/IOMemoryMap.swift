/// The physical address map the kernel shows in `/proc/iomem`: one resource per line, `start-end : name`, with
/// children indented two spaces under their parent. Without `CAP_SYS_ADMIN` the kernel prints every address as
/// zero; `isRedacted` says so.
public struct IOMemoryMap: Hashable, Sendable {
    /// One resource.
    public struct Entry: Hashable, Sendable {
        /// The first byte.
        public var start: UInt64
        /// The last byte (inclusive, as the kernel prints it).
        public var end: UInt64
        /// The resource's name (`System RAM`, `Reserved`, `Soft Reserved`, `Kernel code`, …).
        public var name: String
        /// How deep it is nested: 0 for a top-level resource.
        public var depth: Int

        /// The number of bytes.
        public var size: UInt64 { end &- start &+ 1 }

        /// Whether the resource and `start..<start+size` share a byte.
        public func overlaps(start other: UInt64, size length: UInt64) -> Bool {
            length > 0 && other <= end && start < other &+ length
        }
    }

    /// The resources in file order.
    public var entries: [Entry]

    /// Reads the text of `/proc/iomem`.
    public init(text: String) throws(IOMemoryMapError) {
        var entries: [Entry] = []
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
            let indent = line.prefix { $0 == " " }.count
            let body = line.dropFirst(indent)
            let halves = body.split(separator: ":", maxSplits: 1)
            guard halves.count == 2 else { throw .unreadableLine(number: index + 1, text: String(line)) }
            let bounds = halves[0].trimmingSpaces.split(separator: "-")
            guard bounds.count == 2, let start = UInt64(bounds[0], radix: 16), let end = UInt64(bounds[1], radix: 16),
                start <= end
            else { throw .unreadableLine(number: index + 1, text: String(line)) }
            entries.append(
                Entry(start: start, end: end, name: String(halves[1].trimmingSpaces), depth: indent / 2))
        }
        self.entries = entries
    }

    /// Whether the kernel hid the addresses (every range `0-0`: the reader was not root).
    public var isRedacted: Bool {
        !entries.isEmpty && entries.allSatisfy { $0.start == 0 && $0.end == 0 }
    }

    /// The top-level resources.
    public var topLevel: [Entry] { entries.filter { $0.depth == 0 } }

    /// The top-level `System RAM` ranges: the memory the page allocator manages.
    public var systemRAM: [Entry] { topLevel.filter { $0.name == "System RAM" } }

    /// The resources nested (at any depth) under the top-level resource at `index` in `entries`.
    public func descendants(of index: Int) -> [Entry] {
        guard entries.indices.contains(index) else { return [] }
        let depth = entries[index].depth
        return Array(entries[(index + 1)...].prefix { $0.depth > depth })
    }

    /// The resources at any depth that share a byte with `start..<start+size`.
    public func entries(overlapping start: UInt64, size: UInt64) -> [Entry] {
        entries.filter { $0.overlaps(start: start, size: size) }
    }
}

/// Why `/proc/iomem` could not be read.
public enum IOMemoryMapError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A line is not `start-end : name` in hexadecimal.
    case unreadableLine(number: Int, text: String)

    /// The line number and text that could not be read, for the CLI.
    public var description: String {
        switch self {
        case .unreadableLine(let number, let text): "line \(number) of /proc/iomem is not 'start-end : name': \(text)"
        }
    }
}

extension Substring {
    /// Without leading and trailing spaces.
    fileprivate var trimmingSpaces: Substring {
        drop { $0 == " " }.reversed().drop { $0 == " " }.reversed().reduce(into: Substring()) { $0.append($1) }
    }
}
