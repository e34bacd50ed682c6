import ArgumentParser
import DaxPoolAPI
import DaxPoolCore
import DaxPoolSystem
import SystemPackage

/// `daxpool plan`: the kernel command line that carves guest memory at boot, checked against this host (Linux).
struct PlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Plan the boot-time carve of guest memory on this host, and check the running kernel's.",
        discussion: """
            Reads /proc/iomem (as root: the kernel hides addresses from others), /proc/cmdline, \
            /sys/devices/system/memory/block_size_bytes, /sys/devices/system/node, /sys/kernel/mm/hugepages and \
            /proc/sys/vm/hugetlb_optimize_vmemmap. Prints soft-reserved memmap= ranges inside System RAM aligned to \
            the memory block size (and efi_fake_mem= on EFI hosts), the HugeTLB alternative, the daxpool commands \
            that adopt either, what the host keeps, the page metadata per TiB, and what is wrong with the memmap= \
            the running kernel booted with.
            """
    )

    @Option(name: .customLong("guest-memory"), help: "The memory to carve for guests (k/m/g/t suffixes, or 0x hex).")
    var guestMemory: String

    @Option(name: .customLong("page-size"), help: "2M or 1G: the page size guests map it with.")
    var pageSize: String = "2M"

    @Flag(name: .customLong("per-node"), help: "Split the memory evenly across the NUMA nodes with memory.")
    var perNode = false

    @Flag(name: .long, help: "Print JSON instead of text.")
    var json = false

    @Option(name: .long, help: .hidden)
    var root: String = ""

    func validate() throws {
        guard pageSize == "2M" || pageSize == "1G" else { throw ValidationError("--page-size must be 2M or 1G") }
    }

    func run() throws {
        let memory = try parseSizeOption(guestMemory, option: "--guest-memory")
        let facts = try readFacts()
        let request = CarveRequest(
            guestMemory: memory, pageSize: pageSize == "1G" ? .page1G : .page2M, perNode: perNode)
        let plan: CarvePlan
        do {
            plan = try CarvePlanner.plan(request, on: facts)
        } catch {
            throw ErrorBody(code: .planFailed, message: error.description)
        }
        if json {
            try Output.print(plan)
        } else {
            print(Self.text(plan))
        }
    }

    /// Reads the host's files (under `--root`, for captured trees).
    func readFacts() throws -> HostMemoryFacts {
        let iomemText = try read("/proc/iomem")
        let map: IOMemoryMap
        do {
            map = try IOMemoryMap(text: iomemText)
        } catch {
            throw ErrorBody(code: .unreadable, message: error.description)
        }
        if map.isRedacted {
            throw ErrorBody(
                code: .addressesHidden,
                message: "/proc/iomem shows every address as 0: the kernel hides physical addresses from non-root "
                    + "readers; run 'daxpool plan' as root")
        }
        let blockText = try read("/sys/devices/system/memory/block_size_bytes")
        guard let blockSize = UInt64(blockText.filter { !$0.isWhitespace }, radix: 16) else {
            throw ErrorBody(code: .unreadable, message: "block_size_bytes is not hex: \(blockText)")
        }
        var nodes: [HostMemoryFacts.NodeMemory] = []
        let nodeDirectory = root + "/sys/devices/system/node"
        for name in Self.names(in: nodeDirectory) where name.hasPrefix("node") {
            guard let id = Int(name.dropFirst(4)) else { continue }
            let entries = Self.names(in: nodeDirectory + "/" + name)
            let blocks = entries.compactMap { $0.hasPrefix("memory") ? UInt64($0.dropFirst(6)) : nil }
            if !blocks.isEmpty { nodes.append(HostMemoryFacts.NodeMemory(id: id, blocks: blocks)) }
        }
        var pools: [HostMemoryFacts.HugePagePool] = []
        let hugeDirectory = root + "/sys/kernel/mm/hugepages"
        for name in Self.names(in: hugeDirectory) {
            guard name.hasPrefix("hugepages-"), name.hasSuffix("kB"),
                let kibibytes = UInt64(name.dropFirst(10).dropLast(2))
            else { continue }
            let number = { (file: String) in
                UInt64((try? read("/sys/kernel/mm/hugepages/\(name)/\(file)"))?.filter { !$0.isWhitespace } ?? "")
                    ?? 0
            }
            pools.append(
                HostMemoryFacts.HugePagePool(
                    pageSize: kibibytes << 10, total: number("nr_hugepages"), free: number("free_hugepages")))
        }
        pools.sort { $0.pageSize < $1.pageSize }
        let hvo = (try? read("/proc/sys/vm/hugetlb_optimize_vmemmap"))?.hasPrefix("1") ?? false
        let efi = (try? Syscall.status(FilePath(root + "/sys/firmware/efi"))) != nil
        return HostMemoryFacts(
            map: map, commandLine: BootCommandLine(try read("/proc/cmdline")), blockSize: blockSize, nodes: nodes,
            hugePagePools: pools, vmemmapOptimized: hvo, bootsWithEFI: efi)
    }

    /// The text of the host file `path` (under `--root`). The corresponding C functions are `open(2)` and
    /// `pread(2)`.
    func read(_ path: String) throws -> String {
        do throws(Errno) {
            let file = try OwnedDescriptor.open(FilePath(root + path), .readOnly)
            return String(decoding: try file.readToEnd(), as: UTF8.self)
        } catch {
            throw ErrorBody(code: .unreadable, message: "cannot read \(root + path): \(error)")
        }
    }

    /// The names in directory `path`; none when it cannot be read (`opendir(3)`, `readdir(3)`).
    static func names(in path: String) -> [String] {
        (try? Syscall.directoryEntries(FilePath(path))) ?? []
    }

    /// The plan as text for a person.
    static func text(_ plan: CarvePlan) -> String {
        let size = CarvePlanner.sizeText
        let human = { (bytes: UInt64) in ByteCount(bytes).humanDescription }
        var lines = [
            "# Carve \(size(plan.carvedMemory)) for guests in \(size(plan.pageSize)) pages "
                + "(System RAM \(human(plan.systemRAM)), memory blocks of \(size(plan.blockSize)))."
        ]
        lines += plan.notes.map { "# Note: \($0)." }
        lines.append("")
        lines.append("## Soft-reserved (device-dax, survives kexec): add to the kernel command line")
        lines.append(plan.memmapArguments.joined(separator: " "))
        for range in plan.ranges {
            lines.append(
                "#   0x\(String(range.start, radix: 16))-0x\(String(range.start + range.size - 1, radix: 16)) "
                    + "(\(size(range.size)))\(range.node.map { " on node \($0)" } ?? "") inside System RAM")
        }
        if let efi = plan.efiFakeMemArgument {
            lines.append("# or, preferred on EFI hosts (EFI_MEMORY_SP on conventional memory):")
            lines.append(efi)
        }
        lines.append("# then adopt it after the reboot:")
        lines += plan.adoptSoftReserved
        lines.append("")
        lines.append("## HugeTLB instead: add to the kernel command line")
        lines.append(plan.hugetlbArguments.joined(separator: " "))
        lines.append("# then adopt it after the reboot:")
        lines += plan.adoptHugeTLB
        lines.append("")
        lines.append("## What the host keeps: \(human(plan.hostKeeps)) of System RAM.")
        lines.append(
            "## Page metadata per TiB of guest memory: \(size(plan.pageMetadataPerTebibyte)) instead of "
                + "\(size(plan.pageMetadataFullPerTebibyte)) (saves \(size(plan.pageMetadataSavedPerTebibyte))); "
                + "HVO is \(plan.vmemmapOptimizedNow ? "on" : "off") now.")
        lines.append("")
        if plan.currentCarveArguments.isEmpty {
            lines.append("## The running kernel's command line carves nothing.")
        } else if plan.currentCarveProblems.isEmpty {
            lines.append("## The running kernel's carve is sound: \(plan.currentCarveArguments.joined(separator: " "))")
        } else {
            lines.append("## The running kernel's carve is WRONG:")
            lines += plan.currentCarveProblems.map { "#   \($0.argument): \($0.kind.rawValue): \($0.message)" }
        }
        return lines.joined(separator: "\n")
    }
}
