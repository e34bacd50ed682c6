/// Draws regions as an SVG document: per region a title, a bar along its offset space (devices in distinct colours
/// with their names where they fit, free and held memory, bad blocks with a marker above them, grid marks at page
/// multiples), the offsets at its ends, and a legend listing each device with its size and ranges, the free, held
/// and bad memory and the grid step.
///
/// Each drawn stretch is a `rect` with a `class` (`device`, `free`, `held`, `badblock`; devices also carry
/// `data-device="daxR.N"`) and a `title` that names it.
public struct SVGMapRenderer: Sendable {
    /// The picture's width in pixels.
    public var width: Int

    /// The narrowest picture drawn, whatever `width` says.
    public static let minimumWidth = 240
    /// The narrowest a device, held stretch or bad block is drawn, in pixels, however small it is.
    public static let minimumMarkWidth = 2.0
    /// The closest two grid marks are drawn, in pixels; denser page boundaries are marked at a multiple.
    public static let minimumGridSpacing = 8.0
    /// Devices drawn narrower than this in all, in pixels, also get a marker above the bar.
    public static let markedWidth = 6.0

    static let margin = 16.0
    static let barHeight = 48.0
    static let rowHeight = 20.0
    static let font = "DejaVu Sans, Verdana, Arial, sans-serif"

    /// A renderer for pictures `width` pixels wide (960 unless given; never less than `minimumWidth`).
    public init(width: Int = 960) {
        self.width = width
    }

    /// The picture's width after the minimum is applied.
    public var pictureWidth: Int { max(width, Self.minimumWidth) }

    /// The bar's length in pixels.
    public var barWidth: Double { Double(pictureWidth) - 2 * Self.margin }

    /// The SVG document for `maps`.
    public func render(_ maps: [RegionMap]) -> String {
        var body: [String] = []
        var top = Self.margin
        if maps.isEmpty {
            body.append(text("no regions", x: Self.margin, y: top + 16, size: 15, weight: "bold"))
            top += 32
        }
        for map in maps {
            let (lines, height) = region(map, top: top)
            body += lines
            top += height
        }
        let height = Int(top.rounded(.up))
        return """
            <?xml version="1.0" encoding="UTF-8"?>
            <svg xmlns="http://www.w3.org/2000/svg" width="\(pictureWidth)" height="\(height)" \
            viewBox="0 0 \(pictureWidth) \(height)" font-family="\(Self.font)">
            <title>daxpool map</title>
            <rect class="background" x="0" y="0" width="\(pictureWidth)" height="\(height)" fill="#ffffff"/>

            """ + body.joined(separator: "\n") + "\n</svg>\n"
    }

