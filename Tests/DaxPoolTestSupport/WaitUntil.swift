import Glibc

/// The error a wait throws when what it waited for did not happen in time: it names the thing, so the failing test
/// says what never happened instead of failing later on a stale answer.
public struct WaitTimeout: Error, CustomStringConvertible {
    /// What was waited for, and for how long.
    public var description: String

    /// A timeout saying that `what` did not happen within `timeout`.
    public init(_ what: String, timeout: Duration) {
        description = "\(what): did not happen within \(timeout)"
    }
}

/// Checks `condition` every `interval` until it holds; throws `WaitTimeout` naming `what` when `timeout` passes first.
/// The default deadline is long (5 minutes): it tells a hang from slowness on a loaded two-core machine, where a full
/// run can leave a test without a thread for minutes; what is waited for is usually there in milliseconds.
/// For synchronous tests that wait for something another process or thread does: wait for the thing itself, never a
/// fixed time. It blocks the calling thread between checks, so async code uses `waitUntil` instead.
@available(*, noasync, message: "use waitUntil: a blocked thread of the cooperative pool stalls other tests")
public func waitBlockingUntil(
    _ what: String, timeout: Duration = .seconds(300), interval: Duration = .milliseconds(10),
    _ condition: () throws -> Bool
) throws {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while true {
        if try condition() { return }
        guard clock.now < deadline else { throw WaitTimeout(what, timeout: timeout) }
        let (seconds, attoseconds) = interval.components
        usleep(UInt32(seconds * 1_000_000 + attoseconds / 1_000_000_000_000))
    }
}

/// Checks `condition` every `interval` until it holds; throws `WaitTimeout` naming `what` when `timeout` passes first.
/// For async tests: the task sleeps between checks, so the thing waited for can run on the same executor.
public func waitUntil(
    _ what: String, timeout: Duration = .seconds(300), interval: Duration = .milliseconds(10),
    isolation: isolated (any Actor)? = #isolation, _ condition: () async throws -> Bool
) async throws {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while true {
        if try await condition() { return }
        guard clock.now < deadline else { throw WaitTimeout(what, timeout: timeout) }
        try await Task.sleep(for: interval)
    }
}
