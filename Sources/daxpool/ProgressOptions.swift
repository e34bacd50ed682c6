import ArgumentParser
import DaxPoolSystem

/// How a command shows the progress of scrubs and prefaults on standard error.
enum ProgressMode: String, ExpressibleByArgument, CaseIterable, Sendable {
    /// A bar when standard error is a terminal, JSON lines otherwise.
    case auto
    /// A bar redrawn in place.
    case bar
    /// One `ProgressEvent` JSON object per line (sorted keys), as `/v1/progress` sends them.
    case json
    /// Nothing, and no waiting for background work.
    case none
}

/// `--progress`, shared by the commands that start long memory operations.
struct ProgressOptions: ParsableArguments {
    @Option(
        name: .long,
        help: """
            Show scrub and prefault progress on stderr: auto (a bar on a terminal, JSON lines otherwise), bar, \
            json, or none (and do not wait for background scrubs).
            """
    )
    var progress: ProgressMode = .auto

    /// `auto` resolved with `isatty(2)`.
    var mode: ProgressMode {
        guard progress == .auto else { return progress }
        return Syscall.isTerminal(2) ? .bar : .json
    }
}
