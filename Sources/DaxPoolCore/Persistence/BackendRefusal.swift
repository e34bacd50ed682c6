/// A backend's refusal of a request that names what the host does not have: a dax region or nd namespace the
/// kernel lacks, a NUMA node that does not exist. It is the caller's mistake, not a failure of the backend: the API
/// answers it as a refusal of the request (the server maps `reason` to the code and status), and `message` says what
/// exists and what to ask for instead. A backend throws it before it changes anything.
public struct BackendRefusal: Error, Equatable, Sendable, CustomStringConvertible {
    /// What the request named that the host does not have.
    public enum Reason: Equatable, Sendable, CaseIterable {
        /// A devdax region for a dax region the kernel does not have.
        case noSuchDaxRegion
        /// A devdax region from an nd namespace the kernel does not have.
        case noSuchNamespace
        /// A value the host cannot take, such as a NUMA node that does not exist.
        case invalidRequest
        /// A hugetlb region while HugeTLB Vmemmap Optimization is off and the creator did not say `--hvo on` or
        /// `--hvo off`.
        case vmemmapOptimizationOff
        /// A hugetlb region with `--hvo on`, or without `--hvo off`, on a kernel without HVO.
        case vmemmapOptimizationUnavailable
    }

    /// What the request named that the host lacks; decides the API's code.
    public var reason: Reason
    /// What was asked, what the host has, and what to ask for instead.
    public var message: String

    /// A refusal for `reason`, with `message` saying what exists and what to ask for instead.
    public init(_ reason: Reason, _ message: String) {
        self.reason = reason
        self.message = message
    }

    /// The message: what was asked, what the host has, what to ask for instead.
    public var description: String { message }
}
