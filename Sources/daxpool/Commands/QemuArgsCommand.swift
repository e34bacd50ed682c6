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

    func run() throws {
        let info = try connection.client().device(device)
        guard let path = info.path else {
            throw ErrorBody(
                code: "no_path",
                message: "\(info.chardev) is on a \(info.backend) region, which has no memory to map",
                status: 0
            )
        }
        guard info.state == .enabled else {
            throw ErrorBody(
                code: "device_disabled",
                message: "\(info.chardev) is disabled: run 'daxpool enable-device \(info.chardev)' first",
                status: 0
            )
        }
        let arguments = Self.arguments(path: path, size: info.size, align: info.align)
        if json {
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

    static func shellQuote(_ word: String) -> String {
        let safe = word.allSatisfy { $0.isLetter || $0.isNumber || "-_=,./:+@%".contains($0) }
        guard !safe else { return word }
        return "'" + word.map { $0 == "'" ? "'\\''" : String($0) }.joined() + "'"
    }
}
