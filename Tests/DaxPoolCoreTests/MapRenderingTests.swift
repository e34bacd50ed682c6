import DaxPoolCore
import Testing

/// `daxpool map`'s layout and its two renderings (SVG and terminal), from a model to text.
@Suite("map rendering", .timeLimit(.minutes(20)))
struct MapRenderingTests {
    static let mib: UInt64 = 1 << 20

    static func extent(_ start: UInt64, _ length: UInt64) -> Extent {
        Extent(start: RegionOffset(start), length: ByteCount(length))
    }

    /// A 256 MiB region with 2 MiB pages: vm1 at [0, 64M), vm2 discontiguous at [64M, 96M) and [160M, 192M),
    /// free [96M, 160M) and [208M, 256M), and [192M, 208M) held by someone the caller cannot see.
    static var sample: RegionMap {
        RegionMap(
            id: 0, backend: "shm", size: ByteCount(256 * mib), pageSize: ByteCount(2 * mib),
            devices: [
                MapDevice(chardev: "dax0.0", name: "vm1", ranges: [extent(0, 64 * mib)]),
                MapDevice(
                    chardev: "dax0.1", name: "vm2", ranges: [extent(64 * mib, 32 * mib), extent(160 * mib, 32 * mib)]),
            ],
            freeExtents: [extent(96 * mib, 64 * mib), extent(208 * mib, 48 * mib)]
        )
    }

    /// The `rect` elements of `svg` of class `kind` (and device `device`), each as its attributes.
    static func rectangles(_ svg: String, kind: String, device: String? = nil) -> [[String: String]] {
        svg.split(separator: "<rect ").dropFirst().compactMap { chunk -> [String: String]? in
            let tag = chunk.prefix { $0 != ">" }
            var attributes: [String: String] = [:]
            var rest = Substring(tag)
            while let equals = rest.firstIndex(of: "=") {
                let name = rest[..<equals].trimmingPrefix(" ")
                let valueStart = rest.index(equals, offsetBy: 2)
                guard let valueEnd = rest[valueStart...].firstIndex(of: "\"") else { break }
                attributes[String(name)] = String(rest[valueStart..<valueEnd])
                rest = rest[rest.index(after: valueEnd)...]
            }
            guard attributes["class"] == kind, device == nil || attributes["data-device"] == device else { return nil }
            return attributes
        }
    }

    @Test("a discontiguous device is drawn at each of its ranges in one colour, with free memory between them")
    func discontiguousDevice() throws {
        let map = Self.sample
        let owners = map.segments.map(\.owner)
        #expect(owners == [.device(0), .device(1), .free, .device(1), .held, .free])
        #expect(map.segments[3].extent == Self.extent(160 * Self.mib, 32 * Self.mib))
        let svg = SVGMapRenderer(width: 960).render([map])
        let ranges = Self.rectangles(svg, kind: "device", device: "dax0.1")
        #expect(ranges.count == 2)
        #expect(Set(ranges.compactMap { $0["fill"] }).count == 1, "one colour for both ranges")
        let first = try #require(Self.rectangles(svg, kind: "device", device: "dax0.0").first?["fill"])
        #expect(ranges.first?["fill"] != first, "two devices, two colours")
        // 928 px of bar for 256 MiB: the second range starts at 160/256 of it, after the 16 px margin.
        #expect(ranges.last?["x"] == "596" && ranges.last?["width"] == "116")
        #expect(svg.contains("vm2  ·  64 MiB  ·  0x4000000-0x5ffffff, 0xa000000-0xbffffff"))

        let text = TerminalMapRenderer(width: 66, colors: false).render(map)
        let bar = try #require(text.split(separator: "\n").first { $0.hasPrefix("[") })
        let expected = "[AAAAAAAAAAAAAAAABBBBBBBB................BBBBBBBB####............]"
        #expect(bar == expected)
        #expect(text.contains("B dax0.1 vm2"))
        #expect(text.contains("64 MiB  0x4000000-0x5ffffff, 0xa000000-0xbffffff"))
    }

    @Test("a bad block is drawn in red with a marker above it, takes its cell on the terminal, and is listed")
    func badBlock() throws {
        var map = Self.sample
        map.badBlocks = [Self.extent(32 * Self.mib, 4096)]
        let svg = SVGMapRenderer(width: 960).render([map])
        let bad = try #require(Self.rectangles(svg, kind: "badblock").first)
        #expect(bad["fill"] == MapPalette.badBlock.hex)
        #expect(bad["width"] == "2", "4 KiB of 256 MiB is widened to stay visible")
        #expect(svg.contains("class=\"badblock-marker\""))
        #expect(svg.contains("bad block  ·  4 KiB  ·  0x2000000-0x2000fff"))

        let text = TerminalMapRenderer(width: 66, colors: false).render(map)
        let bar = try #require(text.split(separator: "\n").first { $0.hasPrefix("[") })
        #expect(Array(bar)[1 + 8] == "!", "the bad block's cell: 32 MiB of 256 MiB in 64 cells")
        #expect(bar.filter { $0 == "!" }.count == 1)
        #expect(text.contains("! bad block"))
    }

