import DaxPoolClient
import DaxPoolCore
import Dispatch

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

    /// Follows the prefault of the device with `uuid` (an operation newer than `after`, so that another device
    /// that already has the uuid is not mistaken for it) on a thread of its own while the command's request runs;
    /// `finish` waits (briefly) for its last event.
    final class Prefault: Sendable {
        private let done = DispatchSemaphore(value: 0)
        let display: ProgressDisplay

        init(socket: String, uuid: String, after: UInt64, display: ProgressDisplay) {
            self.display = display
            let done = done
            DispatchQueue(label: "daxpool.progress").async {
                let client = DaxPoolClient(socketPath: socket)
                try? client.followProgress(device: uuid) { event in
                    guard event.kind == .prefault, event.operation > after else { return true }
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
