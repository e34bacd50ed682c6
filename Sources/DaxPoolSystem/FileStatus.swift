// Linux only.
import Glibc

/// What `stat(2)` says about a file: its size, the bytes actually backed by memory or disk, its mode.
public struct FileStatus: Hashable, Sendable {
    /// `st_size`: the length of the file in bytes.
    public var size: Int64
    /// `st_blocks * 512`: the bytes allocated to the file (committed pages on tmpfs).
    public var allocatedBytes: Int64
    /// The permission bits of `st_mode` (`st_mode & 07777`).
    public var permissions: UInt32
    /// Whether `st_mode` says regular file (`S_ISREG`).
    public var isRegularFile: Bool
    /// Whether `st_mode` says directory (`S_ISDIR`).
    public var isDirectory: Bool
    /// Whether `st_mode` says socket (`S_ISSOCK`).
    public var isSocket: Bool
    /// `st_nlink`: how many names the file has.
    public var linkCount: UInt64
    /// `st_uid` and `st_gid`: who owns the file.
    public var ownerUID: UInt32
    /// `st_gid`: the file's group.
    public var ownerGID: UInt32
    /// `st_dev`: the filesystem the file is on.
    public var device: UInt64
    /// `st_ino`: the file's number on that filesystem.
    public var inode: UInt64

    /// The status `stat(2)` filled in as `info`.
    public init(_ info: stat) {
        size = Int64(info.st_size)
        allocatedBytes = Int64(info.st_blocks) * 512
        permissions = UInt32(info.st_mode) & 0o7777
        isRegularFile = info.st_mode & S_IFMT == S_IFREG
        isDirectory = info.st_mode & S_IFMT == S_IFDIR
        isSocket = info.st_mode & S_IFMT == S_IFSOCK
        linkCount = UInt64(info.st_nlink)
        ownerUID = info.st_uid
        ownerGID = info.st_gid
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
    }
}
