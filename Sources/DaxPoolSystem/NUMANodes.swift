// Linux only.
import CLinuxShims
import SystemPackage

/// The host's NUMA nodes as sysfs lists them under `/sys/devices/system/node`.
public enum NUMANodes {
    /// `/sys/devices/system/node`.
    public static let sysfsRoot = "/sys/devices/system/node"

    /// The online nodes, read from `<root>/online` (a list such as `0` or `0-3,5`).
    /// - Throws: the `Errno` of reading the file, or `EINVAL` when it is not a node list.
    public static func online(root: String = sysfsRoot) throws(Errno) -> [Int] {
        let path = FilePath(root).appending("online")
        let file = try OwnedDescriptor.open(path, .readOnly, options: .noFollow)
        let text = String(decoding: try file.readToEnd(), as: UTF8.self)
        guard let nodes = parseList(text) else { throw Errno.invalidArgument }
        return nodes
    }

    /// Parses a kernel CPU/node list (`0`, `0-3,5`, empty) into ascending numbers, or `nil` when malformed.
    public static func parseList(_ text: String) -> [Int]? {
        let body = trimmed(text)
        guard !body.isEmpty else { return [] }
        var nodes: [Int] = []
        for part in body.split(separator: ",", omittingEmptySubsequences: false) {
            let bounds = part.split(separator: "-", omittingEmptySubsequences: false)
            guard (1...2).contains(bounds.count), let low = Int(bounds[0]), low >= 0,
                let high = bounds.count == 2 ? Int(bounds[1]) : low, high >= low, high - low < 1 << 16
            else { return nil }
            nodes.append(contentsOf: low...high)
        }
        return Array(Set(nodes)).sorted()
    }

    /// `text` without leading and trailing spaces, tabs and newlines, as sysfs and procfs values come.
    public static func trimmed(_ text: String) -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }
        guard let first = text.firstIndex(where: { !isSpace($0) }), let last = text.lastIndex(where: { !isSpace($0) })
        else { return "" }
        return String(text[first...last])
    }

    /// The node holding the page that `address` is in; the page must be present (touched).
    /// The corresponding C function is `get_mempolicy(2)` with `MPOL_F_NODE | MPOL_F_ADDR`.
    public static func node(holding address: UnsafeRawPointer) throws(Errno) -> Int {
        var node: CInt = -1
        _ = try Syscall.valueOrErrno(.memoryPolicy(ofAddress: true)) {
            cshim_get_mempolicy_node_of_address(&node, UnsafeMutableRawPointer(mutating: address))
        }
        .get()
        return Int(node)
    }
}
