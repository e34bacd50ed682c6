import DaxPoolCore
import Logging

extension PoolService {
    /// The ids the system's own memory regions hold (the kernel's dax and nd regions, from the devdax backend):
    /// daxpool gives none of them to a region of another backend, so that each kernel region can be adopted under
    /// its own id, as `daxctl list -R` names it.
    func systemRegionIDs() -> Set<Int> {
        backends.values.reduce(into: Set<Int>()) { $0.formUnion($1.systemRegionIDs()) }
    }

    /// The lowest region id that neither a region of the pool, a region being destroyed nor a kernel region holds:
    /// the id of a new shm, hugetlb or sim region.
    func freeRegionID() -> Int {
        let system = systemRegionIDs()
        var id = model.nextRegionID
        while system.contains(id) || model.regions[id] != nil || model.retiringRegions.contains(id) { id += 1 }
        return id
    }
}

extension PoolService {
    /// Whether the embedded default shm region is left out because the host has kernel dax or nd regions: there the
    /// memory to serve is the kernel's, adopted with `create-region --backend devdax --dax-region N`, and a default
    /// region would only take memory and, before this rule, region id 0 from the kernel's region 0. Logs the regions
    /// and the command.
    func skipsDefaultRegionForKernelRegions() -> Bool {
        let kernel = systemRegionIDs().sorted()
        guard let first = kernel.first else { return false }
        logger.notice(
            "made no default shm region: the kernel has memory regions to adopt",
            metadata: [
                "kernel_regions": "\(kernel.map(String.init).joined(separator: ", "))",
                "adopt": "daxpool create-region --backend devdax --dax-region \(first)",
            ])
        return true
    }
}
