// Linux only.
import DaxPoolCore
import DaxPoolSystem
import Glibc
import SystemPackage

/// The kernel's per-node huge page pools in sysfs:
/// `<root>/node<N>/hugepages/hugepages-<kB>kB/nr_hugepages` (root defaults to `/sys/devices/system/node`).
/// Writing needs root.
public struct HugetlbSysfsPageCounter: HugetlbPageCounter {
    /// The sysfs node directory (`/sys/devices/system/node`; a directory tree in tests).
    public let root: String

    /// A counter for the pools under `root`.
    public init(root: String = NUMANodes.sysfsRoot) {
        self.root = root
    }

    /// `<root>/node<N>/hugepages/hugepages-<kB>kB/nr_hugepages`.
    public func path(node: Int, pageSize: Alignment) -> FilePath {
        FilePath("\(root)/node\(node)/hugepages/hugepages-\(pageSize.rawValue >> 10)kB/nr_hugepages")
    }

    /// Reads `nr_hugepages`. A missing file means the node or the page size does not exist, and the error says
    /// which nodes and sizes do.
    /// The corresponding C functions are `open(2)` and `pread(2)`.
    public func count(node: Int, pageSize: Alignment) throws(BackendError) -> Int {
        let path = path(node: node, pageSize: pageSize)
        let text: String
        do throws(Errno) {
            let file = try OwnedDescriptor.open(path, .readOnly, options: .noFollow)
            text = String(decoding: try file.readToEnd(), as: UTF8.self)
        } catch .noSuchFileOrDirectory {
            throw missing(node: node, pageSize: pageSize, path: path)
        } catch {
            throw BackendError("reserve-hugepages", path, error, "cannot read \(path): \(error)")
        }
        guard let value = Int(NUMANodes.trimmed(text)), value >= 0 else {
            throw BackendError("reserve-hugepages", path, .badMessage, "\(path) holds '\(text)', not a page count")
        }
        return value
    }

    /// Writes `nr_hugepages` with one `write(2)`. The kernel may allocate fewer pages than asked without an error.
    /// The corresponding C functions are `open(2)` and `pwrite(2)`.
    public func setCount(_ count: Int, node: Int, pageSize: Alignment) throws(BackendError) {
        let path = path(node: node, pageSize: pageSize)
        do throws(Errno) {
            let file = try OwnedDescriptor.open(path, .writeOnly, options: .noFollow)
            try file.writeAll(Array("\(count)\n".utf8))
        } catch .noSuchFileOrDirectory {
            throw missing(node: node, pageSize: pageSize, path: path)
        } catch .permissionDenied {
            throw BackendError(
                "reserve-hugepages", path, .permissionDenied,
                "cannot write \(path): reserving huge pages needs root. Run the daemon as root or use the shm backend"
            )
        } catch {
            throw BackendError("reserve-hugepages", path, error, "writing \(count) to \(path) failed: \(error)")
        }
    }

    /// The error for a node or page size that sysfs does not have.
    private func missing(node: Int, pageSize: Alignment, path: FilePath) -> BackendError {
        let nodes = (try? NUMANodes.online(root: root)) ?? []
        let nodeList = nodes.map(String.init).joined(separator: ", ")
        guard nodes.contains(node) else {
            return BackendError(
                "reserve-hugepages", path, .noSuchFileOrDirectory,
                "NUMA node \(node) does not exist on this host (online nodes: \(nodeList.isEmpty ? "none" : nodeList)): "
                    + "ask for one of those with --node"
            )
        }
        let sizes = (try? Syscall.directoryEntries(FilePath("\(root)/node\(node)/hugepages"))) ?? []
        return BackendError(
            "reserve-hugepages", path, .noSuchFileOrDirectory,
            "the kernel has no \(pageSize) huge pages on node \(node) (it offers \(sizes.sorted().joined(separator: ", "))): "
                + "choose another --page-size, or boot with hugepagesz=\(pageSize) for 1G pages"
        )
    }
}
