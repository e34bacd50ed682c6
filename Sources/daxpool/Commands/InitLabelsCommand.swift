import ArgumentParser
import DaxPoolAPI
import DaxPoolCore
import DaxPoolLinux

/// `daxpool init-labels`: writes an empty label storage area exactly as `ndctl init-labels` does (index
/// block 0 with `seq` 3 and current, block 1 with `seq` 2, every slot free, labels zeroed), optionally
/// followed by namespaces written with the kernel's two-pass update.
struct InitLabelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init-labels",
        abstract: "Write an empty label storage area as 'ndctl init-labels' does.",
        discussion: """
            Refuses to overwrite a valid area unless forced (-f). A missing --file is created; a short one is \
            extended. With --namespace the new area also gets those namespaces, e.g. for a QEMU NVDIMM:
              daxpool init-labels --file nvdimm.img --offset end --size 128K -V 1.1 \\
                --isetcookie 10248187106440278 --namespace name=first,dpa=0,size=256M
            """
    )

    @OptionGroup var area: ReadLabelsCommand.AreaOptions

    @Option(
        name: [.customShort("V"), .customLong("label-version")],
        help: "1.1 (128-byte labels, ndctl's default) or 1.2 (256-byte labels, what daxpool's own areas use)."
    )
    var labelVersion: String = "1.1"

    @Flag(name: [.customShort("f"), .long], help: "Overwrite an area that is already valid (erases its labels).")
    var force = false

    @Option(
        name: .customLong("namespace"),
        help: ArgumentHelp(
            "Add a namespace: uuid=U,name=N,dpa=D,size=S[,align=A] (uuid defaults to a random one). Repeatable.",
            valueName: "fields"
        )
    )
    var namespaces: [String] = []

    @Option(name: .customLong("isetcookie"), help: "The interleave-set cookie of added labels (default 0).")
    var interleaveSetCookie: String?

    /// What was written.
    struct Summary: Codable, Hashable {
        var file: String
        var offset: Int
        var size: Int
        var version: String
        var nslot: Int
        var free: Int
        var namespaces: [CheckLabelsCommand.Report.Namespace]
    }

    func validate() throws {
        guard labelVersion == "1.1" || labelVersion == "1.2" else {
            throw ValidationError("-V takes 1.1 or 1.2, not '\(labelVersion)'")
        }
    }

    func run() throws {
        let version: LabelVersion = labelVersion == "1.2" ? .v1Dot2 : .v1Dot1
        let cookie = try parseCookie()
        let wanted = try namespaces.map(Self.parseNamespace)
        let (storage, name) = try area.open(access: .createIfMissing, defaultSize: FileLabelStorage.defaultSize)
        let existing: [UInt8]
        do {
            existing = try storage.read(offset: 0, count: storage.size)
        } catch {
            throw ErrorBody(code: .ioError, message: "\(name): \(error)")
        }
        if !force, let valid = try? LabelArea.decode(existing) {
            throw ErrorBody(
                code: .labelsValid,
                message: "\(name) already holds a valid v\(valid.version) label area with \(valid.namespaces.count) "
                    + "namespace(s); give -f to erase it"
            )
        }
        var store: LabelStore<FileLabelStorage>
        do {
            store = try LabelStore(formatting: storage, version: version, interleaveSetCookie: cookie)
            if !wanted.isEmpty {
                try store.apply(puts: wanted, removes: [])
            }
        } catch {
            throw ErrorBody(code: .invalidLabels, message: "\(name): \(error)")
        }
        try Output.print(
            Summary(
                file: storage.path,
                offset: storage.offset,
                size: storage.size,
                version: store.version.description,
                nslot: Int(store.area.currentIndex.slotCount),
                free: store.freeSlotCount,
                namespaces: store.namespaces.map { namespace in
                    CheckLabelsCommand.Report.Namespace(
                        uuid: namespace.uuid.description,
                        name: namespace.name,
                        align: namespace.alignment,
                        size: namespace.extents.reduce(0) { $0 &+ $1.rawSize },
                        ranges: namespace.extents.map {
                            CheckLabelsCommand.Report.Range(dpa: $0.dpa, rawsize: $0.rawSize)
                        }
                    )
                }
            )
        )
    }

    private func parseCookie() throws -> UInt64 {
        guard let text = interleaveSetCookie else {
            return 0
        }
        let parsed = text.hasPrefix("0x") ? UInt64(text.dropFirst(2), radix: 16) : UInt64(text)
        guard let parsed else {
            throw ValidationError("--isetcookie takes a decimal or 0x-prefixed hex integer, not '\(text)'")
        }
        return parsed
    }

    /// Parses `uuid=U,name=N,dpa=D,size=S[,align=A]`.
    static func parseNamespace(_ text: String) throws -> LabelledNamespace {
        var uuid: LabelUUID?
        var name = ""
        var dpa: UInt64?
        var size: UInt64?
        var alignment: UInt64 = 0
        for field in text.split(separator: ",") {
            let parts = field.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else {
                throw ValidationError("--namespace: '\(field)' is not key=value (keys: uuid, name, dpa, size, align)")
            }
            let value = String(parts[1])
            switch parts[0] {
            case "uuid":
                guard let parsed = LabelUUID(value) else {
                    throw ValidationError("--namespace: uuid '\(value)' is not of the form 8-4-4-4-12")
                }
                uuid = parsed
            case "name":
                name = value
            case "dpa":
                dpa = try parseSizeOption(value, option: "--namespace dpa").rawValue
            case "size":
                size = try parseSizeOption(value, option: "--namespace size").rawValue
            case "align":
                alignment = try parseSizeOption(value, option: "--namespace align").rawValue
            default:
                throw ValidationError("--namespace: unknown key '\(parts[0])' (keys: uuid, name, dpa, size, align)")
            }
        }
        guard let dpa, let size else {
            throw ValidationError("--namespace '\(text)' needs dpa= and size=")
        }
        var generator = SystemRandomNumberGenerator()
        return LabelledNamespace(
            uuid: uuid ?? LabelUUID.random(using: &generator),
            name: name,
            alignment: alignment,
            extents: [LabelledNamespace.Extent(dpa: dpa, rawSize: size)]
        )
    }
}