    @Test("free gaps are free, memory neither free nor listed is held, and without free extents the rest is free")
    func freeGaps() {
        let map = Self.sample
        #expect(map.bytes(of: .free) == ByteCount(112 * Self.mib))
        #expect(map.bytes(of: .held) == ByteCount(16 * Self.mib))
        #expect(map.bytes(of: .device(1)) == ByteCount(64 * Self.mib))
        let svg = SVGMapRenderer().render([map])
        #expect(Self.rectangles(svg, kind: "free").count == 2)
        #expect(Self.rectangles(svg, kind: "held").count == 1)
        #expect(svg.contains("112 MiB free"))

        var older = map
        older.freeExtents = nil
        #expect(older.bytes(of: .free) == ByteCount(128 * Self.mib), "an older daemon: what no device holds")
        #expect(older.bytes(of: .held) == .zero)
    }

    @Test("many devices get distinct colours, none of them the free, held or bad colour")
    func distinctColours() {
        for count in [1, 12, 40, 255] {
            let colors = MapPalette.deviceColors(count: count)
            #expect(colors.count == count)
            #expect(Set(colors.map(\.hex)).count == count, "\(count) devices")
            #expect(!colors.contains(MapPalette.free) && !colors.contains(MapPalette.held))
            #expect(!colors.contains(MapPalette.badBlock))
        }
        let forty = MapPalette.deviceColors(count: 40)
        let closest = forty.indices.flatMap { first in
            forty.indices.filter { $0 > first }.map { forty[first].distance(to: forty[$0]) }
        }.min()
        #expect((closest ?? 0) >= 40, "forty colours keep apart: \(closest ?? 0)")

        let devices = (0..<40).map { index in
            MapDevice(chardev: "dax0.\(index)", ranges: [Self.extent(UInt64(index) * 4 * Self.mib, 4 * Self.mib)])
        }
        let map = RegionMap(
            id: 0, backend: "sim", size: ByteCount(160 * Self.mib), pageSize: ByteCount(2 * Self.mib),
            devices: devices, freeExtents: [])
        let svg = SVGMapRenderer().render([map])
        let fills = devices.map { Self.rectangles(svg, kind: "device", device: $0.chardev).first?["fill"] ?? "" }
        #expect(Set(fills).count == 40)
    }

    @Test("device names are escaped in the SVG: a name with <&\" cannot break out of text or attributes")
    func escaping() {
        let map = RegionMap(
            id: 3, backend: "shm", size: ByteCount(64 * Self.mib), pageSize: ByteCount(2 * Self.mib),
            devices: [MapDevice(chardev: "dax3.0\"x", name: "a<&\"b'>", ranges: [Self.extent(0, 48 * Self.mib)])],
            freeExtents: [Self.extent(48 * Self.mib, 16 * Self.mib)])
        let svg = SVGMapRenderer().render([map])
        #expect(svg.contains("a&lt;&amp;&quot;b&apos;&gt;"))
        #expect(!svg.contains("a<&"), "the raw name never appears")
        #expect(svg.contains("data-device=\"dax3.0&quot;x\""))
        #expect(MapText.xmlEscaped("x\u{1}y") == "x\u{FFFD}y", "XML 1.0 allows no control characters")
        // Every `<` left in the document opens a tag (or the declaration), every `&` an entity.
        let afterLessThan = svg.split(separator: "<").dropFirst().map { $0.first }
        #expect(afterLessThan.allSatisfy { $0 == "/" || $0 == "?" || ($0?.isLetter ?? false) })
        let entities = svg.split(separator: "&").dropFirst()
        let known = ["amp;", "lt;", "gt;", "quot;", "apos;"]
        #expect(entities.allSatisfy { entity in known.contains { entity.hasPrefix($0) } })

        let text = TerminalMapRenderer(width: 40, colors: false).render(
            RegionMap(
                id: 0, backend: "shm", size: ByteCount(8 * Self.mib), pageSize: ByteCount(2 * Self.mib),
                devices: [MapDevice(chardev: "dax0.0", name: "evil\u{1B}[2J", ranges: [Self.extent(0, 2 * Self.mib)])],
                freeExtents: []))
        #expect(!text.contains("\u{1B}"), "no terminal escape from a name in plain output")
    }

