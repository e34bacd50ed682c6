import DaxPoolCore

/// The planning backend: regions and devices are ranges only, with no memory behind them and no device
/// paths. Every operation succeeds, so capacity plans and control-plane benchmarks run at TiB scale anywhere.
public struct SimBackend: MemoryBackend {
    public var kind: BackendKind { .sim }

    public init() {}

    /// Returns `request` unchanged: nothing is reserved.
    public func createRegion(_ request: RegionConfig) -> RegionConfig { request }

    public func destroyRegion(_ config: RegionConfig) {}

    /// `nil`: a simulated device has nothing to open.
    public func devicePath(_ device: DeviceID, in region: RegionConfig) -> String? { nil }

    public func provisionDevice(_ device: DeviceID, size: ByteCount, extents: [Extent], in region: RegionConfig) {}

    public func setDeviceEnabled(_ device: DeviceID, enabled: Bool, in region: RegionConfig) {}

    public func destroyDevice(_ device: DeviceID, in region: RegionConfig) {}

    public func reconcile(_ region: RegionConfig, devices: [(record: DeviceRecord, extents: [Extent])]) {}
}
