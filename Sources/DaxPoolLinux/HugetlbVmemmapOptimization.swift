// Linux only.
import DaxPoolCore

/// HugeTLB Vmemmap Optimization (HVO): whether the kernel frees most of the `struct page` metadata of the huge
/// pages it allocates. The setting is `/proc/sys/vm/hugetlb_optimize_vmemmap` (Linux 5.19; a kernel built without
/// `CONFIG_HUGETLB_PAGE_OPTIMIZE_VMEMMAP` has no such file).
public enum HugetlbVmemmapOptimization {
    /// `/proc/sys/vm/hugetlb_optimize_vmemmap`.
    public static let sysctlPath = "/proc/sys/vm/hugetlb_optimize_vmemmap"

    /// Whether HVO is on now, or `nil` when the kernel does not offer it.
    /// The corresponding C functions are `open(2)` and `pread(2)`.
    public static func isEnabled(sysctlPath: String = sysctlPath) -> Bool? {
        guard let bytes = try? AtomicFile.read(path: sysctlPath) else { return nil }
        return NUMANodes.trimmed(String(decoding: bytes, as: UTF8.self)) != "0"
    }
}
