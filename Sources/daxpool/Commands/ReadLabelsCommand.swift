import ArgumentParser
import DaxPoolAPI
import DaxPoolCore
import DaxPoolLinux
import DaxPoolSystem

/// `daxpool read-labels`: a label storage area as `ndctl read-labels -j` prints it.
///
/// The output follows ndctl's `dump_json()` exactly: both index blocks as they are on the media (valid or
/// not), and every label slot whose `slot` field names the slot it is in, live or stale (look at the index
/// blocks' free bitmaps, or run `daxpool check-labels`, to tell which labels are live). Like ndctl, it
/// prints a JSON array of one object when standard output is not a terminal, and the object alone when it is.
struct ReadLabelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "read-labels",
        abstract: "Print a label storage area as 'ndctl read-labels -j' does.",
        discussion: """
            Works on files directly; no daemon is needed. '-r R' reads region R's area in the state directory; \
            '--file F' reads any file, e.g. a QEMU NVDIMM backing file (label-size=128K keeps the area in its \
            last 128 KiB: --offset end --size 128K).
            """
    )

    @OptionGroup var area: AreaOptions

    @Flag(name: [.customShort("j"), .long], help: "Print JSON (the default; accepted as ndctl accepts it).")
    var json = false

    @Flag(
        name: [.customShort("u"), .long],
        help: "Human-friendly numbers as ndctl -u prints them: flags, isetcookie and dpa in hex, rawsize in MiB/GiB."
    )
    var human = false

    @Option(name: [.customShort("o"), .long], help: "Write the area's raw bytes to this file instead of JSON.")
    var output: String?

    func run() throws {
        let (name, bytes) = try area.read()
        if let output {
            do {
                let storage = try FileLabelStorage(path: output, offset: 0, size: bytes.count, access: .createIfMissing)
                try storage.write(offset: 0, bytes: bytes)
                try storage.flush()
            } catch {
                throw ErrorBody(code: .ioError, message: "cannot write \(output): \(error)")
            }
            return
        }
        let dump = try Self.dump(bytes, device: name)
        let value = human ? try Self.humanized(dump) : try JSONValue(encoding: dump)
        if Syscall.isTerminal(1) {
            try Output.print(value)
        } else {
            try Output.print([value])
        }
    }

    /// `dump` with ndctl's `-u` formats: `flags`, `isetcookie` and `dpa` as `"%#llx"` strings, `rawsize` as
    /// ndctl's `display_size()` prints it.
    static func humanized(_ dump: Dump) throws -> JSONValue {
        guard case .object(var fields) = try JSONValue(encoding: dump), case .array(let labels)? = fields["label"]
        else {
            return try JSONValue(encoding: dump)
        }
        fields["label"] = .array(
            labels.map { label in
                guard case .object(var entry) = label else {
                    return label
                }
                for key in ["flags", "isetcookie", "dpa"] {
                    if case .integer(let number)? = entry[key] {
                        entry[key] = .string(number == 0 ? "0" : "0x" + String(number, radix: 16))
                    }
                }
                if case .integer(let number)? = entry["rawsize"] {
                    entry["rawsize"] = ndctlSize(number)
                }
                return .object(entry)
            })
        return .object(fields)
    }

    /// ndctl's `display_size()`: a plain number below 5000 KiB, else binary and decimal units with two decimals,
    /// rounded as ndctl rounds them (MiB/MB below 2 GiB, GiB/GB below 2 TiB, else TiB/TB).
    static func ndctlSize(_ bytes: UInt64) -> JSONValue {
        guard bytes >= 5000 << 10 else {
            return .integer(bytes)
        }
        func hundredths(_ scale: UInt64) -> String {
            let centi = (bytes.multipliedFullWidth(by: 200).low / scale + 1) / 2
            let fraction = centi % 100
            return "\(centi / 100).\(fraction < 10 ? "0" : "")\(fraction)"
        }
        func decimal(_ divisor: UInt64) -> String {
            let centi = (bytes / divisor + 1) / 2
            let fraction = centi % 100
            return "\(centi / 100).\(fraction < 10 ? "0" : "")\(fraction)"
        }
        if bytes < 2 << 30 {
            return .string("\(hundredths(1 << 20)) MiB (\(decimal(1_000_000 / 200)) MB)")
        }
        if bytes < 2 << 40 {
            return .string("\(hundredths(1 << 30)) GiB (\(decimal(1_000_000_000 / 200)) GB)")
        }
        return .string("\(hundredths(1 << 40)) TiB (\(decimal(1_000_000_000_000 / 200)) TB)")
    }

    /// The JSON of one label area, as ndctl's `dump_json()` builds it.
    struct Dump: Codable, Hashable {
        /// The device (ndctl: `nmem0`; here the region or file).
        var dev: String
        /// Index blocks 0 and 1, decoded as found.
        var index: [Index]
        /// Every slot whose `slot` field matches its position.
        var label: [Label]
    }

    /// One index block as `dump_index_json()` prints it.
    struct Index: Codable, Hashable {
        /// The signature up to its first NUL.
        var signature: String
        var major: UInt16
        var minor: UInt16
        /// `1 << (7 + labelsize)`.
        var labelsize: Int
        var seq: UInt32
        var nslot: UInt32
    }

    /// One label as `dump_label_json()` prints it; the GUIDs only for 256-byte labels, printed in byte order.
    struct Label: Codable, Hashable {
        var uuid: String
        var name: String
        var slot: UInt32
        var position: UInt16
        var nlabel: UInt16
        var flags: UInt32
        var isetcookie: UInt64
        var lbasize: UInt64
        var dpa: UInt64
        var rawsize: UInt64
        var typeGUID: String?
        var abstractionGUID: String?

        enum CodingKeys: String, CodingKey {
            case uuid, name, slot, position, nlabel, flags, isetcookie, lbasize, dpa, rawsize
            case typeGUID = "type_guid"
            case abstractionGUID = "abstraction_guid"
        }
    }

    /// Decodes `bytes` the way ndctl does: the label size is 256 when more of the two blocks at offsets 0 and
    /// 256 say v1.2 than v1.1, else 128; the index size follows from the area size; labels start after the
    /// two index blocks.
    ///
    /// - Parameters:
    ///   - bytes: The whole label storage area.
    ///   - device: The `dev` field.
    /// - Throws: `ErrorBody` when the area is too small for two index blocks and two labels.
    static func dump(_ bytes: [UInt8], device: String) throws -> Dump {
        var votes = (v1Dot1: 0, v1Dot2: 0)
        for offset in [0, LabelAreaGeometry.indexAlignment] where offset + NamespaceIndex.headerSize <= bytes.count {
            guard let header = try? NamespaceIndex.parse(Array(bytes[offset..<offset + NamespaceIndex.headerSize])),
                header.major == 1
            else { continue }
            if header.minor == 1 {
                votes.v1Dot1 += 1
            } else if header.minor == 2 {
                votes.v1Dot2 += 1
            }
        }
        let version: LabelVersion = votes.v1Dot2 > votes.v1Dot1 ? .v1Dot2 : .v1Dot1
        let geometry: LabelAreaGeometry
        do {
            geometry = try LabelAreaGeometry(configSize: bytes.count, version: version)
        } catch {
            throw ErrorBody(code: .invalidLabels, message: "\(device): \(error)")
        }
        var index: [Index] = []
        for block in 0..<2 {
            let offset = geometry.indexOffset(ofBlock: block)
            guard offset + NamespaceIndex.headerSize <= bytes.count,
                let header = try? NamespaceIndex.parse(Array(bytes[offset..<offset + NamespaceIndex.headerSize]))
            else { break }
            let signature = bytes[offset..<offset + 15].prefix { $0 != 0 }
            let shift = 7 + Int(header.labelSizeCode)
            index.append(
                Index(
                    signature: String(decoding: signature, as: UTF8.self),
                    major: header.major,
                    minor: header.minor,
                    labelsize: shift < Int.bitWidth - 1 ? 1 << shift : 0,
                    seq: header.sequence,
                    nslot: header.slotCount
                )
            )
        }
        var labels: [Label] = []
        var slot = 0
        var offset = geometry.labelOffset
        while offset + geometry.labelSize <= bytes.count {
            defer {
                slot += 1
                offset += geometry.labelSize
            }
            let raw = Array(bytes[offset..<offset + geometry.labelSize])
            guard let label = try? NamespaceLabel.parse(raw, version: version), Int(label.slot) == slot else {
                continue
            }
            let name = raw[16..<16 + NamespaceLabel.maximumNameByteCount].prefix { $0 != 0 }
            var entry = Label(
                uuid: LabelUUID(bytes: Array(raw[0..<16]))?.description ?? "",
                name: String(decoding: name, as: UTF8.self),
                slot: label.slot,
                position: label.position,
                nlabel: label.labelCount,
                flags: label.flags.rawValue,
                isetcookie: label.interleaveSetCookie,
                lbasize: label.logicalBlockSize,
                dpa: label.dpa,
                rawsize: label.rawSize
            )
            if geometry.labelSize >= 256 {
                entry.typeGUID = LabelUUID(bytes: Array(raw[128..<144]))?.description
                entry.abstractionGUID = LabelUUID(bytes: Array(raw[144..<160]))?.description
            }
            labels.append(entry)
        }
        return Dump(dev: device, index: index, label: labels)
    }

    /// Where a label area is: region R's area in a state directory, or a range of any file. Shared by
    /// `read-labels`, `check-labels` and `init-labels`.
    struct AreaOptions: ParsableArguments {
        @Option(name: [.customShort("r"), .long], help: "A region id: its label area in the state directory.")
        var region: Int?

        @Option(
            name: .customLong("state-dir"),
            help: "The daemon's state directory, for -r (default: $DAXPOOL_STATE_DIR, else per user)."
        )
        var stateDirectory: String?

        @Option(name: .long, help: "A file holding a label area.")
        var file: String?

        @Option(
            name: [.customShort("O"), .long],
            help:
                "Where the area starts in --file: bytes (k/m/g suffixes), or 'end' for its last --size bytes (default 0)."
        )
        var offset: String?

        @Option(
            name: [.customShort("s"), .long],
            help: "The size of the area (default: to the end of the file; 128K with --offset end)."
        )
        var size: String?

        func validate() throws {
            guard (region == nil) != (file == nil) else {
                throw ValidationError("give either -r REGION or --file FILE")
            }
            if region != nil, offset != nil || size != nil {
                throw ValidationError("--offset and --size go with --file; -r uses the region's whole area file")
            }
            if let region, region < 0 {
                throw ValidationError("-r takes a region id (0 or more), not \(region)")
            }
        }

        /// The file, its offset (`nil`: at the end) and size (`nil`: to the end of the file).
        func location(defaultSize: Int? = nil) throws -> (path: String, offset: Int?, size: Int?, name: String) {
            if let region {
                let directory = stateDirectory ?? DefaultPaths.stateDirectory
                return (LabelStateStore.areaPath(directory: directory, region: region), 0, nil, "region\(region)")
            }
            let path = file ?? ""
            var start: Int? = 0
            if let offset {
                start = offset == "end" ? nil : Int(try parseSizeOption(offset, option: "--offset").rawValue)
            }
            var length = defaultSize
            if let size {
                length = Int(try parseSizeOption(size, option: "--size").rawValue)
            } else if start == nil {
                length = FileLabelStorage.defaultSize
            }
            return (path, start, length, path)
        }

        /// Opens the area.
        func open(access: FileLabelStorage.Access, defaultSize: Int? = nil) throws -> (FileLabelStorage, name: String) {
            let place = try location(defaultSize: defaultSize)
            do {
                let storage = try FileLabelStorage(
                    path: place.path, offset: place.offset, size: place.size, access: access)
                return (storage, place.name)
            } catch {
                throw ErrorBody(code: .badPath, message: "\(error)")
            }
        }

        /// The whole area's bytes and the name to show for it.
        func read() throws -> (name: String, bytes: [UInt8]) {
            let (storage, name) = try open(access: .readOnly)
            do {
                return (name, try storage.read(offset: 0, count: storage.size))
            } catch {
                throw ErrorBody(code: .ioError, message: "\(storage.path): \(error)")
            }
        }
    }
}
