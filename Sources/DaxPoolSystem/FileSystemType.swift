// Linux only.
import CLinuxShims
import SystemPackage

/// The kind of filesystem a path is on: the `f_type` magic number of `statfs(2)`.
public struct FileSystemType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The `f_type` magic number.
    public let rawValue: Int

    /// The type with magic number `rawValue`.
    public init(rawValue: Int) { self.rawValue = rawValue }

    /// The type of the filesystem holding `path`. The corresponding C function is `statfs(2)`.
    public init(of path: FilePath) throws(Errno) {
        rawValue = try Syscall.fileSystemType(path)
    }

    /// The corresponding C constant is `TMPFS_MAGIC`.
    public static var tmpfs: FileSystemType { FileSystemType(rawValue: cshim_TMPFS_MAGIC) }

    /// The corresponding C constant is `HUGETLBFS_MAGIC`.
    public static var hugetlbfs: FileSystemType { FileSystemType(rawValue: cshim_HUGETLBFS_MAGIC) }

    private static let names: [Int: String] = [
        cshim_TMPFS_MAGIC: "tmpfs",
        cshim_HUGETLBFS_MAGIC: "hugetlbfs",
        0xEF53: "ext2/ext3/ext4",
        0x5846_5342: "xfs",
        0x9123_683E: "btrfs",
        0x794C_7630: "overlayfs",
        0x6969: "nfs",
        0x0102_1997: "9p",
        0x6573_5546: "fuse",
        0x6265_6572: "sysfs",
        0x9FA0: "procfs",
        0x2FC1_2FC1: "zfs",
    ]

    /// The filesystem's usual name, or its magic number in hex.
    public var description: String {
        Self.names[rawValue] ?? "a filesystem with magic 0x\(String(rawValue, radix: 16))"
    }
}
