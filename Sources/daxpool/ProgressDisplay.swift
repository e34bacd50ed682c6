import DaxPoolCore
import Synchronization

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
