// Linux only: every libc call of DaxPoolLinux goes through `Syscall`.
import Glibc
import SystemPackage

/// The single place where DaxPoolLinux calls libc: thin typed wrappers over system calls, each built on
/// one funnel that turns a `-1` return into the current `Errno` and retries on `EINTR`.
///
/// Wrappers take `FilePath` and raw C values; the owning types (`OwnedDescriptor`, `MemoryMapping`) and
/// the backends give them meaning.
public enum Syscall {
    /// Runs `body`, retrying on `EINTR` when `retryOnInterrupt`, and turns `-1` into `errno`.
    public static func valueOrErrno<Value: FixedWidthInteger>(
        retryOnInterrupt: Bool = true,
        _ body: () -> Value
    ) -> Result<Value, Errno> {
        while true {
            let value = body()
            if value != -1 { return .success(value) }
            let error = Errno(rawValue: Glibc.errno)
            if retryOnInterrupt && error == .interrupted { continue }
            return .failure(error)
        }
    }

    /// `valueOrErrno` for calls whose only result is success or failure.
    public static func nothingOrErrno<Value: FixedWidthInteger>(
        retryOnInterrupt: Bool = true,
        _ body: () -> Value
    ) -> Result<Void, Errno> {
        valueOrErrno(retryOnInterrupt: retryOnInterrupt, body).map { _ in () }
    }

    /// Runs `body` with `path` as a C string.
    public static func withCString<Value>(
        _ path: FilePath,
        _ body: (UnsafePointer<CChar>) -> Result<Value, Errno>
    ) throws(Errno) -> Value {
        try path.withPlatformString(body).get()
    }
}
