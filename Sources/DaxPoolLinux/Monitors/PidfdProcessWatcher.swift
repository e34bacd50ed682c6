// Linux only.
import DaxPoolCore
import DaxPoolSystem
import Dispatch
import Synchronization
import SystemPackage

/// Watches lease holders with process file descriptors: `pidfd_open(2)` gives a descriptor that becomes
/// readable when the process exits; one thread waits on all of them with `epoll_wait(2)` and calls the
/// watch's `onExit`. A pidfd names one process, never a later one that reuses its pid.
public final class PidfdProcessWatcher: ProcessWatcher {
    private struct Watch {
        var pid: Int32
        var descriptor: CInt
        var onExit: @Sendable () -> Void
    }

    private struct State {
        /// Watches by their epoll cookie; a cookie is never reused, so a late event for a stopped watch is ignored.
        var watches: [UInt64: Watch] = [:]
        var cookies: [Int32: UInt64] = [:]
        var nextCookie: UInt64 = 1
    }

    private let epoll: CInt
    private let state = Mutex(State())

    /// Creates the epoll instance and starts the thread that waits on it (for the life of the process).
    public init() throws(BackendError) {
        do throws(Errno) {
            epoll = try Syscall.createEventPoll()
        } catch {
            throw BackendError("epoll_create1", "", error, "cannot create an epoll")
        }
        DispatchQueue(label: "daxpool.lease-holders").async { [self] in self.run() }
    }

    /// Opens a pidfd for `pid` (`pidfd_open(2)`), reads who it is from `/proc/PID/stat` and `/proc/PID/status`, and
    /// adds it to the epoll the watcher's thread waits on; `onExit` runs once on that thread when the process exits.
    /// - Throws: `ProcessWatchError` when the pid is not positive, no such process exists, it has exited meanwhile,
    ///   it is not the one that started at `startTime`, or the kernel refuses the pidfd or the epoll.
    public func watch(pid: Int32, startTime: UInt64?, onExit: @escaping @Sendable () -> Void) throws
        -> ProcessIdentity
    {
        guard pid > 0 else { throw ProcessWatchError(pid: pid, "is not a process id") }
        let descriptor: CInt
        do throws(Errno) {
            descriptor = try Syscall.openProcess(pid)
        } catch {
            throw ProcessWatchError(
                pid: pid, error == .noSuchProcess ? "does not exist" : "cannot be watched: \(error)")
        }
        let identity: ProcessIdentity
        do {
            identity = try Self.identity(of: pid)
            if let startTime, identity.startTime != startTime {
                throw ProcessWatchError(pid: pid, "is a different process than the one that took the lease")
            }
            // The process may have exited (and its pid been reused) between pidfd_open and reading /proc.
            guard (try? Syscall.poll(descriptor, for: .readable, timeout: 0)) == [] else {
                throw ProcessWatchError(pid: pid, "has exited")
            }
        } catch {
            try? Syscall.close(descriptor)
            throw error
        }
        let (previous, refusal): (CInt?, Errno?) = state.withLock { state in
            var replaced: CInt?
            if let old = state.cookies[pid], let watch = state.watches.removeValue(forKey: old) {
                replaced = watch.descriptor
            }
            let cookie = state.nextCookie
            state.nextCookie += 1
            do throws(Errno) {
                try Syscall.addToEventPoll(epoll, descriptor, cookie: cookie)
            } catch {
                state.cookies[pid] = nil
                return (replaced, error)
            }
            state.cookies[pid] = cookie
            state.watches[cookie] = Watch(pid: pid, descriptor: descriptor, onExit: onExit)
            return (replaced, nil)
        }
        if let previous {
            try? Syscall.removeFromEventPoll(epoll, previous)
            try? Syscall.close(previous)
        }
        if let refusal {
            try? Syscall.close(descriptor)
            throw ProcessWatchError(pid: pid, "cannot be watched: epoll_ctl: \(refusal)")
        }
        return identity
    }

    /// Removes `pid`'s pidfd from the epoll and closes it; its `onExit` will not run.
    public func stopWatching(pid: Int32) {
        let descriptor: CInt? = state.withLock { state in
            guard let cookie = state.cookies.removeValue(forKey: pid) else { return nil }
            return state.watches.removeValue(forKey: cookie)?.descriptor
        }
        if let descriptor {
            try? Syscall.removeFromEventPoll(epoll, descriptor)
            try? Syscall.close(descriptor)
        }
    }

    /// Waits for exits forever and runs each exited holder's `onExit` once.
    private func run() {
        var cookies = [UInt64](repeating: 0, count: 32)
        while true {
            let waited = cookies.withUnsafeMutableBufferPointer { buffer in
                Result { () throws(Errno) in try Syscall.waitForEvents(epoll, into: buffer) }
            }
            // `EINTR` is retried in the funnel; any other failure means the epoll is unusable.
            guard case .success(let count) = waited else { return }
            for index in 0..<count {
                let cookie = cookies[index]
                let exited: Watch? = state.withLock { state in
                    guard let watch = state.watches.removeValue(forKey: cookie) else { return nil }
                    if state.cookies[watch.pid] == cookie { state.cookies[watch.pid] = nil }
                    return watch
                }
                guard let exited else { continue }
                try? Syscall.removeFromEventPoll(epoll, exited.descriptor)
                try? Syscall.close(exited.descriptor)
                exited.onExit()
            }
        }
    }

    /// The real uid (`/proc/PID/status`, `Uid:`) and start time (`/proc/PID/stat`, field 22) of `pid`.
    static func identity(of pid: Int32) throws -> ProcessIdentity {
        let status = try procFile(pid, "status")
        guard
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Uid:") }),
            let uid = line.dropFirst(4).split(whereSeparator: { $0 == "\t" || $0 == " " }).first.flatMap({
                UInt32($0)
            })
        else { throw ProcessWatchError(pid: pid, "has no Uid line in /proc/\(pid)/status") }
        let stat = try procFile(pid, "stat")
        // Field 2 (comm) is in parentheses and may hold spaces: count fields after its closing parenthesis.
        guard let close = stat.lastIndex(of: ")") else {
            throw ProcessWatchError(pid: pid, "has an unreadable /proc/\(pid)/stat")
        }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 19, let startTime = UInt64(fields[19]) else {
            throw ProcessWatchError(pid: pid, "has no start time in /proc/\(pid)/stat")
        }
        return ProcessIdentity(pid: pid, uid: uid, startTime: startTime)
    }

    private static func procFile(_ pid: Int32, _ name: String) throws -> String {
        do throws(Errno) {
            let file = try OwnedDescriptor.open(FilePath("/proc/\(pid)/\(name)"), .readOnly)
            return String(decoding: try file.readToEnd(), as: UTF8.self)
        } catch .noSuchFileOrDirectory {
            throw ProcessWatchError(pid: pid, "does not exist")
        } catch {
            throw ProcessWatchError(pid: pid, "cannot be read from /proc: \(error)")
        }
    }
}

/// Why a process cannot be watched.
public struct ProcessWatchError: Error, CustomStringConvertible {
    /// The process id that could not be watched.
    public var pid: Int32
    /// Why, as a phrase that follows "process PID".
    public var reason: String

    init(pid: Int32, _ reason: String) {
        self.pid = pid
        self.reason = reason
    }

    /// "process PID reason", for lease refusals and logs.
    public var description: String { "process \(pid) \(reason)" }
}
