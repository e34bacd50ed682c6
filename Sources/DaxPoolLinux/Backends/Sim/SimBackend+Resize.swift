import DaxPoolCore

extension SimBackend {
    /// A simulated region has nothing behind it: the new size is all there is to change.
    public func resizeRegion(_ config: RegionConfig, to newSize: ByteCount) -> RegionConfig {
        var resized = config
        resized.size = newSize
        return resized
    }
}