    @Test("a 4 KiB device in a 1 TiB region still shows: in a cell of its own and as a 2 px rectangle")
    func tinyDevices() throws {
        let tib: UInt64 = 1 << 40
        let map = RegionMap(
            id: 1, backend: "sim", size: ByteCount(tib), pageSize: ByteCount(1 << 30),
            devices: [
                MapDevice(chardev: "dax1.0", name: "big", ranges: [Self.extent(0, tib / 2)]),
                MapDevice(chardev: "dax1.1", name: "tiny", ranges: [Self.extent(tib / 2, 4096)]),
                MapDevice(chardev: "dax1.2", name: "tinier", ranges: [Self.extent(tib / 2 + 4096, 4096)]),
            ],
            freeExtents: [Self.extent(tib / 2 + 8192, tib / 2 - 8192)])
        let cells = map.cells(width: 78)
        #expect(cells.contains(.device(1)) && cells.contains(.device(2)), "\(cells)")
        #expect(cells.filter { $0 == .device(0) }.count == 39)
        for device in ["dax1.1", "dax1.2"] {
            let rect = try #require(
                Self.rectangles(SVGMapRenderer().render([map]), kind: "device", device: device).first)
            #expect(Double(rect["width"] ?? "") == SVGMapRenderer.minimumMarkWidth)
        }
        // 1 GiB pages of 1 TiB are too dense for 928 px (under 1 px apart): the grid marks the first power-of-two
        // multiple at least 8 px apart (16 GiB, 14.5 px) and says so.
        let grid = try #require(
            MapGrid.choose(
                size: map.size, pageSize: map.pageSize, length: 928, minimumSpacing: SVGMapRenderer.minimumGridSpacing))
        #expect(grid.step == ByteCount(16 << 30))
        #expect(grid.description == "a mark every 16 GiB (16 pages of 1 GiB)")
        #expect(SVGMapRenderer().render([map]).contains("grid  ·  a mark every 16 GiB (16 pages of 1 GiB)"))
        let roomy = try #require(
            MapGrid.choose(
                size: ByteCount(64 * Self.mib), pageSize: ByteCount(2 * Self.mib), length: 928,
                minimumSpacing: SVGMapRenderer.minimumGridSpacing))
        #expect(roomy.description == "a mark every 2 MiB page")
        #expect(roomy.marks(in: ByteCount(64 * Self.mib)).count == 31)
    }

    @Test("an empty region draws an outline and says so; a region without devices is one free bar; no regions say so")
    func emptyRegions() {
        let empty = RegionMap(
            id: 2, backend: "sim", size: .zero, pageSize: ByteCount(2 * Self.mib), devices: [], freeExtents: [])
        let svg = SVGMapRenderer().render([empty])
        #expect(svg.contains("empty region"))
        #expect(Self.rectangles(svg, kind: "device").isEmpty && Self.rectangles(svg, kind: "free").isEmpty)
        #expect(TerminalMapRenderer(width: 80, colors: false).render(empty).contains("[] (empty region)"))

        let unused = RegionMap(
            id: 0, backend: "shm", size: ByteCount(64 * Self.mib), pageSize: ByteCount(2 * Self.mib), devices: [],
            freeExtents: [Self.extent(0, 64 * Self.mib)])
        let text = TerminalMapRenderer(width: 42, colors: false).render(unused)
        #expect(text.split(separator: "\n").contains("[" + String(repeating: ".", count: 40) + "]"))
        #expect(text.contains("free  64 MiB  1 extent"))
        #expect(Self.rectangles(SVGMapRenderer().render([unused]), kind: "free").count == 1)
        #expect(SVGMapRenderer().render([]).contains("no regions"))
        #expect(TerminalMapRenderer(width: 80, colors: false).render([]) == "no regions\n")
    }

    @Test("the terminal bar gives each owner its share of the cells; with colours it uses block characters and ANSI")
    func terminalProportions() throws {
        let text = TerminalMapRenderer(width: 102, colors: false).render(Self.sample)
        let bar = try #require(text.split(separator: "\n").first { $0.hasPrefix("[") }).dropFirst().dropLast()
        #expect(bar.count == 100)
        #expect(bar.filter { $0 == "A" }.count == 25 && bar.filter { $0 == "B" }.count == 25)
        #expect(bar.filter { $0 == "." }.count == 44 && bar.filter { $0 == "#" }.count == 6)
        #expect(text.hasPrefix("region 0 (shm): 256 MiB in 2 MiB pages, 112 MiB free\n"))
        #expect(text.contains("grid: a mark every 8 MiB (4 pages of 2 MiB)"))

        let colored = TerminalMapRenderer(width: 102, colors: true).render(Self.sample)
        #expect(colored.contains("\u{1B}[38;2;78;121;167m" + String(repeating: "█", count: 25)))
        #expect(colored.contains("░") && !colored.contains("...."))
    }

    @Test("sizes and offsets read the short way")
    func sizes() {
        #expect(MapText.size(ByteCount(48 * Self.mib)) == "48 MiB")
        #expect(MapText.size(ByteCount(1 << 30)) == "1 GiB")
        #expect(MapText.size(ByteCount(3 << 29)) == "1.50 GiB")
        #expect(MapText.size(ByteCount(4096)) == "4 KiB")
        #expect(MapText.size(ByteCount(512)) == "512 B")
        #expect(MapText.range(Self.extent(0, 2 * Self.mib)) == "0x0-0x1fffff")
        #expect(MapText.number(596) == "596" && MapText.number(12.5) == "12.5" && MapText.number(0.125) == "0.13")
    }
}
