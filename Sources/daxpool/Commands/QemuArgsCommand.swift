import ArgumentParser
import DaxPoolAPI
import DaxPoolClient
import DaxPoolCore

/// `daxpool qemu-args`: the QEMU arguments that make a device the guest's RAM.
struct QemuArgsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qemu-args",
        abstract: "Print the QEMU arguments that back a guest's RAM with a device."
    )

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "The device (daxR.N or its name).")
    var device: String

    @Flag(name: .long, help: "Print a JSON array of arguments instead of a shell line.")
    var json = false

    @Flag(
        name: .long,
        help: """
            Print the steps that keep the VM across a kexec: the QMP commands that save it without copying its \
            RAM (x-ignore-shared), and the arguments and QMP commands that resume it on the same device afterwards.
            """
    )
    var liveUpdate = false

    @Option(
        name: .long,
        help: "With --live-update: the file that keeps the VM's device state (on a disk: it must survive the kexec)."
    )
    var stateFile: String?

    func run() throws {
        let info = try connection.client().device(device)
        guard let path = info.path else {
            throw ErrorBody(
                code: .noPath,
                message: "\(info.chardev) is on a \(info.backend) region, which has no memory to map"
            )
        }
        guard info.state == .enabled else {
            throw ErrorBody(
                code: .deviceDisabled,
                message: "\(info.chardev) is disabled: run 'daxpool enable-device \(info.chardev)' first"
            )
        }
        // A static (pmem) region's device keeps its last 2 MiB for the layout's copy: the VMM gets the rest (QEMU
        // maps a device-dax file smaller than the device).
        let arguments = Self.arguments(path: path, size: info.usableSize ?? info.size, align: info.align)
        if liveUpdate {
            let steps = LiveUpdateSteps(
                device: info.chardev, arguments: arguments,
                stateFile: stateFile ?? "/var/lib/daxpool/\(info.chardev).vmstate",
                backend: info.backend)
            if json {
                try Output.print(steps)
            } else {
                print(steps.text)
            }
        } else if json {
            try Output.print(arguments)
        } else {
            print(arguments.map(Self.shellQuote).joined(separator: " "))
        }
    }

    static func arguments(path: String, size: UInt64, align: UInt64) -> [String] {
        [
            "-m", size % (1 << 20) == 0 ? "\(size >> 20)M" : "\(size)B",
            "-object", "memory-backend-file,id=daxpool-mem,size=\(size),mem-path=\(path),share=on,align=\(align)",
            "-machine", "memory-backend=daxpool-mem",
        ]
    }

    /// What `--live-update` prints: how a QEMU whose RAM is the device pauses before a kexec and resumes after it.
    struct LiveUpdateSteps: Encodable {
        /// The device whose memory is the VM's RAM.
        var device: String
        /// Whether the device's memory outlives a kexec: only devdax (carved) memory does; an shm or hugetlb device
        /// keeps the VM across a QEMU restart on the same kernel only.
        var survivesKexec: Bool
        /// Why the steps do not keep the VM across a kexec, when they do not.
        var warning: String?
        /// Where the VM's device state goes (QEMU's migration stream without the RAM).
        var stateFile: String
        /// The arguments QEMU runs with (besides the user's own, such as `-qmp`).
        var arguments: [String]
        /// QMP commands before the kexec, in order.
        var beforeKexec: [String]
        /// The arguments QEMU starts with after the kexec: the same plus `-incoming defer`.
        var incomingArguments: [String]
        /// QMP commands after the kexec (and `daxpool serve`'s restore), in order.
        var afterKexec: [String]

        enum CodingKeys: String, CodingKey {
            case device
            case survivesKexec = "survives_kexec"
            case warning
            case stateFile = "state_file"
            case arguments
            case beforeKexec = "before_kexec"
            case incomingArguments = "incoming_arguments"
            case afterKexec = "after_kexec"
        }

        init(device: String, arguments: [String], stateFile: String, backend: BackendKind) {
            let ignoreShared =
                #"{"execute":"migrate-set-capabilities","arguments":{"capabilities":"#
                + #"[{"capability":"x-ignore-shared","state":true}]}}"#
            let waitForIt = #"{"execute":"query-migrate"}"#
            self.device = device
            self.survivesKexec = backend == .devdax
            self.warning =
                survivesKexec
                ? nil
                : "\(device) is a \(backend) device: its memory does not survive a kexec (only devdax memory does), "
                    + "so these steps keep the VM across a QEMU restart on the same kernel only"
            self.stateFile = stateFile
            self.arguments = arguments
            self.beforeKexec = [
                ignoreShared,
                #"{"execute":"stop"}"#,
                #"{"execute":"migrate","arguments":{"uri":"exec:cat > "# + Self.jsonEscaped(stateFile) + #""}}"#,
                waitForIt,
                #"{"execute":"quit"}"#,
            ]
            self.incomingArguments = arguments + ["-incoming", "defer"]
            self.afterKexec = [
                ignoreShared,
                #"{"execute":"migrate-incoming","arguments":{"uri":"exec:cat "# + Self.jsonEscaped(stateFile)
                    + #""}}"#,
                waitForIt,
                #"{"execute":"cont"}"#,
            ]
        }

        /// The steps as a commented shell transcript.
        var text: String {
            let quoted = arguments.map(QemuArgsCommand.shellQuote).joined(separator: " ")
            let lines: [String] =
                (warning.map { ["# WARNING: \($0)."] } ?? [])
                + [
                    "# Keep the VM on \(device) across a kexec (its RAM stays in the device; only device state is saved).",
                    "# 1. QEMU runs with these arguments, plus your own (a QMP socket: -qmp unix:PATH,server=on,wait=off):",
                    "qemu-system-x86_64 \(quoted) ...",
                    "# 2. Before the kexec (after 'daxpool live-update prepare'), send on its QMP socket:",
                ] + beforeKexec.map { $0 + (Self.isQuery($0) ? "    # repeat until \"status\": \"completed\"" : "") }
                + [
                    "# 3. kexec; the next kernel's 'daxpool serve' says 'live-update: restored N devices'. Then start QEMU",
                    "#    with the same arguments plus -incoming defer (\(stateFile) must have survived the kexec):",
                    "qemu-system-x86_64 \(quoted) ... -incoming defer",
                    "# 4. and send on its QMP socket:",
                ] + afterKexec.map { $0 + (Self.isQuery($0) ? "    # repeat until \"status\": \"completed\"" : "") }
            return lines.joined(separator: "\n")
        }

        static func isQuery(_ command: String) -> Bool { command.contains("query-migrate") }

        /// `text` as the inside of a JSON string.
        static func jsonEscaped(_ text: String) -> String {
            var escaped = ""
            for scalar in text.unicodeScalars {
                switch scalar {
                case "\"": escaped += "\\\""
                case "\\": escaped += "\\\\"
                case _ where scalar.value < 0x20: escaped += "\\u" + hex4(scalar.value)
                default: escaped.unicodeScalars.append(scalar)
                }
            }
            return escaped
        }

        static func hex4(_ value: UInt32) -> String {
            let digits = String(value, radix: 16)
            return String(repeating: "0", count: 4 - digits.count) + digits
        }
    }

    static func shellQuote(_ word: String) -> String {
        let safe = word.allSatisfy { $0.isLetter || $0.isNumber || "-_=,./:+@%".contains($0) }
        guard !safe else { return word }
        return "'" + word.map { $0 == "'" ? "'\\''" : String($0) }.joined() + "'"
    }
}
