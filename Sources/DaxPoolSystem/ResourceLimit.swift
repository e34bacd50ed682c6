// Linux only.
import Glibc

/// A resource whose limits `getrlimit(2)` reports.
public enum ResourceLimit: Hashable, Sendable {
    /// The number of descriptors a process may have open. The corresponding C constant is `RLIMIT_NOFILE`.
    case openFiles

    /// The `RLIMIT_*` value.
    var resource: __rlimit_resource_t {
        switch self {
        case .openFiles: __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        }
    }
}
