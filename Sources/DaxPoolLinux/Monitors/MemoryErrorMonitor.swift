import CLinuxShims
import DaxPoolCore
import DaxPoolSystem
import Dispatch
import Glibc
import Synchronization
import SystemPackage

/// Receives the kernel's memory-error signals: `SIGBUS` with `BUS_MCEERR_AO` (action optional, sent early
/// to every process mapping the poisoned page when `PR_MCE_KILL_EARLY` is set) and `BUS_MCEERR_AR` (action
/// required, on access). The handler (C, `cshim_memory_errors_install`) only queues the signal and writes a
/// byte to a pipe; this type drains the queue on a thread of its own and hands each error to `onError`.
/// A synchronous `SIGBUS` inside `guardedZero` is caught and reported instead of killing the process.
public final class MemoryErrorMonitor: Sendable {
    /// One memory-error signal.
    public struct Report: Sendable, Equatable {
        /// `BUS_MCEERR_AR` (4) or `BUS_MCEERR_AO` (5), or another `si_code` for a guarded fault.
        public var code: Int32
        /// `si_addr`: the virtual address the error was reported at.
        public var address: UInt
        /// log2 of the poisoned granule (`si_addr_lsb`): 12 for a 4 KiB page, 21 for 2 MiB, 30 for 1 GiB.
        public var granuleShift: Int

        /// Whether it is `BUS_MCEERR_AR`: the process touched poisoned memory and cannot go on with that access.
        public var isActionRequired: Bool { code == 4 }
        /// Whether it is a machine-check memory error (`BUS_MCEERR_AR` or `BUS_MCEERR_AO`), not another bus fault.
        public var isMemoryError: Bool { code == 4 || code == 5 }
    }

    private let readDescriptor: Int32
    private let writeDescriptor: Int32
    private let stopped = Atomic<Bool>(false)

    /// Installs the handler (once per process) and asks for early notification when `earlyKill` is set.
    public init(earlyKill: Bool = true) throws(BackendError) {
        let ends: (read: CInt, write: CInt)
        do throws(Errno) {
            ends = try Syscall.pipe(options: .closeOnExec)
        } catch {
            throw BackendError("pipe2", "", error, "cannot create the memory-error pipe")
        }
        readDescriptor = ends.read
        writeDescriptor = ends.write
        try? Syscall.setNonBlocking(writeDescriptor)
        guard cshim_memory_errors_install(writeDescriptor, earlyKill ? 1 : 0) == 0 else {
            let code = errno
            try? Syscall.close(readDescriptor)
            try? Syscall.close(writeDescriptor)
            throw BackendError(
                "sigaction/prctl(PR_MCE_KILL)", "", Errno(rawValue: code),
                "cannot install the SIGBUS handler for memory errors: \(String(cString: strerror(code)))"
            )
        }
    }

    deinit {
        try? Syscall.close(readDescriptor)
        try? Syscall.close(writeDescriptor)
    }

    /// The oldest queued report, if any (non-blocking).
    public func next() -> Report? {
        var record = cshim_memory_error()
        guard cshim_memory_errors_next(&record) == 1 else { return nil }
        return Report(code: record.code, address: UInt(record.address), granuleShift: Int(record.addressLSB))
    }

    /// Starts a thread that blocks on the notification pipe and calls `onError` for every report, until
    /// `stop()`.
    public func start(onError: @escaping @Sendable (Report) -> Void) {
        let descriptor = readDescriptor
        DispatchQueue(label: "daxpool.memory-errors").async {
            var byte: UInt8 = 0
            while !self.stopped.load(ordering: .relaxed) {
                // The funnel retries the read when a signal (a memory error's own) interrupts it.
                let count = (try? withUnsafeMutableBytes(of: &byte) { try Syscall.read(descriptor, into: $0) }) ?? -1
                if count <= 0 { break }
                while let report = self.next() { onError(report) }
            }
        }
    }

    /// Stops the draining thread.
    public func stop() {
        stopped.store(true, ordering: .relaxed)
        let byte: UInt8 = 0
        _ = try? withUnsafeBytes(of: byte) { try Syscall.write(writeDescriptor, from: $0) }
    }

    /// Zeroes memory with a guard: a synchronous `SIGBUS` inside the range ends the zeroing and comes back
    /// as a report instead of killing the daemon.
    public static func guardedZero(_ buffer: UnsafeMutableRawBufferPointer) -> Report? {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return nil }
        var fault = cshim_memory_error()
        guard cshim_guarded_scrub(ScrubKind.memset.shimValue, base, buffer.count, &fault) != 0 else { return nil }
        return Report(code: fault.code, address: UInt(fault.address), granuleShift: Int(fault.addressLSB))
    }

    /// Sends this thread a memory-error `SIGBUS` as the kernel would (for tests and drills).
    public static func raise(code: Int32, address: UnsafeRawPointer, granuleShift: Int) -> Bool {
        cshim_raise_memory_error(code, UnsafeMutableRawPointer(mutating: address), Int32(granuleShift)) == 0
    }
}
