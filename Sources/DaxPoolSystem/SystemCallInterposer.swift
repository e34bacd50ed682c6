// Linux only.
import Synchronization
import SystemPackage

/// Something that stands between the `Syscall` funnel and the kernel, for tests: it sees every system call the
/// funnel makes in the task it is installed in (`SystemInterposition.withInterposer`), and decides each one.
public protocol SystemCallInterposer: Sendable {
    /// Decides `call`: either runs `perform` (the real call, exactly once) and returns what it returned, or
    /// returns a scripted outcome without calling the kernel.
    ///
    /// The success value is the call's C return value (a descriptor, a byte count, an offset, `0`). For a call
    /// that fills a structure (`stat`, `statvfs`) or lists names, a scripted success leaves the structure zeroed
    /// and the list empty. An `.interrupted` failure is retried by the funnel (asking again) where the real call
    /// would be.
    func interpose(_ call: SystemCall, perform: () -> Result<Int, Errno>) -> Result<Int, Errno>
}

/// Installs a `SystemCallInterposer` for the calls one task makes (a task-local value, so tasks running in
/// parallel, such as tests, never see each other's interposer). Threads the task starts do not inherit it.
public enum SystemInterposition {
    /// The interposer of the current task.
    @TaskLocal static var current: (any SystemCallInterposer)? = nil

    /// How many `withInterposer` calls are running in the whole process: while none is, the funnel does not
    /// even look up the task-local value.
    static let installed = Atomic<Int>(0)

    /// The interposer that decides calls made now, or `nil` (the common case, found with one relaxed load).
    @inline(__always)
    static var active: (any SystemCallInterposer)? {
        installed.load(ordering: .relaxed) == 0 ? nil : current
    }

    /// Runs `operation` with `interposer` deciding every system call it makes through the funnel.
    public static func withInterposer<Result, Failure: Error>(
        _ interposer: any SystemCallInterposer, _ operation: () throws(Failure) -> Result
    ) throws(Failure) -> Result {
        installed.add(1, ordering: .relaxed)
        defer { installed.subtract(1, ordering: .relaxed) }
        let outcome = $current.withValue(interposer) {
            Swift.Result { () throws(Failure) -> Result in try operation() }
        }
        return try outcome.get()
    }

    /// Runs the asynchronous `operation` with `interposer` deciding every system call it (and the child tasks it
    /// starts) make through the funnel.
    public static func withInterposer<Result>(
        _ interposer: any SystemCallInterposer, _ operation: () async throws -> Result
    ) async rethrows -> Result {
        installed.add(1, ordering: .relaxed)
        defer { installed.subtract(1, ordering: .relaxed) }
        return try await $current.withValue(interposer, operation: operation)
    }
}
