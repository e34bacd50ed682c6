extension LabelUUID: Codable {
    /// Decodes a JSON string in 8-4-4-4-12 hex form.
    /// - Throws: `DecodingError.dataCorrupted` when the string is not a UUID.
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let uuid = LabelUUID(text) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "'\(text)' is not a UUID (8-4-4-4-12 hex)")
            )
        }
        self = uuid
    }

    /// Encodes the UUID as a JSON string in lowercase 8-4-4-4-12 hex form.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
