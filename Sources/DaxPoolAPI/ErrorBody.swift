/// The one JSON error object every failing API call and CLI command prints.
public struct ErrorBody: Hashable, Sendable, Codable, Error {
    /// A stable machine-readable code, e.g. `insufficient_space`, `not_found`, `bad_request`.
    public var code: String
    /// What went wrong and what to do.
    public var message: String
    /// The HTTP status (0 when the CLI never reached the daemon).
    public var status: Int

    /// An error body with `code`, `message` and HTTP `status`.
    public init(code: String, message: String, status: Int) {
        self.code = code
        self.message = message
        self.status = status
    }
}
