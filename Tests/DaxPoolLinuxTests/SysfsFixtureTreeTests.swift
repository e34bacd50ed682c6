import DaxPoolLinux
import Foundation
import Glibc
import SystemPackage
import Testing

/// A writable directory laid out like `/sys`, built from attribute listings captured from the real kernel
/// (`Fixtures/`, format `name mode value`, `name -> .../target`, `name/`). Listing headers name paths as the capture
/// saw them (`/sys/bus/dax/devices/dax0.1//mapping0`, `.../dax0.0/../dax_region`); `devices` maps each bus link to
/// the canonical directory it resolves to, and the tree gets the same links.
struct SysfsFixtureTree {
    /// The directory standing for `/sys`.
    let root: String

    /// The `Fixtures` directory next to this file.
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    /// - Parameters:
    ///   - listings: fixture files relative to `Fixtures/`.
    ///   - devices: bus link (`bus/dax/devices/dax0.1`) -> canonical directory (`devices/platform/hmem.0/dax0.1`).
    init(listings: [String], devices: [String: String]) throws {
        root = try Scratch.makeDirectory(under: "/tmp")
        for (link, target) in devices {
            try makeDirectory(target)
            try makeLink(link, to: target)
        }
        for listing in listings {
            let text = try String(contentsOf: Self.fixtures.appendingPathComponent(listing), encoding: .utf8)
            var directory: String?
            for line in text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
                if line.hasPrefix("# /sys/") {
                    directory = canonical(String(line.dropFirst("# /sys/".count)), devices: devices)
                    if let directory { try makeDirectory(directory) }
                    continue
                }
                guard let directory, !line.isEmpty, !line.hasPrefix("#") else {
                    if line.isEmpty { directory = nil }
                    continue
                }
                try add(line, in: directory)
            }
        }
    }

    func remove() { Scratch.remove(root) }

    /// The content of a file in the tree.
    func contents(_ path: String) throws -> String {
        try String(contentsOfFile: "\(root)/\(path)", encoding: .utf8)
    }

    /// Replaces a file's content (setting up a scenario).
    func set(_ path: String, _ value: String) throws {
        try makeDirectory((path as NSString).deletingLastPathComponent)
        try Data(value.utf8).write(to: URL(fileURLWithPath: "\(root)/\(path)"))
    }

    // MARK: - Building

    /// One listing line inside `directory`.
    private func add(_ line: String, in directory: String) throws {
        if line.hasSuffix("/") {
            try makeDirectory("\(directory)/\(line.dropLast())")
            return
        }
        if let arrow = line.range(of: " -> .../") {
            let name = String(line[..<arrow.lowerBound])
            let target = String(line[arrow.upperBound...])
            try makeDirectory(target)
            try makeLink("\(directory)/\(name)", to: target)
            return
        }
        let fields = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
        guard fields.count >= 2 else { return }
        let value = fields.count == 3 ? fields[2] : ""
        if value.hasPrefix("cat: read error") { return }  // ENXIO on an unbound nd seed: leave the attribute out
        let content = value == "<not readable>" ? "" : value.replacingOccurrences(of: "|", with: "\n") + "\n"
        try set("\(directory)/\(fields[0])", content.trimmingCharacters(in: .whitespaces) == "" ? "\n" : content)
    }

    /// `bus/dax/devices/dax0.1//mapping0` -> `devices/platform/hmem.0/dax0.1/mapping0`, resolving `..`.
    private func canonical(_ header: String, devices: [String: String]) -> String {
        var components = header.split(separator: "/").map(String.init)
        for (link, target) in devices {
            let linkComponents = link.split(separator: "/").map(String.init)
            if components.starts(with: linkComponents) {
                components = target.split(separator: "/").map(String.init) + components.dropFirst(linkComponents.count)
                break
            }
        }
        var result: [String] = []
        for component in components {
            if component == ".." { result.removeLast() } else if component != "." { result.append(component) }
        }
        return result.joined(separator: "/")
    }

    private func makeDirectory(_ path: String) throws {
        try FileManager.default.createDirectory(atPath: "\(root)/\(path)", withIntermediateDirectories: true)
    }

    /// A relative symbolic link at `link` to `target`, both relative to the root, as sysfs makes them.
    private func makeLink(_ link: String, to target: String) throws {
        let linkDirectory = (link as NSString).deletingLastPathComponent
        try makeDirectory(linkDirectory)
        let depth = linkDirectory.split(separator: "/").count
        let relative = String(repeating: "../", count: depth) + target
        if Scratch.exists("\(root)/\(link)") { return }
        try FileManager.default.createSymbolicLink(atPath: "\(root)/\(link)", withDestinationPath: relative)
    }
}

@Suite("sysfs fixture trees", .timeLimit(.minutes(20)))
struct SysfsFixtureTreeTests {
    @Test("a captured listing becomes files, directories and relative links under the root")
    func buildsTree() throws {
        let tree = try SysfsFixtureTree(
            listings: ["hmem/hmem-sysfs-dax0.0-initial.txt"],
            devices: ["bus/dax/devices/dax0.0": "devices/platform/hmem.0/dax0.0"]
        )
        defer { tree.remove() }
        #expect(try tree.contents("devices/platform/hmem.0/dax0.0/size") == "1073741824\n")
        #expect(try tree.contents("devices/platform/hmem.0/dax0.0/mapping0/start") == "0x140000000\n")
        #expect(try tree.contents("devices/platform/hmem.0/dax_region/seed") == "\n")
        let resolved = try Sysfs(root: FilePath(tree.root)).resolve("bus/dax/devices/dax0.0/driver")
        #expect(resolved == "bus/dax/drivers/device_dax")
    }
}
