import ArgumentParser
import DaxPoolAPI
import DaxPoolClient

/// `daxpool recover`.
struct RecoverCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recover",
        abstract: "Show how degraded regions would be rebuilt from what survives; --apply rebuilds them.",
        discussion: """
            A region comes up degraded when its persisted state is in doubt (a journal record lost in both copies, \
            labels that disagree with a journal that lost records, a device file bigger than its record, a kernel \
            layout that differs). Its devices keep their memory and paths, and nothing is created or destroyed in it. \
            This command prints each decision of the rebuild with its reason: the journal's devices, the labels' \
            devices, and the memory the backend holds. With --apply the rebuild is checked and committed; memory no \
            device of the rebuild owns goes to the region's lost+found, untouched.
            """
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(name: [.short, .customLong("region")], help: "The region (default: every degraded region).")
    var region: Int?

    @Flag(name: .long, help: "Commit the rebuild (default: only show it).")
    var apply = false

    func validate() throws {
        if let region, region < 0 { throw ValidationError("--region must be a region id (0 or more)") }
    }

    func run() throws {
        try Output.print(try connection.client().recover(RecoverRequest(region: region, apply: apply)))
    }
}
