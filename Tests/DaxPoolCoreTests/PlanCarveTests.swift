import DaxPoolCore
import Foundation
import Testing

/// The captured files under `Tests/Fixtures/plan` (this machine as root, and hand-written lab guest maps).
enum PlanFixture {
    static let directory: URL = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
        .deletingLastPathComponent().appendingPathComponent("../Fixtures/plan").standardizedFileURL

    static func text(_ name: String) throws -> String {
        let data = try #require(FileManager.default.contents(atPath: directory.appendingPathComponent(name).path))
        return String(decoding: data, as: UTF8.self)
    }

    static func facts(_ prefix: String, iomem: String, cmdline: String) throws -> HostMemoryFacts {
        let block = try #require(
            UInt64(try text("\(prefix)-block_size_bytes.txt").filter { !$0.isWhitespace }, radix: 16))
        return HostMemoryFacts(
            map: try IOMemoryMap(text: try text(iomem)), commandLine: BootCommandLine(try text(cmdline)),
            blockSize: block)
    }
}

/// Every byte of `start..<start+size` lies in one top-level System RAM entry.
func insideSystemRAM(_ range: CarvePlan.Range, _ map: IOMemoryMap) -> Bool {
    map.systemRAM.contains { $0.start <= range.start && range.start + range.size - 1 <= $0.end }
}

