import DaxPoolCore

/// The planning backend: regions and devices are ranges only, with no memory behind them and no device
/// paths. Every operation succeeds, so capacity plans and control-plane benchmarks run at TiB scale anywhere.
public struct SimBackend: MemoryBackend {
    /// `sim`.
    public var kind: BackendKind { .sim }

    /// A planning backend; it holds no state.
    public init() {}

    /// Returns `request` unchanged: nothing is reserved.
    public func createRegion(_ request: RegionConfig) -> RegionConfig { request }

    /// Does nothing: nothing was reserved.
    public func destroyRegion(_ config: RegionConfig) {}

    /// `nil`: a simulated device has nothing to open.
    public func devicePath(_ device: DeviceID, in region: RegionConfig) -> String? { nil }

    /// Does nothing: a simulated device has no memory.
    public func provisionDevice(_ device: DeviceID, size: ByteCount, extents: [Extent], in region: RegionConfig) {}

    /// Does nothing: a simulated device has no path to show or hide.
    public func setDeviceEnabled(_ device: DeviceID, enabled: Bool, in region: RegionConfig) {}

    /// Does nothing: there is no memory to free.
    public func destroyDevice(_ device: DeviceID, in region: RegionConfig) {}

    /// Does nothing: there is nothing on the system to bring in line.
    public func reconcile(_ region: RegionConfig, devices: [(record: DeviceRecord, extents: [Extent])]) {}
}
