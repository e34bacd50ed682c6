// Linux only.
import DaxPoolCore
import DaxPoolSystem
import SystemPackage

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What a hugetlb region's last resize changed, kept beside its mount in `<mount>/../region<id>.resize.json`
/// (written with `AtomicFile`) from before the resize remakes the mount until the next resize or start: the daemon
/// commits the region's new size to its journal only after the backend has resized, so a start that finds the state
/// still at `fromSize` knows the resize was not committed and undoes it exactly (`HugetlbBackend.repairResize`).
public struct HugetlbResizeIntent: Hashable, Sendable, Codable {
    /// JSON `region`: the daxpool region id.
    public var region: Int
    /// The region's size before the resize, in bytes: the size its state has until the resize is committed.
    public var fromSize: UInt64
    /// The size the resize made the region, in bytes.
    public var toSize: UInt64
    /// `HugetlbRegionRecord.pagesAdded` before the resize.
    public var pagesAddedBefore: Int
    /// `HugetlbRegionRecord.pagesAdded` the resize wrote (the intent applies only to that record).
    public var pagesAddedAfter: Int
    /// Pages a shrink has recorded as given back but not yet given back to the kernel (0 once they are).
    public var pagesToGiveBack: Int
    /// JSON `boot_id`: `/proc/sys/kernel/random/boot_id` of the resize; an intent from an earlier boot is stale.
    public var bootID: String
    /// The node's `nr_hugepages` read just before the resize wrote it (a grow's reserve, a shrink's give-back), or
    /// `nil` before that step: a start after a crash in the write compares the node's count with it (and with it
    /// plus or minus the pages) to learn exactly whether the write happened, and reports a doubt when the count is
    /// neither (another user of the pool changed it meanwhile).
    public var nodePagesBefore: Int?
    /// JSON `unoptimized_pages_before`: `HugetlbRegionRecord.unoptimizedPages` before the resize, which undoing it
    /// puts back (a shrink keeps fewer, as it cannot tell which pages the kernel frees).
    public var unoptimizedPagesBefore: Int?

    /// An intent with every field given; `nodePagesBefore` defaults to not yet read.
    public init(
        region: Int, fromSize: UInt64, toSize: UInt64, pagesAddedBefore: Int, pagesAddedAfter: Int,
        pagesToGiveBack: Int, bootID: String, nodePagesBefore: Int? = nil, unoptimizedPagesBefore: Int? = nil
    ) {
        self.unoptimizedPagesBefore = unoptimizedPagesBefore
        self.region = region
        self.fromSize = fromSize
        self.toSize = toSize
        self.pagesAddedBefore = pagesAddedBefore
        self.pagesAddedAfter = pagesAddedAfter
        self.pagesToGiveBack = pagesToGiveBack
        self.bootID = bootID
        self.nodePagesBefore = nodePagesBefore
    }

    enum CodingKeys: String, CodingKey {
        case region
        case fromSize = "from_size"
        case toSize = "to_size"
        case pagesAddedBefore = "pages_added_before"
        case pagesAddedAfter = "pages_added_after"
        case pagesToGiveBack = "pages_to_give_back"
        case bootID = "boot_id"
        case nodePagesBefore = "node_pages_before"
        case unoptimizedPagesBefore = "unoptimized_pages_before"
    }

    /// `<mount point's parent>/region<id>.resize.json`.
    public static func path(mountPoint: FilePath, region: Int) -> FilePath {
        mountPoint.removingLastComponent().appending("region\(region).resize.json")
    }

    /// The intent at `path`, or `nil` when there is none or it is unreadable (an unreadable one is ignored: the
    /// start then compares only the mount's size with the state).
    public static func load(_ path: FilePath) -> HugetlbResizeIntent? {
        guard let bytes = try? AtomicFile.read(path: path.string) else { return nil }
        return try? JSONDecoder().decode(HugetlbResizeIntent.self, from: Data(bytes))
    }

    /// Writes the intent to `path` durably.
    public func save(_ path: FilePath) throws(BackendError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let bytes: [UInt8]
        do {
            bytes = [UInt8](try encoder.encode(self))
        } catch {
            throw BackendError("write", path, .invalidArgument, "cannot encode the resize record: \(error)")
        }
        do throws(FileError) {
            try AtomicFile.replace(path: path.string, bytes: bytes)
        } catch {
            throw BackendError(error.operation, path, error.errno, "cannot write the resize record \(path): \(error)")
        }
    }

    /// Removes the intent at `path`, if there is one.
    public static func remove(_ path: FilePath) {
        try? Syscall.unlink(path)
    }
}

extension HugetlbMountInfo {
    /// The `size=` superblock option in bytes (hugetlbfs prints bytes, tmpfs kibibytes with a `k`), or `nil`
    /// without one (an unlimited tmpfs).
    public var sizeOption: UInt64? { byteOption("size") }
}