@Suite("carve plans", .timeLimit(.minutes(20))) struct PlanCarveTests {
    @Test("the host's /proc/iomem parses with its nesting, and its System RAM adds up")
    func theHostMapParsesWithNestingAndItsSystemRAMAddsUp() throws {
        let map = try IOMemoryMap(text: try PlanFixture.text("host-iomem.txt"))
        #expect(!map.isRedacted)
        #expect(map.entries.contains { $0.name == "Kernel code" && $0.depth == 1 })
        #expect(map.entries.contains { $0.name == "PCI Bus 0000:00" && $0.depth == 2 })
        #expect(map.systemRAM.map(\.start) == [0x1000, 0x10_0000, 0x1_0000_0000])
    }

    @Test("a map read without root (addresses hidden) is recognised and refused")
    func aMapReadWithoutRootIsRecognisedAsRedactedAndRefused() throws {
        let map = try IOMemoryMap(text: try PlanFixture.text("host-iomem-unprivileged.txt"))
        #expect(map.isRedacted)
        let facts = HostMemoryFacts(map: map, commandLine: BootCommandLine(""), blockSize: 1 << 27)
        #expect(throws: CarvePlanError.addressesHidden) {
            try CarvePlanner.plan(CarveRequest(guestMemory: .gibibytes(1)), on: facts)
        }
    }

    @Test(
        "the planned ranges lie inside System RAM, are block-aligned and add up to the request",
        arguments: [
            ("host", "host-iomem.txt", "host-cmdline.txt", UInt64(8) << 30, Alignment.page1G),
            ("host", "host-iomem.txt", "host-cmdline.txt", UInt64(3) << 30 + (2 << 20) * 5, Alignment.page2M),
            ("lab", "lab-iomem-nocarve.txt", "lab-cmdline-nocarve.txt", UInt64(1) << 30, Alignment.page2M),
            ("lab", "lab-iomem-hmem.txt", "lab-cmdline-hmem.txt", UInt64(512) << 20, Alignment.page2M),
        ])
    func thePlannedRangesLieInsideSystemRAMAreBlockAlignedAndAddUpToTheRequest(
        prefix: String, iomem: String, cmdline: String, memory: UInt64, pageSize: Alignment
    ) throws {
        let facts = try PlanFixture.facts(prefix, iomem: iomem, cmdline: cmdline)
        let plan = try CarvePlanner.plan(CarveRequest(guestMemory: ByteCount(memory), pageSize: pageSize), on: facts)
        let alignment = max(facts.blockSize, pageSize.rawValue)
        let total = plan.ranges.reduce(0) { $0 + $1.size }
        #expect(total == plan.carvedMemory)
        #expect(plan.carvedMemory >= memory && plan.carvedMemory - memory < alignment)
        for range in plan.ranges {
            #expect(insideSystemRAM(range, facts.map))
            #expect(range.start % alignment == 0 && range.size % alignment == 0)
            #expect(range.start >= CarvePlanner.lowestStart)
        }
        // The planned arguments, read back by the kernel's parser, carve exactly these ranges with no problem.
        let carve = KernelCarve(commandLine: plan.memmapArguments.joined(separator: " "))
        #expect(carve.ranges.map { [$0.start, $0.size] } == plan.ranges.map { [$0.start, $0.size] })
        #expect(carve.ranges.allSatisfy { $0.kind == "soft-reserved" })
        #expect(CarveValidator.validate(carve, against: facts.map, blockSize: facts.blockSize, applied: false).isEmpty)
        #expect(plan.hugetlbArguments.last == "hugetlb_free_vmemmap=on")
        #expect(plan.hostKeeps + plan.carvedMemory == plan.systemRAM)
    }

    @Test("the host's plan for 8G in 1G pages is the top of RAM, with its metadata figures")
    func theHostPlanFor8GIn1GPagesIsTheTopOfRAMWithItsMetadataFigures() throws {
        let facts = try PlanFixture.facts("host", iomem: "host-iomem.txt", cmdline: "host-cmdline.txt")
        let plan = try CarvePlanner.plan(CarveRequest(guestMemory: .gibibytes(8), pageSize: .page1G), on: facts)
        #expect(plan.memmapArguments == ["memmap=8G%17G-1+0xefffffff"])
        #expect(plan.hugetlbArguments == ["hugepagesz=1G", "hugepages=8", "hugetlb_free_vmemmap=on"])
        #expect(plan.pageMetadataFullPerTebibyte == 16 << 30)
        #expect(plan.pageMetadataPerTebibyte == 4 << 20)
        #expect(plan.efiFakeMemArgument == nil)
        #expect(plan.currentCarveProblems.isEmpty)
    }

    @Test("an EFI host is offered efi_fake_mem= with the soft-reserved attribute")
    func anEFIHostIsOfferedEFIFakeMemWithTheSoftReservedAttribute() throws {
        var facts = try PlanFixture.facts("host", iomem: "host-iomem.txt", cmdline: "host-cmdline.txt")
        facts.bootsWithEFI = true
        let plan = try CarvePlanner.plan(CarveRequest(guestMemory: .gibibytes(2)), on: facts)
        #expect(plan.efiFakeMemArgument == "efi_fake_mem=2G@23G:0x40000")
        let carve = KernelCarve(commandLine: try #require(plan.efiFakeMemArgument))
        #expect(carve.ranges.first?.kind == "soft-reserved")
    }

    @Test("more memory than the host has above 4G is refused, naming what is available")
    func moreMemoryThanTheHostHasAbove4GIsRefusedWithWhatIsAvailable() throws {
        let facts = try PlanFixture.facts("host", iomem: "host-iomem.txt", cmdline: "host-cmdline.txt")
        #expect(throws: CarvePlanError.notEnoughMemory(requested: 24 << 30, available: 21 << 30, node: nil)) {
            try CarvePlanner.plan(CarveRequest(guestMemory: .gibibytes(24)), on: facts)
        }
    }

    @Test("a per-node plan splits the memory and keeps each share on its node")
    func aPerNodePlanSplitsTheMemoryAndKeepsEachShareOnItsNode() throws {
        var facts = try PlanFixture.facts("host", iomem: "host-iomem.txt", cmdline: "host-cmdline.txt")
        // Two fake nodes: node 0 up to 16 GiB, node 1 above (blocks of 128 MiB).
        facts.nodes = [
            HostMemoryFacts.NodeMemory(id: 0, blocks: Array(0..<128)),
            HostMemoryFacts.NodeMemory(id: 1, blocks: Array(128..<200)),
        ]
        let plan = try CarvePlanner.plan(CarveRequest(guestMemory: .gibibytes(4), perNode: true), on: facts)
        #expect(plan.ranges.count == 2)
        #expect(plan.ranges.first { $0.node == 0 }.map { $0.start + $0.size <= 16 << 30 } == true)
        #expect(plan.ranges.first { $0.node == 1 }.map { $0.start >= 16 << 30 } == true)
        #expect(plan.hugetlbArguments.contains("hugepages=0:1024,1:1024"))
    }

    @Test("the lab's hmem carve on its running kernel is sound") func theLabHmemCarveOnTheRunningKernelIsSound() throws
    {
        let facts = try PlanFixture.facts("lab", iomem: "lab-iomem-hmem.txt", cmdline: "lab-cmdline-hmem.txt")
        let problems = CarveValidator.validate(
            facts.commandLine.carve, against: facts.map, blockSize: facts.blockSize, applied: true)
        #expect(problems.isEmpty)
        #expect(facts.commandLine.carve.arguments == ["memmap=1G%5G-1+0xefffffff"])
    }
}

