// Linux only.
import DaxPoolCore
import DaxPoolSystem
import SystemPackage

/// HugeTLB Vmemmap Optimization (HVO): whether the kernel frees most of the `struct page` metadata of the huge
/// pages it allocates. The setting is `/proc/sys/vm/hugetlb_optimize_vmemmap` (Linux 5.19; a kernel built without
/// `CONFIG_HUGETLB_PAGE_OPTIMIZE_VMEMMAP` has no such file). It is system-wide, and it acts on a page when the
/// kernel allocates the page: pages allocated while it was off keep their full metadata.
public enum HugetlbVmemmapOptimization {
    /// `/proc/sys/vm/hugetlb_optimize_vmemmap`.
    public static let sysctlPath = "/proc/sys/vm/hugetlb_optimize_vmemmap"

    /// Whether HVO is on now, or `nil` when the kernel does not offer it.
    /// The corresponding C functions are `open(2)` and `pread(2)`.
    public static func isEnabled(sysctlPath: String = sysctlPath) -> Bool? {
        guard let bytes = try? AtomicFile.read(path: sysctlPath) else { return nil }
        return NUMANodes.trimmed(String(decoding: bytes, as: UTF8.self)) != "0"
    }

    /// Turns HVO on for the whole host: writes `1` to the sysctl with one `write(2)` and reads it back.
    /// The corresponding C functions are `open(2)` and `pwrite(2)`.
    /// - Throws: `BackendError`: `ENOENT` when the kernel has no HVO, `EACCES`/`EPERM` without root, `EIO` when the
    ///   setting still reads 0 afterwards; each says that nothing was reserved and what to do instead.
    public static func enable(sysctlPath: String = sysctlPath, operation: String) throws(BackendError) {
        let path = FilePath(sysctlPath)
        let remedy =
            "nothing was reserved: turn it on yourself (sysctl -w vm.hugetlb_optimize_vmemmap=1), or pass "
            + "--hvo off to accept the full page metadata"
        do throws(Errno) {
            let file = try OwnedDescriptor.open(path, .writeOnly, options: .noFollow)
            try file.writeAll(Array("1\n".utf8))
        } catch .noSuchFileOrDirectory {
            throw BackendError(
                operation, path, .noSuchFileOrDirectory,
                "cannot turn HugeTLB Vmemmap Optimization on: \(path) is missing (the kernel is built without "
                    + "CONFIG_HUGETLB_PAGE_OPTIMIZE_VMEMMAP); pass --hvo off to accept the full page metadata"
            )
        } catch {
            throw BackendError(
                operation, path, error,
                "cannot turn HugeTLB Vmemmap Optimization on: writing 1 to \(path) failed (\(error)); \(remedy)")
        }
        guard isEnabled(sysctlPath: sysctlPath) == true else {
            throw BackendError(
                operation, path, .ioError,
                "wrote 1 to \(path) but it does not read 1: HugeTLB Vmemmap Optimization is still off; \(remedy)")
        }
    }
}
