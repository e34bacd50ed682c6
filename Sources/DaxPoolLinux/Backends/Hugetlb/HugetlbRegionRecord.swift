// Linux only.
import DaxPoolCore
import DaxPoolSystem
import SystemPackage

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What a hugetlb region took from the host, kept beside its mount in `<mount>/../region<id>.hugetlb.json`
/// (written with `AtomicFile`), so that destroying the region gives back exactly the pages it added even after
/// a daemon restart.
///
/// The reservation lives as long as the running kernel: `bootID` (`/proc/sys/kernel/random/boot_id`) tells a
/// record from an earlier boot, whose pages are gone, from this boot's.
public struct HugetlbRegionRecord: Hashable, Sendable, Codable {
    /// JSON `region`: the daxpool region id.
    public var region: Int
    /// JSON `node`: the NUMA node whose pool the pages were added to.
    public var node: Int
    /// JSON `page_size`: the huge page size in bytes (2097152 or 1073741824).
    public var pageSize: Alignment
    /// The pages this region added on top of the node's pool; exactly these are given back.
    public var pagesAdded: Int
    /// Whether HVO (`/proc/sys/vm/hugetlb_optimize_vmemmap`) was on when the pages were reserved: it decides the
    /// pages' metadata overhead for as long as they exist.
    public var vmemmapOptimized: Bool
    /// JSON `unoptimized_pages`: how many of the region's pages were reserved while HVO was off (a grow reserves
    /// its pages with the setting of its time), at most the region's pages; `nil` in records written before, whose
    /// pages all follow `vmemmapOptimized`. A shrink cannot tell which pages the kernel frees, so it keeps as many
    /// of these as the smaller region has pages: the region's page metadata is never under-counted.
    public var unoptimizedPages: Int?
    /// JSON `boot_id`: `/proc/sys/kernel/random/boot_id` when the pages were reserved.
    public var bootID: String
    /// JSON `mount_point`: the hugetlbfs mount the region's files live on.
    public var mountPoint: String

    /// A record with every field given.
    public init(
        region: Int, node: Int, pageSize: Alignment, pagesAdded: Int, vmemmapOptimized: Bool, bootID: String,
        mountPoint: String, unoptimizedPages: Int? = nil
    ) {
        self.unoptimizedPages = unoptimizedPages
        self.region = region
        self.node = node
        self.pageSize = pageSize
        self.pagesAdded = pagesAdded
        self.vmemmapOptimized = vmemmapOptimized
        self.bootID = bootID
        self.mountPoint = mountPoint
    }

    enum CodingKeys: String, CodingKey {
        case region, node
        case pageSize = "page_size"
        case pagesAdded = "pages_added"
        case vmemmapOptimized = "vmemmap_optimized"
        case bootID = "boot_id"
        case mountPoint = "mount_point"
        case unoptimizedPages = "unoptimized_pages"
    }

    /// The region's pages reserved while HVO was off, out of `pages`: `unoptimizedPages`, or for a record written
    /// before it all pages or none as `vmemmapOptimized` says.
    public func unoptimized(of pages: Int) -> Int {
        min(unoptimizedPages ?? (vmemmapOptimized ? 0 : pages), pages)
    }

    /// `<mount point's parent>/region<id>.hugetlb.json`.
    public static func path(mountPoint: FilePath, region: Int) -> FilePath {
        mountPoint.removingLastComponent().appending("region\(region).hugetlb.json")
    }

    /// The record at `path`, or `nil` when there is none.
    public static func load(_ path: FilePath) throws(BackendError) -> HugetlbRegionRecord? {
        let bytes: [UInt8]?
        do throws(FileError) {
            bytes = try AtomicFile.read(path: path.string)
        } catch {
            throw BackendError(error.operation, path, error.errno, "cannot read the region record \(path): \(error)")
        }
        guard let bytes else { return nil }
        do {
            return try JSONDecoder().decode(HugetlbRegionRecord.self, from: Data(bytes))
        } catch {
            throw BackendError(
                "read", path, .badMessage,
                "the region record \(path) is unreadable (\(error)): move it away; the pages it recorded are not "
                    + "given back automatically"
            )
        }
    }

    /// Writes the record to `path` durably.
    public func save(_ path: FilePath) throws(BackendError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let bytes: [UInt8]
        do {
            bytes = [UInt8](try encoder.encode(self))
        } catch {
            throw BackendError("write", path, .invalidArgument, "cannot encode the region record: \(error)")
        }
        do throws(FileError) {
            try AtomicFile.replace(path: path.string, bytes: bytes)
        } catch {
            throw BackendError(error.operation, path, error.errno, "cannot write the region record \(path): \(error)")
        }
    }

    /// This boot's id: `/proc/sys/kernel/random/boot_id`, or an empty string when it cannot be read.
    public static func currentBootID() -> String {
        guard let bytes = try? AtomicFile.read(path: "/proc/sys/kernel/random/boot_id") else { return "" }
        return NUMANodes.trimmed(String(decoding: bytes, as: UTF8.self))
    }
}
