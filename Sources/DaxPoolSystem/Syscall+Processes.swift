// Linux only.
import CLinuxShims
import Glibc
import SystemPackage

/// Process descriptors, epoll, `poll`, limits, the umask, signal dispositions and terminals.
extension Syscall {
    /// A descriptor (close-on-exec) that becomes readable when process `pid` exits; it names that process, never
    /// a later one that reuses its pid. The corresponding C function is `pidfd_open(2)` (through `syscall(2)`).
    /// - Throws: `ESRCH` when no such process exists.
    public static func openProcess(_ pid: Int32) throws(Errno) -> CInt {
        try valueOrErrno(.openProcess(pid: pid)) { cshim_pidfd_open(pid) }.get()
    }

    /// A new epoll instance, close-on-exec. The corresponding C function is `epoll_create1(2)` with
    /// `EPOLL_CLOEXEC`.
    public static func createEventPoll() throws(Errno) -> CInt {
        try valueOrErrno(.createEventPoll) { cshim_epoll_create() }.get()
    }

    /// Adds `descriptor` to `epoll`, waiting for it to become readable and reporting `cookie` when it does.
    /// The corresponding C function is `epoll_ctl(2)` with `EPOLL_CTL_ADD` and `EPOLLIN`.
    public static func addToEventPoll(_ epoll: CInt, _ descriptor: CInt, cookie: UInt64) throws(Errno) {
        try nothingOrErrno(.addToEventPoll(epoll, descriptor: descriptor)) {
            cshim_epoll_add(epoll, descriptor, cookie)
        }.get()
    }

    /// Removes `descriptor` from `epoll`. The corresponding C function is `epoll_ctl(2)` with `EPOLL_CTL_DEL`.
    public static func removeFromEventPoll(_ epoll: CInt, _ descriptor: CInt) throws(Errno) {
        try nothingOrErrno(.removeFromEventPoll(epoll, descriptor: descriptor)) {
            cshim_epoll_delete(epoll, descriptor)
        }.get()
    }

    /// Waits without a timeout until descriptors of `epoll` are ready and stores their cookies (at most 64) in
    /// `cookies`; `EINTR` is retried. The corresponding C function is `epoll_wait(2)`.
    /// - Returns: how many cookies were stored.
    public static func waitForEvents(_ epoll: CInt, into cookies: UnsafeMutableBufferPointer<UInt64>) throws(Errno)
        -> Int
    {
        let capacity = CInt(clamping: cookies.count)
        return Int(
            try valueOrErrno(.waitForEvents(epoll, capacity: Int(capacity))) {
                cshim_epoll_wait(epoll, cookies.baseAddress, capacity)
            }.get())
    }

    /// Waits up to `timeout` milliseconds (`0`: not at all, `-1`: forever) for `events` on `descriptor`; `EINTR`
    /// is retried with the whole timeout. The corresponding C function is `poll(2)` of one descriptor.
    /// - Returns: the events that occurred (`revents`), empty when the time ran out; a scripted success
    ///   (`SystemCallInterposer`) other than `0` answers `events`.
    public static func poll(_ descriptor: CInt, for events: PollEvents, timeout: CInt) throws(Errno) -> PollEvents {
        var entry = pollfd(fd: descriptor, events: events.rawValue, revents: 0)
        let ready = try valueOrErrno(.poll(descriptor, events, timeout: timeout)) {
            entry.revents = 0
            return Glibc.poll(&entry, 1, timeout)
        }.get()
        // A real `poll` that reports a ready descriptor sets `revents`; a scripted one reports what was asked for.
        guard ready != 0 else { return [] }
        return entry.revents == 0 ? events : PollEvents(rawValue: entry.revents)
    }

    /// The soft and hard limits of `resource` (`RLIM_INFINITY` is `UInt64.max`). The corresponding C function is
    /// `getrlimit(2)`. A scripted success (`SystemCallInterposer`) answers zero for both.
    public static func resourceLimit(_ resource: ResourceLimit) throws(Errno) -> (soft: UInt64, hard: UInt64) {
        var limit = rlimit()
        try nothingOrErrno(.resourceLimit(resource)) {
            limit = rlimit()
            return getrlimit(resource.resource, &limit)
        }.get()
        return (UInt64(limit.rlim_cur), UInt64(limit.rlim_max))
    }

    /// Sets the process's file mode creation mask. The corresponding C function is `umask(2)`, which cannot fail:
    /// only a scripted failure (`SystemCallInterposer`) throws.
    /// - Returns: the previous mask.
    @discardableResult
    public static func setFileCreationMask(_ mask: FilePermissions) throws(Errno) -> FilePermissions {
        let previous = try valueOrErrno(.setFileCreationMask(mask)) { umask(mode_t(mask.rawValue)) }.get()
        return FilePermissions(rawValue: CModeT(previous))
    }

    /// Makes the process ignore `signal` (`SIGIO`, say). The corresponding C function is `sigaction(2)` with
    /// `SIG_IGN`.
    public static func ignoreSignal(_ signal: CInt) throws(Errno) {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = SIG_IGN
        sigemptyset(&action.sa_mask)
        try nothingOrErrno(.ignoreSignal(signal)) { sigaction(signal, &action, nil) }.get()
    }

    /// Whether `descriptor` is a terminal; any failure (`ENOTTY`, `EBADF`) is `false`. The corresponding C
    /// function is `isatty(3)` (`ioctl(2)` with `TCGETS`).
    public static func isTerminal(_ descriptor: CInt) -> Bool {
        let answer = outcome(.isTerminal(descriptor)) {
            isatty(descriptor) == 1 ? .success(1) : .failure(currentErrno)
        }
        return (try? answer.get()) != nil
    }
}
