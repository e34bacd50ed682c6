import ArgumentParser
import DaxPoolClient
import DaxPoolCore
import Dispatch
import Synchronization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

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
        return isatty(2) == 1 ? .bar : .json
    }
}

/// Draws progress events on standard error: a bar or JSON lines. Safe to call from any thread.
final class ProgressDisplay: Sendable {
    let mode: ProgressMode
    private let drawing = Mutex<Bool>(false)

    init(mode: ProgressMode) {
        self.mode = mode
    }

    func show(_ event: ProgressEvent) {
        switch mode {
        case .json:
            FileHandleStandardError.write(((try? Output.line(event)) ?? "{}") + "\n")
        case .bar, .auto:
            let line = Self.bar(event)
            drawing.withLock { open in
                let end = event.state == .running ? "" : "\n"
                FileHandleStandardError.write("\r\u{1B}[2K" + line + end)
                open = event.state == .running
            }
        case .none:
            break
        }
    }

    /// Ends an unfinished bar line.
    func close() {
        drawing.withLock { open in
            if open { FileHandleStandardError.write("\n") }
            open = false
        }
    }

    /// `scrub dax0.1 [##########..........]  50%  128.0 MiB / 256.0 MiB  3.1 GiB/s`.
    static func bar(_ event: ProgressEvent, width: Int = 30) -> String {
        let fraction = event.total == 0 ? 1 : Double(event.done) / Double(event.total)
        let filled = min(width, Int((fraction * Double(width)).rounded(.down)))
        let percent = Int((fraction * 100).rounded(.down))
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let name = event.deviceName.map { "\(event.device) (\($0))" } ?? event.device
        var text = "\(event.kind) \(name) [\(bar)] \(String(repeating: " ", count: max(0, 3 - String(percent).count)))"
        text += "\(percent)%  \(human(event.done)) / \(human(event.total))  \(human(event.rate))/s"
        switch event.state {
        case .running: break
        case .finished: text += "  done"
        case .failed: text += "  failed: \(event.message ?? "")"
        }
        return text
    }

    static func human(_ bytes: UInt64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        let tenths = Int((value * 10).rounded())
        return unit == 0 ? "\(bytes) B" : "\(tenths / 10).\(tenths % 10) \(units[unit])"
    }
}

/// Shows the progress of long memory operations while a command runs or after it returned.
enum ProgressWatch {
    /// The newest operation number the daemon remembers, so that later operations can be told from older ones.
    static func newestOperation(_ client: DaxPoolClient) throws -> UInt64 {
        try client.progress().map(\.operation).max() ?? 0
    }

    /// Waits for the scrub of a just destroyed `device` (any operation newer than `after`), showing its progress.
    /// Returns at once when the backend started no scrub (its memory went back to the kernel).
    static func waitForScrub(of device: String, after: UInt64, client: DaxPoolClient, display: ProgressDisplay)
        throws
    {
        let scrub = try client.progress(device: device).filter { $0.kind == .scrub && $0.operation > after }
            .max { $0.operation < $1.operation }
        guard let scrub else { return }
        guard scrub.state == .running else {
            display.show(scrub)
            return
        }
        try client.followProgress(operation: scrub.operation) { event in
            display.show(event)
            return event.state == .running
        }
        display.close()
    }

    /// Follows the prefault of the device with `uuid` on a thread of its own while the command's request runs;
    /// `finish` waits (briefly) for its last event.
    final class Prefault: Sendable {
        private let done = DispatchSemaphore(value: 0)
        let display: ProgressDisplay

        init(socket: String, uuid: String, display: ProgressDisplay) {
            self.display = display
            let done = done
            DispatchQueue(label: "daxpool.progress").async {
                let client = DaxPoolClient(socketPath: socket)
                try? client.followProgress(device: uuid) { event in
                    guard event.kind == .prefault else { return true }
                    display.show(event)
                    return event.state == .running
                }
                done.signal()
            }
        }

        /// Waits up to a second for the prefault's last event (the request has returned, so it was sent).
        func finish() {
            _ = done.wait(timeout: .now() + .seconds(1))
            display.close()
        }
    }
}
