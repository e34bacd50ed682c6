import ArgumentParser
import DaxPoolAPI
import DaxPoolClient

#if canImport(Glibc)
import Glibc
#endif

/// `daxpool attach`.
struct AttachCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attach",
        abstract: "Lease a device to a process: until it exits, the device is not destroyed, shrunk or disabled.",
        discussion: """
            Without --pid the lease goes to the process that runs this command's parent (the shell or script), \
            since this command itself exits at once; 'daxpool attach vm1 && exec qemu-system-x86_64 ...' hands \
            the lease to QEMU.
            """
    )

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "The device (daxR.N or name).")
    var device: String

    @Option(name: .long, help: "The process that holds the device (default: the parent of this command).")
    var pid: Int32?

    func validate() throws {
        if let pid, pid <= 0 { throw ValidationError("--pid must be a positive process id") }
    }

    func run() throws {
        try Output.print([try connection.client().attach(device, pid: pid ?? getppid())])
    }
}
