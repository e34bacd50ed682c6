/// Draws regions for a terminal: per region a title, a bar of cells, a ruler of grid marks, the offsets at its
/// ends, and a legend listing each device with its size and ranges, the free, held and bad memory and the grid step.
///
/// With `colors`, cells are block characters in the devices' colours (ANSI 24-bit escapes); without, plain
/// characters: a letter per device (its key in the legend), `.` free, `#` held, `!` bad.
public struct TerminalMapRenderer: Sendable {
    /// The columns the output may use (the bar is two less, between `[` and `]`).
    public var width: Int
    /// Whether to colour with ANSI escapes.
    public var colors: Bool

    /// The narrowest bar drawn, whatever `width` says.
    public static let minimumBarWidth = 8

    /// A renderer for `width` columns, with ANSI colours when `colors` is set.
    public init(width: Int, colors: Bool) {
        self.width = width
        self.colors = colors
    }

    /// The letters that stand for devices in plain output, in device order (repeated past the 62nd device).
    public static let deviceKeys: [Character] = Array(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")

    /// The bar's width in cells.
    public var barWidth: Int { max(width - 2, Self.minimumBarWidth) }

    /// The text for `maps`, one block per region separated by blank lines, ending in a newline.
    public func render(_ maps: [RegionMap]) -> String {
        guard !maps.isEmpty else { return "no regions\n" }
        return maps.map(render).joined(separator: "\n")
    }

    /// One region's block.
    public func render(_ map: RegionMap) -> String {
        let deviceColors = MapPalette.deviceColors(count: map.devices.count)
        var lines: [String] = [title(map)]
        let cells = map.cells(width: barWidth)
        if cells.isEmpty {
            lines.append("[] (empty region)")
        } else {
            lines.append("[" + bar(cells, colors: deviceColors) + "]")
            let grid = MapGrid.choose(
                size: map.size, pageSize: map.pageSize, length: Double(barWidth), minimumSpacing: 3)
            if let grid {
                var ruler = [Character](repeating: " ", count: barWidth)
                for mark in grid.marks(in: map.size) { ruler[map.cellIndex(of: mark, width: barWidth)] = "|" }
                let text = " " + String(ruler).trimmedTrailingSpaces
                lines.append(colors ? dim(text) : text)
            }
            let start = "0x0"
            let end = MapText.hex(map.size.rawValue)
            let gap = max(barWidth + 2 - start.count - end.count, 1)
            lines.append(start + String(repeating: " ", count: gap) + end)
            lines += legend(map, colors: deviceColors, grid: grid)
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `region 0 (shm): 256 MiB in 2 MiB pages, 120 MiB free`.
    func title(_ map: RegionMap) -> String {
        var text =
            "region \(map.id) (\(MapText.terminalSafe(map.backend))): \(MapText.size(map.size)) in "
            + "\(MapText.size(map.pageSize)) pages, \(MapText.size(map.bytes(of: .free))) free"
        if let condition = map.condition { text += ", \(MapText.terminalSafe(condition))" }
        return text
    }

    private func bar(_ cells: [MapCell], colors deviceColors: [MapColor]) -> String {
        guard colors else { return String(cells.map(plainCharacter)) }
        var text = ""
        var index = 0
        while index < cells.count {
            var run = index
            while run < cells.count, cells[run] == cells[index] { run += 1 }
            let (glyph, color) = coloredGlyph(cells[index], deviceColors)
            text += paint(String(repeating: glyph, count: run - index), color)
            index = run
        }
        return text
    }

    private func plainCharacter(_ cell: MapCell) -> Character {
        switch cell {
        case .device(let index): Self.deviceKeys[index % Self.deviceKeys.count]
        case .free: "."
        case .held: "#"
        case .badBlock: "!"
        }
    }

    /// Free memory shows as a light shade (a darker grey than the SVG's, to be seen on a white terminal).
    static let terminalFree = MapColor(red: 0xA8, green: 0xAD, blue: 0xB4)

    private func coloredGlyph(_ cell: MapCell, _ deviceColors: [MapColor]) -> (Character, MapColor) {
        switch cell {
        case .device(let index): ("█", deviceColors[index])
        case .free: ("░", Self.terminalFree)
        case .held: ("▓", MapPalette.held)
        case .badBlock: ("█", MapPalette.badBlock)
        }
    }

    private func legend(_ map: RegionMap, colors deviceColors: [MapColor], grid: MapGrid?) -> [String] {
        typealias Row = (key: String, label: String, size: String, detail: String)
        var rows: [Row] = []
        for (index, device) in map.devices.enumerated() {
            let key =
                colors ? paint("██", deviceColors[index]) : String(Self.deviceKeys[index % Self.deviceKeys.count])
            var label = MapText.terminalSafe(device.label)
            if let condition = device.condition { label += " (\(MapText.terminalSafe(condition)))" }
            rows.append((key, label, MapText.size(device.size), MapText.ranges(device.ranges)))
        }
        let segments = map.segments
        let freeExtents = segments.filter { $0.owner == .free }.count
        rows.append(
            (
                colors ? paint("░░", Self.terminalFree) : ".", "free", MapText.size(map.bytes(of: .free)),
                freeExtents == 1 ? "1 extent" : "\(freeExtents) extents"
            ))
        let held = map.bytes(of: .held)
        if held.rawValue > 0 {
            var detail = "other owners' devices, memory being scrubbed or created"
            if map.scrubbing.rawValue > 0 { detail += " (\(MapText.size(map.scrubbing)) being scrubbed)" }
            rows.append((colors ? paint("▓▓", MapPalette.held) : "#", "held, not listed", MapText.size(held), detail))
        }
        let bad = map.visibleBadBlocks
        if !bad.isEmpty {
            let bytes = ByteCount(bad.reduce(0) { $0 + $1.length.rawValue })
            rows.append(
                (
                    colors ? paint("██", MapPalette.badBlock) : "!", bad.count == 1 ? "bad block" : "bad blocks",
                    MapText.size(bytes), MapText.ranges(bad)
                ))
        }
        let labelWidth = rows.map(\.label.count).max() ?? 0
        let sizeWidth = rows.map(\.size.count).max() ?? 0
        var lines = rows.map { row in
            "  \(row.key) " + row.label + String(repeating: " ", count: labelWidth - row.label.count) + "  "
                + String(repeating: " ", count: sizeWidth - row.size.count) + row.size + "  " + row.detail
        }
        if let grid {
            lines.append("  " + (colors ? dim("╵╵") : "|") + " grid: " + grid.description)
        } else {
            lines.append(
                "  " + (colors ? "  " : " ")
                    + " grid: none (no \(MapText.size(map.pageSize)) page boundary inside the region)")
        }
        return lines.map(\.trimmedTrailingSpaces)
    }

    private func paint(_ text: String, _ color: MapColor) -> String {
        "\u{1B}[38;2;\(color.red);\(color.green);\(color.blue)m" + text + "\u{1B}[0m"
    }

    private func dim(_ text: String) -> String { "\u{1B}[2m" + text + "\u{1B}[0m" }
}

extension String {
    /// The string without the spaces at its end.
    fileprivate var trimmedTrailingSpaces: String {
        var text = self
        while text.last == " " { text.removeLast() }
        return text
    }
}
