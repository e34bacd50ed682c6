import Foundation
import Testing

/// `daxpool map` against a live daemon: the terminal bar without a terminal, and the SVG as a real browser draws it.
@Suite("map command", .timeLimit(.minutes(20)), .serialized)
struct MapCommandTests {
    static let mib = 1 << 20

    /// Chromium from Debian's package (`apt-get install chromium`), if it is installed.
    static var chromium: String? {
        ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Region 0 (256 MiB of shm): `vm1` at [0, 64M); `vm2` discontiguous at [64M, 96M) and [160M, 192M) (made from
    /// a `list -M` style layout); a bad block at 200M in free memory; free [96M, 160M) and the rest of [192M, 256M).
    static func populate(_ daemon: DaemonHarness) throws {
        let first = daemon.cli(["create-device", "-s", "64M", "--name", "vm1", "--progress", "none"])
        guard first.status == 0 else { throw HarnessError("create vm1: \(first.stderr)") }
        let layout = "\(daemon.root)/vm2.json"
        let mappings = [(64, 32), (160, 32)].enumerated().map { index, range in
            let (start, length) = (range.0 * mib, range.1 * mib)
            return "{\"page_offset\":\(index * 32 * mib / 4096),\"start\":\(start),\"end\":\(start + length - 1)}"
        }
        let document = "{\"size\":\(64 * mib),\"align\":\(2 * mib),\"mappings\":[\(mappings.joined(separator: ","))]}"
        try Data(document.utf8).write(to: URL(fileURLWithPath: layout))
        let second = daemon.cli(["create-device", "--input", layout, "--name", "vm2", "--progress", "none"])
        guard second.status == 0 else { throw HarnessError("create vm2: \(second.stderr)") }
        let bad = daemon.cli(["inject-error", "-r", "0", "--region-offset", "200M"])
        guard bad.status == 0 else { throw HarnessError("inject-error: \(bad.stderr)") }
    }

    @Test("map without a terminal prints a plain bar in which each device and the free memory have their share")
    func plainTerminal() throws {
        let daemon = try DaemonHarness()
        try daemon.start(defaultRegionSize: "256M")
        defer { daemon.stop() }
        try Self.populate(daemon)
        let result = daemon.cli(["map", "-r", "0", "--width", "66"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(!result.stdout.contains("\u{1B}"), "no colour escapes on a pipe")
        let lines = result.stdout.split(separator: "\n")
        let bar = try #require(lines.first { $0.hasPrefix("[") }).dropFirst().dropLast()
        // 64 cells of 4 MiB each: vm1 16, vm2 8 + 8, the bad block one, free the other 31.
        #expect(bar.count == 64)
        #expect(bar.filter { $0 == "A" }.count == 16, "\(bar)")
        #expect(bar.filter { $0 == "B" }.count == 16, "\(bar)")
        #expect(bar.filter { $0 == "!" }.count == 1, "\(bar)")
        #expect(bar.filter { $0 == "." }.count == 31, "\(bar)")
        #expect(bar.hasPrefix(String(repeating: "A", count: 16) + String(repeating: "B", count: 8) + "."))
        #expect(lines.first?.hasPrefix("region 0 (shm): 256 MiB in ") == true)
        #expect(lines.contains { $0.contains("A dax0.0 vm1") && $0.contains("64 MiB  0x0-0x3ffffff") })
        #expect(
            lines.contains { $0.contains("B dax0.1 vm2") && $0.contains("0x4000000-0x5ffffff, 0xa000000-0xbffffff") })
        #expect(lines.contains { $0.contains("! bad block") && $0.contains("0xc800000-0xc800fff") })

        let environment = daemon.cli(
            ["map", "-r", "0"], launcher: ["/usr/bin/env", "COLUMNS=42", DaemonHarness.binary])
        let narrow = try #require(environment.stdout.split(separator: "\n").first { $0.hasPrefix("[") })
        #expect(narrow.count == 42, "$COLUMNS sets the width: \(narrow)")
        let missing = daemon.cli(["map", "-r", "7"])
        #expect(missing.status != 0 && (try? missing.error()["code"] as? String) == "not_found")
    }

    @Test(
        "a tenant's map shows other owners' devices as held memory, without their names or ranges",
        .enabled(if: runningAsRoot, "needs root: the tenant runs the CLI as uid 4242 with setpriv")
    )
    func tenantView() throws {
        let daemon = try DaemonHarness()
        let config = daemon.root + "/config.json"
        let document = #"{"device_creators": {"users": [4242]}, "socket": {"group": 4300, "mode": "0660"}}"#
        try Data(document.utf8).write(to: URL(fileURLWithPath: config))
        try daemon.start(defaultRegionSize: "256M", extra: ["--config", config])
        defer { daemon.stop() }
        let secret = daemon.cli(["create-device", "-s", "64M", "--name", "secret-vm", "--progress", "none"])
        #expect(secret.status == 0, "\(secret.stderr)")
        let mine = daemon.cli(
            as: 4242, gid: 4300, ["create-device", "-s", "16M", "--name", "mine", "--progress", "none"])
        #expect(mine.status == 0, "\(mine.stderr)")
        let view = daemon.cli(as: 4242, gid: 4300, ["map", "-w", "66"])
        #expect(view.status == 0, "\(view.stderr)")
        let bar = try #require(view.stdout.split(separator: "\n").first { $0.hasPrefix("[") })
        #expect(bar.hasPrefix("[" + String(repeating: "#", count: 16) + "AAAA."), "\(bar)")
        #expect(!view.stdout.contains("secret") && !view.stdout.contains("dax0.0"), "\(view.stdout)")
        #expect(view.stdout.contains("# held, not listed   64 MiB  other owners' devices"), "\(view.stdout)")
        let svg = daemon.cli(as: 4242, gid: 4300, ["map", "--svg", "-"])
        #expect(svg.status == 0 && svg.stdout.contains("class=\"held\""), "\(svg.stderr)")
        #expect(!svg.stdout.contains("secret") && !svg.stdout.contains("dax0.0"))
    }

    @Test(
        "map --svg draws devices, free memory and bad blocks in their colours as headless Chromium renders the picture",
        .enabled(if: MapCommandTests.chromium != nil, "needs chromium (apt-get install chromium) to render the SVG")
    )
    func svgInBrowser() throws {
        let browser = try #require(Self.chromium)
        let daemon = try DaemonHarness()
        try daemon.start(defaultRegionSize: "256M")
        defer { daemon.stop() }
        try Self.populate(daemon)
        let svgPath = "\(daemon.root)/map.svg"
        let written = daemon.cli(["map", "--svg", svgPath, "--width", "800"])
        #expect(written.status == 0, "\(written.stderr)")
        #expect((try written.json() as? [String: Any])?["svg"] as? String == svgPath)
        let svg = try String(contentsOfFile: svgPath, encoding: .utf8)

        let vm1 = try #require(Self.rectangles(svg, kind: "device", device: "dax0.0").first)
        let vm2 = Self.rectangles(svg, kind: "device", device: "dax0.1")
        #expect(vm2.count == 2, "the discontiguous device is drawn at both its ranges")
        let free = try #require(Self.rectangles(svg, kind: "free").max { $0.width < $1.width })
        let bad = try #require(Self.rectangles(svg, kind: "badblock").first)
        #expect(vm1.fill != vm2.first?.fill && vm1.fill != free.fill)

        let width = try #require(Self.attribute("width", of: "svg", in: svg).flatMap { Int($0) })
        let height = try #require(Self.attribute("height", of: "svg", in: svg).flatMap { Int($0) })
        let png = "\(daemon.root)/map.png"
        let shot = daemon.cli(
            [
                "60", browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                "--force-device-scale-factor=1", "--user-data-dir=\(daemon.root)/chromium",
                "--screenshot=\(png)", "--window-size=\(width),\(height)", "file://\(svgPath)",
            ], launcher: ["/usr/bin/timeout"])
        #expect(FileManager.default.fileExists(atPath: png), "chromium wrote no screenshot: \(shot.stderr)")
        if let keep = ProcessInfo.processInfo.environment["DAXPOOL_MAP_SCREENSHOT"], !keep.isEmpty {
            try? FileManager.default.removeItem(atPath: keep)
            try FileManager.default.copyItem(atPath: png, toPath: keep)
        }

        // Sample each stretch in its middle, 8 px below the bar's top: clear of the names and of the grid marks.
        let probes = [vm1] + vm2 + [free, bad]
        let points = probes.map { (x: Int($0.x + $0.width / 2), y: Int($0.y) + 8) }
        let pixels = try Self.pixels(png: png, at: points, root: daemon.root)
        #expect(pixels.count == probes.count)
        for (probe, pixel) in zip(probes, pixels) {
            #expect(
                Self.close(pixel, probe.fill),
                "\(probe.kind) \(probe.device ?? "") at \(points) is \(pixel), drawn as \(probe.fill)")
        }
    }

    /// A drawn stretch: its class, device and geometry.
    struct Rectangle {
        var kind: String
        var device: String?
        var x: Double
        var y: Double
        var width: Double
        var fill: String
    }

    /// The `rect` elements of class `kind` (and device `device`) in `svg`.
    static func rectangles(_ svg: String, kind: String, device: String? = nil) -> [Rectangle] {
        svg.components(separatedBy: "<rect ").dropFirst().compactMap { chunk in
            let tag = "<rect " + (chunk.components(separatedBy: ">").first ?? "")
            func value(_ name: String) -> String? { attribute(name, of: "rect", in: tag) }
            guard value("class") == kind, device == nil || value("data-device") == device,
                let x = value("x").flatMap(Double.init), let y = value("y").flatMap(Double.init),
                let width = value("width").flatMap(Double.init), let fill = value("fill")
            else { return nil }
            return Rectangle(kind: kind, device: value("data-device"), x: x, y: y, width: width, fill: fill)
        }
    }

    /// The value of attribute `name` in the first `element` tag of `text`.
    static func attribute(_ name: String, of element: String, in text: String) -> String? {
        guard let open = text.range(of: "<\(element) ") else { return nil }
        let tag = text[open.upperBound...].prefix { $0 != ">" }
        guard
            let start = tag.range(of: " \(name)=\"")
                ?? (tag.hasPrefix("\(name)=\"") ? tag.range(of: "\(name)=\"") : nil)
        else { return nil }
        return String(tag[start.upperBound...].prefix { $0 != "\"" })
    }

    /// Whether `pixel` (r, g, b) is `hex` (`#rrggbb`), within a few levels for the renderer's rounding.
    static func close(_ pixel: [Int], _ hex: String) -> Bool {
        guard hex.count == 7, let value = Int(hex.dropFirst(), radix: 16), pixel.count == 3 else { return false }
        let expected = [(value >> 16) & 0xFF, (value >> 8) & 0xFF, value & 0xFF]
        return zip(pixel, expected).allSatisfy { abs($0 - $1) <= 4 }
    }

    /// The RGB of `png` at `points`, decoded by Python's zlib (the PNG filters by hand: no imaging library).
    static func pixels(png: String, at points: [(x: Int, y: Int)], root: String) throws -> [[Int]] {
        let script = "\(root)/png-pixels.py"
        try Data(pngReader.utf8).write(to: URL(fileURLWithPath: script))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [script, png] + points.map { "\($0.x),\($0.y)" }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let (output, errors) = DaemonHarness.drain(
            out.fileHandleForReading.fileDescriptor, err.fileHandleForReading.fileDescriptor)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw HarnessError("png-pixels.py: \(String(decoding: errors, as: UTF8.self))")
        }
        return String(decoding: output, as: UTF8.self).split(separator: "\n").map { line in
            line.split(separator: " ").compactMap { Int($0) }
        }
    }

    /// Prints `r g b` for each `x,y` argument of a non-interlaced 8-bit RGB or RGBA PNG.
    static let pngReader = #"""
        import struct, sys, zlib
        data = open(sys.argv[1], "rb").read()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
        pos, idat = 8, b""
        while pos < len(data):
            length, kind = struct.unpack(">I4s", data[pos:pos + 8])
            body = data[pos + 8:pos + 8 + length]
            if kind == b"IHDR":
                width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            elif kind == b"IDAT":
                idat += body
            pos += 12 + length
        assert depth == 8 and color in (2, 6) and interlace == 0, (depth, color, interlace)
        channels = 3 if color == 2 else 4
        stride = width * channels
        raw = zlib.decompress(idat)
        rows, previous = [], bytearray(stride)
        for y in range(height):
            kind = raw[y * (stride + 1)]
            row = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
            for i in range(stride):
                left = row[i - channels] if i >= channels else 0
                up = previous[i]
                corner = previous[i - channels] if i >= channels else 0
                if kind == 1:
                    row[i] = (row[i] + left) & 0xFF
                elif kind == 2:
                    row[i] = (row[i] + up) & 0xFF
                elif kind == 3:
                    row[i] = (row[i] + (left + up) // 2) & 0xFF
                elif kind == 4:
                    p = left + up - corner
                    pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                    predictor = left if pa <= pb and pa <= pc else (up if pb <= pc else corner)
                    row[i] = (row[i] + predictor) & 0xFF
            rows.append(row)
            previous = row
        for point in sys.argv[2:]:
            x, y = (int(v) for v in point.split(","))
            pixel = rows[y][x * channels:x * channels + 3]
            print(pixel[0], pixel[1], pixel[2])
        """#
}
