/// The keys a request body's JSON object may hold, and the keys of the objects nested in it (under a key whose
/// value is an object or an array of objects). The daemon refuses a body with any other key, so that a misspelt
/// field (`"sizee"`) is an error rather than silently ignored.
public struct RequestKeys: Hashable, Sendable {
    /// Every key the object may hold.
    public var known: Set<String>
    /// The keys of the objects under `key` (its value, or each element of its array).
    public var nested: [String: RequestKeys]

    /// The keys `known`, with the keys of the objects under some of them in `nested`.
    public init(_ known: some Sequence<String>, nested: [String: RequestKeys] = [:]) {
        self.known = Set(known)
        self.nested = nested
    }

    /// The string values of a type's coding keys.
    public init<Keys: CodingKey & CaseIterable>(_ keys: Keys.Type, nested: [String: RequestKeys] = [:]) {
        self.init(keys.allCases.map(\.stringValue), nested: nested)
    }
}

/// A JSON request body whose keys the daemon checks before it decodes it.
public protocol KeyedRequestBody: Decodable {
    /// The keys the body's top-level object may hold (its `CodingKeys`), and those of nested objects.
    static var requestKeys: RequestKeys { get }
}
