// Linux only.
import Glibc
import SystemPackage

extension Syscall {
    /// The signal that wakes a thread out of a blocking sysfs store (`memoryN/state` = `offline` loops until its
    /// block is empty or a signal is pending): `SIGUSR2` with a handler that does nothing and no `SA_RESTART`.
    public static let wakeSignal = SIGUSR2

    /// Installs the wake handler once per process (`sigaction(2)`).
    public static let installWakeHandler: Void = {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in }
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0
        _ = sigaction(wakeSignal, &action, nil)
    }()

    /// The calling thread, for `wake(_:)` (`pthread_self(3)`).
    public static func currentThread() -> pthread_t { pthread_self() }

    /// Sends the wake signal to `thread` (`pthread_kill(3)`): a blocking store on it returns `EINTR`.
    public static func wake(_ thread: pthread_t) {
        _ = pthread_kill(thread, wakeSignal)
    }

    /// `open(2)` + one `write(2)` of `value` to a sysfs attribute, without retrying on `EINTR`, so that a store the
    /// kernel lets a signal interrupt comes back with `.interrupted`.
    public static func writeInterruptibly(_ path: FilePath, _ value: String) throws(Errno) {
        let file = try OwnedDescriptor.open(path, .writeOnly)
        let bytes = Array(value.utf8)
        let written = try bytes.withUnsafeBytes { buffer in
            valueOrErrno(.write(file.descriptor.rawValue, count: buffer.count, offset: nil), retryOnInterrupt: false) {
                Glibc.write(file.descriptor.rawValue, buffer.baseAddress, buffer.count)
            }
        }.get()
        if written != bytes.count { throw Errno.ioError }
        try file.close()
    }
}
