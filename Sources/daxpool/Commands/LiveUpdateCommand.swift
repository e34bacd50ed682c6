import ArgumentParser
import DaxPoolAPI
import DaxPoolClient

/// `daxpool live-update prepare|status`.
struct LiveUpdateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "live-update",
        abstract: "Keep devdax guest memory and its devices across a kexec into a new host kernel.",
        discussion: """
            prepare persists every devdax region's layout in the state directory and in the region's own memory \
            (its last 2 MiB), and prints the kernel arguments the next kernel needs. After the kexec, daxpool serve \
            on the same state directory rebuilds every device exactly (same daxR.N, ranges, uuid, owner, mode) \
            without touching its memory; status says what was restored.
            """,
        subcommands: [Prepare.self, Status.self]
    )

    /// `daxpool live-update prepare`.
    struct Prepare: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Persist every devdax layout for the next kernel; refused while shm or hugetlb devices exist.")

        @OptionGroup var connection: ConnectionOptions

        @Flag(
            name: .long,
            help: "Prepare even though shm or hugetlb devices lose their memory, or a copy cannot go in memory.")
        var force = false

        func run() throws {
            try Output.print(try connection.client().prepareLiveUpdate(LiveUpdatePrepareRequest(force: force)))
        }
    }

    /// `daxpool live-update status`.
    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "What the last prepare or restore did.")

        @OptionGroup var connection: ConnectionOptions

        func run() throws {
            try Output.print(try connection.client().liveUpdateStatus())
        }
    }
}
