/// What a kernel command line (`/proc/cmdline`) says about boot-time memory: the carve arguments (read by
/// `KernelCarve`), the HugeTLB pools (`hugepagesz=`, `hugepages=`, `default_hugepagesz=`) and
/// `hugetlb_free_vmemmap=` (the boot parameter of HugeTLB Vmemmap Optimization; its sysctl is
/// `vm.hugetlb_optimize_vmemmap`).
public struct BootCommandLine: Hashable, Sendable {
    /// One `hugepages=` pool request, tied to the `hugepagesz=` before it.
    public struct HugePageRequest: Hashable, Sendable {
        /// The page size in bytes (`hugepagesz=`, else `default_hugepagesz=`, else 2 MiB).
        public var pageSize: UInt64
        /// Pages per node (`hugepages=0:2,1:2`), or `nil` for the whole-system form (`hugepages=4`).
        public var perNode: [Int: UInt64]?
        /// Pages in all.
        public var count: UInt64
    }

    /// Every word of the command line, in order (the words after `--` go to init and are left out).
    public var words: [String]
    /// The carve arguments and their ranges.
    public var carve: KernelCarve
    /// The `hugepages=` requests.
    public var hugePages: [HugePageRequest]
    /// `hugetlb_free_vmemmap=on` (`true`), `=off` (`false`) or absent (`nil`).
    public var vmemmapOptimization: Bool?

    /// Reads a kernel command line.
    public init(_ text: String) {
        let all = text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }).map(String.init)
        words = Array(all.prefix { $0 != "--" })
        carve = KernelCarve(commandLine: words.joined(separator: " "))
        var defaultSize: UInt64 = 2 << 20
        if let word = words.last(where: { $0.hasPrefix("default_hugepagesz=") }),
            let size = KernelCarve.memparse(Self.value(of: word))
        {
            defaultSize = size
        }
        var currentSize: UInt64?
        var requests: [HugePageRequest] = []
        var optimization: Bool?
        for word in words {
            let value = Self.value(of: word)
            if word.hasPrefix("hugepagesz=") {
                currentSize = KernelCarve.memparse(value)
            } else if word.hasPrefix("hugepages=") {
                let pageSize = currentSize ?? defaultSize
                if value.contains(":") {
                    var nodes: [Int: UInt64] = [:]
                    for item in value.split(separator: ",") {
                        let parts = item.split(separator: ":")
                        guard parts.count == 2, let node = Int(parts[0]), let count = UInt64(parts[1]) else { continue }
                        nodes[node, default: 0] += count
                    }
                    requests.append(
                        HugePageRequest(pageSize: pageSize, perNode: nodes, count: nodes.values.reduce(0, +)))
                } else if let count = UInt64(value) {
                    requests.append(HugePageRequest(pageSize: pageSize, perNode: nil, count: count))
                }
            } else if word.hasPrefix("hugetlb_free_vmemmap=") {
                optimization = value == "on" || value == "1" || value == "y"
            }
        }
        hugePages = requests
        vmemmapOptimization = optimization
    }

    static func value(of word: String) -> String {
        String(word.drop { $0 != "=" }.dropFirst())
    }
}