@Suite("carve validator", .timeLimit(.minutes(20))) struct PlanValidatorTests {
    func problems(_ commandLine: String, iomem: String = "lab-iomem-nocarve.txt", applied: Bool = false) throws
        -> [CarveProblem.Kind]
    {
        let map = try IOMemoryMap(text: try PlanFixture.text(iomem))
        return CarveValidator.validate(
            BootCommandLine(commandLine).carve, against: map, blockSize: 1 << 27, applied: applied
        ).map(\.kind)
    }

    @Test("a range over the firmware-reserved top of low RAM is flagged")
    func aRangeOverTheFirmwareReservedTopOfLowRAMIsFlagged() throws {
        #expect(try problems("memmap=1G%2G-1+0xefffffff").contains(.overlapsReserved))
    }

    @Test("a range over the kernel image is flagged") func aRangeOverTheKernelImageIsFlagged() throws {
        #expect(try problems("memmap=64M!16M").contains(.overlapsKernel))
    }

    @Test("a range off the memory block boundary is flagged") func aRangeOffTheMemoryBlockBoundaryIsFlagged() throws {
        #expect(try problems("memmap=100M%0x140000000-1+0xefffffff") == [.misaligned])
    }

    @Test("a range past the end of RAM is flagged") func aRangePastTheEndOfRAMIsFlagged() throws {
        #expect(try problems("memmap=2G%10G-1+0xefffffff") == [.beyondRAM])
    }

    @Test("overlapping carves are flagged") func overlappingCarvesAreFlagged() throws {
        #expect(try problems("memmap=1G%5G-1+0xefffffff memmap=1G!5G") == [.overlapsCarve])
    }

    @Test("an unreadable argument is flagged") func anUnreadableArgumentIsFlagged() throws {
        #expect(try problems("memmap=lots") == [.unreadable])
    }

    @Test("a carve the running kernel ignored is flagged as not applied")
    func aCarveTheRunningKernelIgnoredIsFlaggedAsNotApplied() throws {
        #expect(try problems("memmap=1G%5G-1+0xefffffff", applied: true) == [.notApplied])
        #expect(try problems("memmap=1G%5G-1+0xefffffff", iomem: "lab-iomem-hmem.txt", applied: true).isEmpty)
    }

    @Test("the huge page arguments are read per size and per node") func theHugePageArgumentsAreReadPerSizeAndNode() {
        let line = BootCommandLine(
            "hugepagesz=1G hugepages=0:2,1:3 hugepagesz=2M hugepages=512 hugetlb_free_vmemmap=on -- x=1")
        #expect(line.hugePages.map(\.count) == [5, 512])
        #expect(line.hugePages.map(\.pageSize) == [1 << 30, 2 << 20])
        #expect(line.vmemmapOptimization == true)
        #expect(!line.words.contains("x=1"))
    }
}

@Suite("carve plan booted in the lab", .timeLimit(.minutes(20))) struct PlanLabBootTests {
    @Test("the plan's command line, booted in the lab, yields exactly the planned dax region")
    func thePlansCommandLineBootedInTheLabYieldsExactlyThePlannedDaxRegion() throws {
        let before = try PlanFixture.facts("lab", iomem: "lab-iomem-nocarve.txt", cmdline: "lab-cmdline-nocarve.txt")
        let plan = try CarvePlanner.plan(CarveRequest(guestMemory: .gibibytes(1)), on: before)
        let booted = BootCommandLine(try PlanFixture.text("lab-cmdline-planned.txt"))
        #expect(booted.carve.arguments == plan.memmapArguments)
        let after = try IOMemoryMap(text: try PlanFixture.text("lab-iomem-planned.txt"))
        let softReserved = after.entries.filter { $0.name == "Soft Reserved" }.map { [$0.start, $0.size] }
        #expect(softReserved == plan.ranges.map { [$0.start, $0.size] })
        let daxDevices = after.entries.filter { $0.name.hasPrefix("dax") }.map { [$0.start, $0.size] }
        #expect(daxDevices == softReserved)
        #expect(
            CarveValidator.validate(booted.carve, against: after, blockSize: before.blockSize, applied: true).isEmpty)
        #expect(try PlanFixture.text("lab-daxctl-planned.json").contains("\"size\":\(plan.carvedMemory)"))
    }
}
