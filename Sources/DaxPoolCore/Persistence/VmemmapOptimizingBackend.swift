/// A backend whose regions' page metadata depends on HugeTLB Vmemmap Optimization (hugetlb): it creates a region
/// with its creator's HVO choice, and its plain `createRegion(_:)` is this one without a choice (refused while HVO
/// is off). The daemon hands every create to this method when the backend has it.
public protocol VmemmapOptimizingBackend: MemoryBackend {
    /// Prepares a region as `createRegion(_:)` does, deciding first with `VmemmapOptimizationChoice.step` what to
    /// do about HVO: refuse (before anything is made), turn HVO on before the pages are reserved, or reserve them
    /// as HVO is.
    func createRegion(_ request: RegionConfig, vmemmapOptimization: VmemmapOptimizationChoice?) throws -> RegionConfig
}
