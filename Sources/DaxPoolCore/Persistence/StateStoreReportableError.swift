/// A `StateStore` error that says what went wrong in terms the API reports with their own code instead of
/// `internal_error`, such as a full label storage area (nothing was changed; freeing room fixes it). The server
/// alone decides the code and HTTP status of each kind.
public protocol StateStoreReportableError: Error, CustomStringConvertible {
    /// What kind of failure it is.
    var failureKind: StateStoreFailureKind { get }
}

/// What went wrong in a `StateStore`, as far as a caller of the API needs to know.
public enum StateStoreFailureKind: Hashable, Sendable, CaseIterable {
    /// The store has no room for the new state: nothing was changed, and freeing room fixes it.
    case areaFull
    /// The persisted state is in doubt, so the store takes no change.
    case stateInDoubt
    /// The store could not read or write the state.
    case failed
}
