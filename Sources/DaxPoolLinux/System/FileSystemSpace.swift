// Linux only.
import DaxPoolCore
import DaxPoolSystem
import Glibc
import SystemPackage

/// How big a filesystem is and how much of it an unprivileged writer can still use.
public struct FileSystemSpace: Hashable, Sendable {
    /// `f_blocks * f_frsize`.
    public var total: ByteCount
    /// `f_bavail * f_frsize`: what a non-root writer can still allocate.
    public var available: ByteCount

    /// The space of the filesystem holding `path`. The corresponding C function is `statvfs(3)`.
    public init(of path: FilePath) throws(Errno) {
        let info = try Syscall.fileSystemStatistics(path)
        let fragment = UInt64(info.f_frsize)
        total = ByteCount(UInt64(info.f_blocks).multipliedReportingOverflow(by: fragment).partialValue)
        available = ByteCount(UInt64(info.f_bavail).multipliedReportingOverflow(by: fragment).partialValue)
    }
}
