import ArgumentParser
import DaxPoolAPI
import DaxPoolClient

#if canImport(Glibc)
import Glibc
#endif

/// `daxpool detach`.
struct DetachCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "detach",
        abstract: "End a process's lease on a device."
    )

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "The device (daxR.N or name).")
    var device: String

    @Option(name: .long, help: "The lease holder (default: the parent of this command).")
    var pid: Int32?

    func validate() throws {
        if let pid, pid <= 0 { throw ValidationError("--pid must be a positive process id") }
    }

    func run() throws {
        let holder = pid ?? getppid()
        try connection.client().detach(device, pid: holder)
        try Output.print(["detached": holder])
    }
}