    /// One region's drawing starting at `top`, and its height.
    func region(_ map: RegionMap, top: Double) -> (lines: [String], height: Double) {
        let deviceColors = MapPalette.deviceColors(count: map.devices.count)
        let left = Self.margin
        let barTop = top + 34
        let barBottom = barTop + Self.barHeight
        var lines = ["<g class=\"region\" data-region=\"\(map.id)\">"]
        lines.append(text(title(map), x: left, y: top + 16, size: 15, weight: "bold"))
        guard map.size.rawValue > 0 else {
            lines.append(
                rectangle(
                    "outline", x: left, y: barTop, width: barWidth, height: Self.barHeight, fill: nil))
            lines.append(text("empty region", x: left + barWidth / 2, y: barTop + 29, size: 13, anchor: "middle"))
            lines.append("</g>")
            return (lines, barBottom - top + 24)
        }
        let segments = map.segments
        // Free first, then held, then devices: small stretches widened to the minimum lie on top of free memory.
        let order: [(MapOwner) -> Bool] = [
            { $0 == .free }, { $0 == .held },
            {
                if case .device = $0 { return true }
                return false
            },
        ]
        for belongs in order {
            for segment in segments where belongs(segment.owner) {
                lines.append(drawn(segment, in: map, colors: deviceColors, top: barTop))
            }
        }
        for segment in segments {
            guard case .device(let index) = segment.owner else { continue }
            let (x, width) = span(segment.extent, in: map, widen: false)
            let device = map.devices[index]
            let candidates = [device.label, device.name, device.chardev].compactMap { $0 }
            guard let label = candidates.first(where: { Self.estimatedWidth($0, size: 12) <= width - 8 }) else {
                continue
            }
            lines.append(
                text(
                    label, x: x + width / 2, y: barTop + Self.barHeight / 2 + 8, size: 12, anchor: "middle",
                    fill: deviceColors[index].textColor))
        }
        // A device narrower than a few pixels in all gets a marker in its colour above each of its ranges.
        for (index, device) in map.devices.enumerated() {
            let drawnWidth = device.ranges.reduce(0.0) { $0 + span($1, in: map, widen: false).width }
            guard drawnWidth < Self.markedWidth else { continue }
            for range in device.ranges where range.length.rawValue > 0 && range.start < RegionOffset(map.size.rawValue)
            {
                let (x, width) = span(range, in: map, widen: true)
                lines.append(
                    marker(
                        "device-marker", at: x + width / 2, top: barTop, fill: deviceColors[index], title: device.label)
                )
            }
        }
        for bad in map.visibleBadBlocks {
            let (x, width) = span(bad, in: map, widen: true)
            let title = "bad block \(MapText.range(bad)) (\(MapText.size(bad.length)))"
            lines.append(
                rectangle(
                    "badblock", x: x, y: barTop, width: width, height: Self.barHeight, fill: MapPalette.badBlock,
                    title: title))
            lines.append(
                marker("badblock-marker", at: x + width / 2, top: barTop, fill: MapPalette.badBlock, title: title))
        }
        let grid = MapGrid.choose(
            size: map.size, pageSize: map.pageSize, length: barWidth, minimumSpacing: Self.minimumGridSpacing)
        if let grid {
            var path = ""
            for mark in grid.marks(in: map.size) {
                let x = left + Double(mark) / Double(map.size.rawValue) * barWidth
                path += "M\(n(x)) \(n(barBottom - 7))V\(n(barBottom + 4))"
            }
            lines.append(
                "<path class=\"grid\" d=\"\(path)\" stroke=\"\(MapPalette.ink.hex)\" stroke-opacity=\"0.45\" "
                    + "stroke-width=\"1\" fill=\"none\"/>")
        }
        lines.append(rectangle("outline", x: left, y: barTop, width: barWidth, height: Self.barHeight, fill: nil))
        lines.append(text("0x0", x: left, y: barBottom + 17, size: 11, fill: MapPalette.ink))
        lines.append(
            text(
                MapText.hex(map.size.rawValue), x: left + barWidth, y: barBottom + 17, size: 11, anchor: "end",
                fill: MapPalette.ink))
        // The quarters' offsets too, where the bar is long enough for them to read apart.
        if barWidth >= 480 {
            for quarter in 1...3 {
                let offset = map.size.rawValue / 4 * UInt64(quarter)
                lines.append(
                    text(
                        MapText.hex(offset), x: left + barWidth * Double(quarter) / 4, y: barBottom + 17, size: 11,
                        anchor: "middle", fill: MapPalette.ink))
            }
        }
        var rowY = barBottom + 42
        for row in legend(map, colors: deviceColors, grid: grid) {
            if let swatch = row.swatch {
                lines.append(
                    rectangle(
                        "swatch", x: left, y: rowY - 11, width: 14, height: 14, fill: swatch, stroke: MapPalette.held))
            } else {
                lines.append(
                    "<path class=\"swatch\" d=\"M\(n(left + 7)) \(n(rowY - 12))V\(n(rowY + 4))\" "
                        + "stroke=\"\(MapPalette.ink.hex)\" stroke-opacity=\"0.6\" stroke-width=\"1\"/>")
            }
            lines.append(text(row.text, x: left + 22, y: rowY, size: 12.5))
            rowY += Self.rowHeight
        }
        lines.append("</g>")
        return (lines, rowY - top + 8)
    }

    /// `region 0 (shm): 256 MiB in 2 MiB pages, 120 MiB free`.
    func title(_ map: RegionMap) -> String {
        var text =
            "region \(map.id) (\(map.backend)): \(MapText.size(map.size)) in \(MapText.size(map.pageSize)) pages, "
            + "\(MapText.size(map.bytes(of: .free))) free"
        if let condition = map.condition { text += ", \(condition)" }
        return text
    }

    /// The legend's rows: a swatch (`nil` for the grid's mark) and a line of text.
    func legend(_ map: RegionMap, colors: [MapColor], grid: MapGrid?) -> [(swatch: MapColor?, text: String)] {
        var rows: [(swatch: MapColor?, text: String)] = []
        for (index, device) in map.devices.enumerated() {
            var label = device.label
            if let condition = device.condition { label += " (\(condition))" }
            rows.append(
                (colors[index], "\(label)  ·  \(MapText.size(device.size))  ·  \(MapText.ranges(device.ranges))"))
        }
        let freeCount = map.segments.filter { $0.owner == .free }.count
        rows.append(
            (
                MapPalette.free,
                "free  ·  \(MapText.size(map.bytes(of: .free)))  ·  \(freeCount == 1 ? "1 extent" : "\(freeCount) extents")"
            ))
        let held = map.bytes(of: .held)
        if held.rawValue > 0 {
            var text =
                "held, not listed  ·  \(MapText.size(held))  ·  other owners' devices, memory being scrubbed or "
                + "created"
            if map.scrubbing.rawValue > 0 { text += " (\(MapText.size(map.scrubbing)) being scrubbed)" }
            rows.append((MapPalette.held, text))
        }
        let bad = map.visibleBadBlocks
        if !bad.isEmpty {
            let bytes = ByteCount(bad.reduce(0) { $0 + $1.length.rawValue })
            rows.append(
                (
                    MapPalette.badBlock,
                    "\(bad.count == 1 ? "bad block" : "\(bad.count) bad blocks")  ·  \(MapText.size(bytes))  ·  "
                        + MapText.ranges(bad)
                ))
        }
        rows.append(
            (nil, grid.map { "grid  ·  \($0.description)" } ?? "grid  ·  none (no page boundary inside the region)"))
        return rows
    }

