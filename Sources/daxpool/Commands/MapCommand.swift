import ArgumentParser
import DaxPoolAPI
import DaxPoolClient
import DaxPoolCore
import DaxPoolSystem

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// `daxpool map`: a picture of each region's offset space, on the terminal or as an SVG file.
struct MapCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "map",
        abstract: "Draw each region's devices, free memory and bad blocks along its offsets.",
        discussion: """
            Without --svg, one bar per region on the terminal: block characters in colour when standard output is a \
            terminal (and NO_COLOR is unset), otherwise a letter per device, '.' free, '#' held by what you may not \
            see (other owners' devices, memory being scrubbed or created), '!' bad; under it the grid marks, and a \
            legend listing each device with its size and ranges. The width is --width, else $COLUMNS, else 80.
            With --svg FILE ('-' for standard output), the same as an SVG picture --width pixels wide (default 960).
            """
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(name: [.customShort("r"), .long], help: "Only this region id.")
    var region: Int?

    @Option(name: .long, help: "Write an SVG picture to this file ('-' for standard output).")
    var svg: String?

    @Option(name: [.customShort("w"), .long], help: "Columns on the terminal, or pixels with --svg.")
    var width: Int?

    func validate() throws {
        if let region, region < 0 { throw ValidationError("-r takes a region id, not \(region)") }
        if let width, width < 1 { throw ValidationError("--width must be at least 1, not \(width)") }
        if let svg, svg.isEmpty { throw ValidationError("--svg takes a file name, or '-' for standard output") }
    }

    func run() throws {
        let client = connection.client()
        var regions = try client.regions()
        if let region {
            regions = regions.filter { $0.id == region }
            if regions.isEmpty {
                // Ask for the region itself: the daemon answers 404 `not_found` (or the region, made meanwhile).
                regions = [try client.region(region)]
            }
        }
        let maps = try regions.map(Self.map)
        guard let svg else {
            let renderer = TerminalMapRenderer(width: width ?? Self.terminalColumns, colors: Self.colorsWanted)
            Swift.print(renderer.render(maps), terminator: "")
            return
        }
        let document = SVGMapRenderer(width: width ?? 960).render(maps)
        if svg == "-" {
            Swift.print(document, terminator: "")
            return
        }
        do {
            try Data(document.utf8).write(to: URL(fileURLWithPath: svg), options: .atomic)
        } catch {
            throw ErrorBody(code: .ioError, message: "cannot write the map to '\(svg)': \(error)")
        }
        try Output.print(Written(regions: regions.map(\.id), svg: svg))
    }

    /// What `map --svg FILE` prints: the regions drawn and the file.
    private struct Written: Encodable {
        var regions: [Int]
        var svg: String
    }

    /// The map of a region as the daemon lists it: device ranges at their region offsets (`offset`, which a
    /// devdax mapping carries beside its physical `start`), the free extents, the bad blocks.
    static func map(_ info: RegionInfo) throws -> RegionMap {
        let devices = try (info.devices ?? []).map { device in
            let mappings = (device.mappings ?? []).sorted { $0.pageOffset < $1.pageOffset }
            if info.backend == .devdax, mappings.contains(where: { $0.offset == nil && $0.start >= info.size }) {
                throw ErrorBody(
                    code: .unsupported,
                    message:
                        "the daemon lists \(device.chardev)'s ranges by physical address only: a daemon as new as this "
                        + "command adds their region offsets")
            }
            return MapDevice(
                chardev: device.chardev,
                name: device.name,
                ranges: mappings.map { Extent(start: RegionOffset($0.regionOffset), length: ByteCount($0.size)) },
                condition: device.state == .enabled ? nil : device.state.rawValue
            )
        }
        return RegionMap(
            id: info.id,
            backend: info.backend.rawValue,
            size: ByteCount(info.size),
            pageSize: ByteCount(info.pageSize),
            devices: devices,
            freeExtents: info.freeExtents?.map { Extent(start: RegionOffset($0.offset), length: ByteCount($0.length)) },
            badBlocks: info.badblocks.map { Extent(start: RegionOffset($0.offset), length: ByteCount($0.length)) },
            scrubbing: ByteCount(info.pendingScrubSize ?? 0),
            condition: info.state
        )
    }

    /// `$COLUMNS` when it is a number, else 80.
    static var terminalColumns: Int {
        DefaultPaths.environment("COLUMNS").flatMap { Int($0) }.flatMap { $0 > 0 ? $0 : nil } ?? 80
    }

    /// Colours when standard output is a terminal, `NO_COLOR` is unset and `TERM` is not `dumb`.
    static var colorsWanted: Bool {
        Syscall.isTerminal(1) && DefaultPaths.environment("NO_COLOR") == nil
            && DefaultPaths.environment("TERM") != "dumb"
    }
}
