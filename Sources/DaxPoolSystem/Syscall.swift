// Linux only: every system call of daxpool goes through `Syscall`.
import Glibc
import SystemPackage

/// The single place where daxpool makes system calls: thin typed wrappers, each built on one funnel that describes
/// the call (`SystemCall`), lets a test's interposer decide it (`SystemInterposition`), turns a `-1` return into
/// the current `Errno` and retries on `EINTR`.
///
/// Wrappers take `FilePath`, descriptors and typed flags; the owning types (`OwnedDescriptor`, `MemoryMapping`)
/// and the backends give them meaning.
public enum Syscall {
    /// Runs `body` (a C call returning `-1` and setting `errno` on failure) for `call`, retrying on `EINTR` when
    /// `retryOnInterrupt`, and turns `-1` into `errno`. An installed interposer decides each attempt.
    static func valueOrErrno<Value: FixedWidthInteger>(
        _ call: @autoclosure () -> SystemCall,
        retryOnInterrupt: Bool = true,
        _ body: () -> Value
    ) -> Result<Value, Errno> {
        guard let interposer = SystemInterposition.active else {
            return attempts(retryOnInterrupt: retryOnInterrupt, body)
        }
        let described = call()
        while true {
            let outcome = interposer.interpose(described) {
                attempts(retryOnInterrupt: false, body).map { Int(truncatingIfNeeded: $0) }
            }
            if retryOnInterrupt, case .failure(.interrupted) = outcome { continue }
            return outcome.map { Value(truncatingIfNeeded: $0) }
        }
    }

    /// `valueOrErrno` for calls whose only result is success or failure.
    static func nothingOrErrno<Value: FixedWidthInteger>(
        _ call: @autoclosure () -> SystemCall,
        retryOnInterrupt: Bool = true,
        _ body: () -> Value
    ) -> Result<Void, Errno> {
        valueOrErrno(call(), retryOnInterrupt: retryOnInterrupt, body).map { _ in () }
    }

    /// Runs `body`, which makes a call that reports failure some other way than `-1` (a `NULL` pointer, a
    /// stream), for `call`: `body` returns that call's outcome and is run once per attempt, the interposer (if
    /// any) deciding each attempt; `EINTR` is retried.
    static func outcome(_ call: @autoclosure () -> SystemCall, _ body: () -> Result<Int, Errno>) -> Result<Int, Errno> {
        guard let interposer = SystemInterposition.active else {
            while true {
                let outcome = body()
                if case .failure(.interrupted) = outcome { continue }
                return outcome
            }
        }
        let described = call()
        while true {
            let outcome = interposer.interpose(described, perform: body)
            if case .failure(.interrupted) = outcome { continue }
            return outcome
        }
    }

    /// The calls themselves: `-1` becomes `errno`, retried on `EINTR` when `retryOnInterrupt`.
    private static func attempts<Value: FixedWidthInteger>(retryOnInterrupt: Bool, _ body: () -> Value) -> Result<
        Value, Errno
    > {
        while true {
            let value = body()
            if value != -1 { return .success(value) }
            let error = Errno(rawValue: Glibc.errno)
            if retryOnInterrupt && error == .interrupted { continue }
            return .failure(error)
        }
    }

    /// Runs `body` with `path` as a C string.
    static func withCString<Value>(
        _ path: FilePath,
        _ body: (UnsafePointer<CChar>) -> Result<Value, Errno>
    ) throws(Errno) -> Value {
        try path.withPlatformString(body).get()
    }

    /// The current `errno` as an `Errno`.
    static var currentErrno: Errno { Errno(rawValue: Glibc.errno) }
}
