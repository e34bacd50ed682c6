// Linux only.
import DaxPoolSystem
import Synchronization
import SystemPackage

/// A recording fake of the system for tests: installed for one task (`run`), it sees every system call the
/// `Syscall` funnel makes in that task, answers the calls a script names (a result or an `Errno`, without calling
/// the kernel) and passes the others through, and records every call with its outcome and the file it acted on.
///
/// So a test that is not root can check which calls a backend makes (a mount's flags and options, a `fchown` to
/// a device's owner), and make any call fail (`ENOSPC` from `fallocate`) to check what is left behind. Tasks
/// running in parallel never see each other's fake; threads the task starts are not covered.
public final class RecordingSystem: SystemCallInterposer {
    /// What the fake does with a call.
    public enum Answer: Sendable, Equatable {
        /// Make the real call and record its outcome.
        case passThrough
        /// Fail with this `Errno` without calling the kernel.
        case fail(Errno)
        /// Succeed with this C return value (`0`, a byte count) without calling the kernel.
        case succeed(Int)
    }

    /// One call the fake saw.
    public struct Entry: Sendable, CustomStringConvertible {
        /// The call, with its arguments.
        public var call: SystemCall
        /// The file it acted on: its path, or for a descriptor the path it was opened with (a relative name joined
        /// to its directory's path); `nil` when unknown (a descriptor opened before the fake was installed).
        public var path: FilePath?
        /// What the call returned.
        public var outcome: Result<Int, Errno>
        /// Whether the kernel made the call (`false`: the script answered it).
        public var reachedKernel: Bool

        /// The call, its path and its outcome, for failure messages.
        public var description: String {
            let result: String
            switch outcome {
            case .success(let value): result = "\(value)"
            case .failure(let error): result = "\(error)"
            }
            return "\(call) [\(path?.string ?? "?")] -> \(result)\(reachedKernel ? "" : " (scripted)")"
        }
    }

    private struct Rule {
        let matches: @Sendable (SystemCall, FilePath?) -> Bool
        let answer: Answer
        var remaining: Int
    }

    private struct State {
        var entries: [Entry] = []
        var rules: [Rule] = []
        /// The path each descriptor opened while the fake was installed was opened with.
        var paths: [CInt: FilePath] = [:]
    }

    private let state = Mutex(State())

    /// A fake that passes every call through until `answer` scripts some.
    public init() {}

    /// Answers the next `times` calls for which `matches` (the call and the file it acts on) holds with `answer`.
    /// Rules are tried in the order they were added; a used-up rule is skipped.
    public func answer(
        _ answer: Answer, times: Int = .max, when matches: @escaping @Sendable (SystemCall, FilePath?) -> Bool
    ) {
        state.withLock { $0.rules.append(Rule(matches: matches, answer: answer, remaining: times)) }
    }

    /// Every call seen so far, oldest first.
    public var entries: [Entry] { state.withLock { $0.entries } }

    /// Forgets the calls seen so far (the script and the descriptors' paths stay).
    public func clearEntries() {
        state.withLock { $0.entries.removeAll() }
    }

    /// Runs `body` with this fake deciding the system calls of the current task.
    public func run<Result, Failure: Error>(_ body: () throws(Failure) -> Result) throws(Failure) -> Result {
        try SystemInterposition.withInterposer(self, body)
    }

    /// Runs the asynchronous `body` with this fake deciding the system calls of the current task and its children.
    public func run<Result>(_ body: () async throws -> Result) async rethrows -> Result {
        try await SystemInterposition.withInterposer(self, body)
    }

    /// Decides `call` by the script, records it, and keeps track of the paths of the descriptors it opens.
    public func interpose(_ call: SystemCall, perform: () -> Result<Int, Errno>) -> Result<Int, Errno> {
        let (path, answer) = state.withLock { state -> (FilePath?, Answer) in
            let path = Self.path(of: call, paths: state.paths)
            for index in state.rules.indices where state.rules[index].remaining > 0 {
                if state.rules[index].matches(call, path) {
                    state.rules[index].remaining -= 1
                    return (path, state.rules[index].answer)
                }
            }
            return (path, .passThrough)
        }
        let outcome: Result<Int, Errno>
        switch answer {
        case .passThrough: outcome = perform()
        case .fail(let error): outcome = .failure(error)
        case .succeed(let value): outcome = .success(value)
        }
        state.withLock { state in
            state.entries.append(Entry(call: call, path: path, outcome: outcome, reachedKernel: answer == .passThrough))
            switch (call, outcome) {
            case (.open, .success(let descriptor)), (.openRelative, .success(let descriptor)):
                state.paths[CInt(truncatingIfNeeded: descriptor)] = path
            case (.close(let descriptor), _):
                state.paths[descriptor] = nil
            default:
                break
            }
        }
        return outcome
    }

    /// The file `call` acts on, as far as the descriptors' paths tell.
    private static func path(of call: SystemCall, paths: [CInt: FilePath]) -> FilePath? {
        func relative(_ directory: CInt, _ name: String) -> FilePath? {
            guard let base = paths[directory] else { return nil }
            return name == "." ? base : base.appending(name)
        }
        switch call {
        case .open(let path, _, _, _), .pathStatus(let path), .linkStatus(let path), .changePathMode(let path, _),
            .changePathOwner(let path, _, _), .rename(let path, _), .unlink(let path), .makeDirectory(let path, _),
            .removeDirectory(let path), .listDirectory(let path), .canonicalPath(let path),
            .fileSystemType(let path), .fileSystemStatistics(let path), .unmount(let path, _):
            return path
        case .mount(_, let target, _, _, _):
            return target
        case .openRelative(let directory, let name, _, _, _), .linkStatusRelative(let directory, let name),
            .unlinkRelative(let directory, let name), .makeDirectoryRelative(let directory, let name, _),
            .readLinkRelative(let directory, let name), .renameRelative(let directory, let name, _):
            return relative(directory, name)
        default:
            return call.descriptor.flatMap { paths[$0] }
        }
    }
}
