/// A backend's refusal of a request that names what the host does not have: a dax region or nd namespace the
/// kernel lacks, a NUMA node that does not exist. It is the caller's mistake, not a failure of the backend: the API
/// answers it with a 4xx and `code`, and `message` says what exists and what to ask for instead. A backend throws it
/// before it changes anything.
public struct BackendRefusal: Error, Equatable, Sendable, CustomStringConvertible {
    /// What the request named that the host does not have.
    public enum Reason: String, Equatable, Sendable {
        /// A devdax region for a dax region the kernel does not have (404).
        case noSuchDaxRegion = "no_such_dax_region"
        /// A devdax region from an nd namespace the kernel does not have (404).
        case noSuchNamespace = "no_such_namespace"
        /// A value the host cannot take, such as a NUMA node that does not exist (400).
        case invalidRequest = "bad_request"
        /// A hugetlb region while HugeTLB Vmemmap Optimization is off and the creator did not say `--hvo on` or
        /// `--hvo off` (409).
        case vmemmapOptimizationOff = "hvo_off"
        /// A hugetlb region with `--hvo on`, or without `--hvo off`, on a kernel without HVO (409).
        case vmemmapOptimizationUnavailable = "hvo_unavailable"
    }

    /// What the request named that the host lacks; decides the HTTP status and `code`.
    public var reason: Reason
    /// What was asked, what the host has, and what to ask for instead.
    public var message: String

    /// A refusal for `reason`, with `message` saying what exists and what to ask for instead.
    public init(_ reason: Reason, _ message: String) {
        self.reason = reason
        self.message = message
    }

    /// The API's error code: `no_such_dax_region`, `no_such_namespace`, `bad_request`, `hvo_off` or
    /// `hvo_unavailable`.
    public var code: String { reason.rawValue }

    /// The message: what was asked, what the host has, what to ask for instead.
    public var description: String { message }
}