    /// A segment's rectangle.
    private func drawn(_ segment: MapSegment, in map: RegionMap, colors: [MapColor], top: Double) -> String {
        let range = "\(MapText.range(segment.extent)) (\(MapText.size(segment.extent.length)))"
        switch segment.owner {
        case .free:
            let (x, width) = span(segment.extent, in: map, widen: false)
            return rectangle(
                "free", x: x, y: top, width: width, height: Self.barHeight, fill: MapPalette.free,
                title: "free \(range)")
        case .held:
            let (x, width) = span(segment.extent, in: map, widen: true)
            return rectangle(
                "held", x: x, y: top, width: width, height: Self.barHeight, fill: MapPalette.held,
                title: "held, not listed \(range)")
        case .badBlock:
            // Drawn with every bad block, on top of the rest.
            return ""
        case .device(let index):
            let (x, width) = span(segment.extent, in: map, widen: true)
            let device = map.devices[index]
            return rectangle(
                "device", x: x, y: top, width: width, height: Self.barHeight, fill: colors[index],
                title: "\(device.label) \(range)", device: device.chardev)
        }
    }

    /// A triangle pointing down at `middle` just above the bar, outlined so that light colours show.
    private func marker(_ kind: String, at middle: Double, top: Double, fill: MapColor, title: String) -> String {
        "<polygon class=\"\(kind)\" points=\"\(n(middle - 5)),\(n(top - 11)) \(n(middle + 5)),\(n(top - 11)) "
            + "\(n(middle)),\(n(top - 2))\" fill=\"\(fill.hex)\" stroke=\"\(MapPalette.ink.hex)\" stroke-width=\"0.5\">"
            + "<title>\(MapText.xmlEscaped(title))</title></polygon>"
    }

    /// Where `extent` lies on the bar: its left edge and width in pixels, widened to `minimumMarkWidth` (and kept
    /// inside the bar) when `widen`.
    func span(_ extent: Extent, in map: RegionMap, widen: Bool) -> (x: Double, width: Double) {
        let size = Double(map.size.rawValue)
        var x = Self.margin + Double(extent.start.rawValue) / size * barWidth
        var width = Double(extent.length.rawValue) / size * barWidth
        if widen, width < Self.minimumMarkWidth {
            x -= (Self.minimumMarkWidth - width) / 2
            width = Self.minimumMarkWidth
            x = min(max(x, Self.margin), Self.margin + barWidth - width)
        }
        return (x, width)
    }

    /// About how wide `text` is in pixels at font `size` (a sans-serif average of 0.62 em per character).
    static func estimatedWidth(_ text: String, size: Double) -> Double { Double(text.count) * size * 0.62 }

    private func rectangle(
        _ kind: String, x: Double, y: Double, width: Double, height: Double, fill: MapColor?,
        stroke: MapColor? = nil, title: String? = nil, device: String? = nil
    ) -> String {
        var element = "<rect class=\"\(kind)\""
        if let device { element += " data-device=\"\(MapText.xmlEscaped(device))\"" }
        element += " x=\"\(n(x))\" y=\"\(n(y))\" width=\"\(n(width))\" height=\"\(n(height))\""
        if let fill {
            element += " fill=\"\(fill.hex)\""
        } else {
            element += " fill=\"none\" stroke=\"\(MapPalette.ink.hex)\" stroke-width=\"1\""
        }
        if let stroke { element += " stroke=\"\(stroke.hex)\" stroke-width=\"1\"" }
        guard let title else { return element + "/>" }
        return element + "><title>\(MapText.xmlEscaped(title))</title></rect>"
    }

    private func text(
        _ content: String, x: Double, y: Double, size: Double, weight: String? = nil, anchor: String? = nil,
        fill: MapColor = .black
    ) -> String {
        var element = "<text x=\"\(n(x))\" y=\"\(n(y))\" font-size=\"\(n(size))\" fill=\"\(fill.hex)\""
        if let weight { element += " font-weight=\"\(weight)\"" }
        if let anchor { element += " text-anchor=\"\(anchor)\"" }
        return element + ">\(MapText.xmlEscaped(content))</text>"
    }

    private func n(_ value: Double) -> String { MapText.number(value) }
}
