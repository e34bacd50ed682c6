public import DaxPoolCore

/// `PATCH /v1/regions/{region}`: the region's new size.
public struct ResizeRegionRequest: Hashable, Sendable, Codable {
    /// JSON `size`: a whole number of the region's pages, greater than zero, as bytes or a size string.
    public var size: ByteCount

    /// A request to resize the region to `size` bytes.
    public init(size: ByteCount) {
        self.size = size
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case size
    }

    /// Decodes a body, checking the size as it goes.
    /// - Throws: `DecodingError` naming the field and the size grammar for a size of the wrong form.
    public init(from decoder: any Decoder) throws {
        size = try decoder.container(keyedBy: CodingKeys.self).decodeSize(forKey: .size)
    }
}

extension ResizeRegionRequest: KeyedRequestBody {
    /// `size` only; the daemon refuses any other key.
    public static var requestKeys: RequestKeys { RequestKeys(CodingKeys.self) }
}
