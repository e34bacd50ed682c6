/// The one JSON error object every failing API call and CLI command prints.
public struct ErrorBody: Hashable, Sendable, Codable, Error {
    /// The stable machine-readable code, e.g. `insufficient_space`: an `ErrorCode` raw value. It stays a string so
    /// that a client reads a code from a newer daemon it does not know (`knownCode` is `nil` then).
    public var code: String
    /// What went wrong and what to do.
    public var message: String
    /// The HTTP status the daemon answered with; `nil` (and absent from the JSON) for an error the client or the CLI
    /// raised itself, where no daemon answered.
    public var status: Int?

    /// An error body with `code` and `message`; `status` is the daemon's HTTP status, `nil` when no daemon answered.
    public init(code: ErrorCode, message: String, status: Int? = nil) {
        self.code = code.rawValue
        self.message = message
        self.status = status
    }

    /// `code` as an `ErrorCode`, or `nil` for a code this build does not know.
    public var knownCode: ErrorCode? { ErrorCode(rawValue: code) }
}
