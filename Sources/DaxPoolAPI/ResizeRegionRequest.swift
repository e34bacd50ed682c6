/// `PATCH /v1/regions/{region}`: the region's new size.
public struct ResizeRegionRequest: Hashable, Sendable, Codable {
    /// A whole number of the region's pages, greater than zero.
    public var size: SizeValue

    /// A request to resize the region to `size` bytes.
    public init(size: SizeValue) {
        self.size = size
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case size
    }
}

extension ResizeRegionRequest: KeyedRequestBody {
    /// `size` only; the daemon refuses any other key.
    public static var requestKeys: RequestKeys { RequestKeys(CodingKeys.self) }
}
