// Linux only.
import DaxPoolCore
import DaxPoolSystem
import SystemPackage

extension PooledFileBackend {
    /// The device files in the region's directory (`daxR.N` and `.daxR.N.disabled` of this region), with their sizes
    /// and owners: evidence for `daxpool recover`. Empty when the directory cannot be read.
    public func heldMemory(in region: RegionConfig) -> [HeldMemory] {
        guard let directory = try? deviceDirectory(region, operation: "recover") else { return [] }
        return heldMemory(of: region, inDirectory: directory)
    }

    /// The device files of `region` in `directory` (the region's, or one of its parts'), with sizes and owners.
    func heldMemory(of region: RegionConfig, inDirectory directory: FilePath) -> [HeldMemory] {
        guard let names = try? Syscall.directoryEntries(directory) else { return [] }
        var result: [HeldMemory] = []
        for name in names.sorted() {
            guard let device = ShmDeviceFiles.device(fromFileName: name), device.region == region.id,
                let status = try? Syscall.linkStatusIfPresent(directory.appending(name)), status.isRegularFile
            else { continue }
            result.append(
                HeldMemory(
                    device: device, size: ByteCount(UInt64(max(status.size, 0))),
                    enabled: name == ShmDeviceFiles.enabledName(device), owner: status.ownerUID))
        }
        return result
    }
}

extension ShmBackend: MemoryInventory {}
extension HugetlbBackend: MemoryInventory {}
