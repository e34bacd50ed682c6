// Linux only.
import SystemPackage

/// One system call as the `Syscall` funnel describes it to a `SystemCallInterposer`: which call, on what, with
/// which flags. Descriptors are the raw numbers; addresses of memory are left out.
public enum SystemCall: Hashable, Sendable {
    /// `open(2)` of `path`.
    case open(FilePath, FileDescriptor.AccessMode, FileDescriptor.OpenOptions, FilePermissions)
    /// `openat(2)` of `name` in the open directory `directory`.
    case openRelative(
        directory: CInt, name: String, FileDescriptor.AccessMode, FileDescriptor.OpenOptions, FilePermissions)
    /// `close(2)`.
    case close(CInt)
    /// `fstat(2)`.
    case status(CInt)
    /// `stat(2)`: the status of what `path` leads to.
    case pathStatus(FilePath)
    /// `lstat(2)`: the status of `path` itself.
    case linkStatus(FilePath)
    /// `fstatat(2)` with `AT_SYMLINK_NOFOLLOW` of `name` in `directory`.
    case linkStatusRelative(directory: CInt, name: String)
    /// `ftruncate(2)`.
    case resize(CInt, length: Int64)
    /// `fallocate(2)`.
    case allocate(CInt, offset: Int64, length: Int64, mode: FileAllocationMode)
    /// `lseek(2)` with `SEEK_DATA` or `SEEK_HOLE`.
    case seek(CInt, FileSeek, from: Int64)
    /// `fchmod(2)`.
    case changeMode(CInt, FilePermissions)
    /// `chmod(2)`.
    case changePathMode(FilePath, FilePermissions)
    /// `fchown(2)`; `nil` keeps the owner or group.
    case changeOwner(CInt, uid: UInt32?, gid: UInt32?)
    /// `chown(2)`; `nil` keeps the owner or group.
    case changePathOwner(FilePath, uid: UInt32?, gid: UInt32?)
    /// `fsync(2)`.
    case synchronize(CInt)
    /// `fdatasync(2)`.
    case synchronizeData(CInt)
    /// `flock(2)`.
    case lock(CInt, LockOperation)
    /// `fcntl(2)` with `F_SETLEASE`.
    case setLease(CInt, FileLease)
    /// `fcntl(2)` with `F_GETLEASE`.
    case lease(CInt)
    /// `fcntl(2)` with `F_SETFL`, adding `O_NONBLOCK`.
    case setNonBlocking(CInt)
    /// `read(2)` (`offset` `nil`) or `pread(2)` of up to `count` bytes.
    case read(CInt, count: Int, offset: Int64?)
    /// `write(2)` (`offset` `nil`) or `pwrite(2)` of `count` bytes.
    case write(CInt, count: Int, offset: Int64?)
    /// `rename(2)`.
    case rename(FilePath, to: FilePath)
    /// `renameat(2)` within one directory.
    case renameRelative(directory: CInt, String, to: String)
    /// `unlink(2)`.
    case unlink(FilePath)
    /// `unlinkat(2)`.
    case unlinkRelative(directory: CInt, name: String)
    /// `mkdir(2)`.
    case makeDirectory(FilePath, FilePermissions)
    /// `mkdirat(2)`.
    case makeDirectoryRelative(directory: CInt, name: String, FilePermissions)
    /// `rmdir(2)`.
    case removeDirectory(FilePath)
    /// `readlinkat(2)`.
    case readLinkRelative(directory: CInt, name: String)
    /// `opendir(3)` and `readdir(3)` of `path`; the success value is the number of names.
    case listDirectory(FilePath)
    /// `fdopendir(3)` and `readdir(3)` of the open directory; the success value is the number of names.
    case listDirectoryRelative(CInt)
    /// `realpath(3)`.
    case canonicalPath(FilePath)
    /// `statfs(2)` of `path`, for its type.
    case fileSystemType(FilePath)
    /// `statvfs(3)` of `path`.
    case fileSystemStatistics(FilePath)
    /// `mount(2)`; `data` is the filesystem's options.
    case mount(source: String?, target: FilePath, type: String, flags: MountFlags, data: String)
    /// `umount2(2)`.
    case unmount(FilePath, UnmountFlags)
    /// `mmap(2)` of `length` bytes of `descriptor`.
    case map(CInt, offset: Int64, length: Int, protection: MemoryMapping.Protection, flags: MappingFlags)
    /// `munmap(2)` of `length` bytes.
    case unmap(length: Int)
    /// `madvise(2)` over `length` bytes.
    case advise(length: Int, MemoryAdvice)
    /// `memfd_create(2)`.
    case createMemoryFile(name: String)
    /// `get_mempolicy(2)` of the calling thread (or, with `ofAddress`, of the page at an address).
    case memoryPolicy(ofAddress: Bool)
    /// `set_mempolicy(2)` of the calling thread: `node` bound, or `nil` for another mode (the default).
    case setMemoryPolicy(mode: CInt, node: Int?)
    /// `socket(2)`, `AF_UNIX`, close-on-exec.
    case socket(SocketType)
    /// `connect(2)` to the Unix socket at `path`.
    case connect(CInt, path: String)
    /// `send(2)` of `count` bytes on a connected socket.
    case send(CInt, count: Int, MessageFlags)
    /// `sendto(2)` of `count` bytes to the Unix socket at `address` (`@name` for an abstract one).
    case sendTo(CInt, count: Int, address: String, MessageFlags)
    /// `recv(2)` of up to `count` bytes.
    case receive(CInt, count: Int, MessageFlags)
    /// `pipe2(2)` with `options`; the success value is the read end (the write end comes back beside it).
    case pipe(FileDescriptor.PipeOptions)
    /// `pidfd_open(2)` of process `pid`.
    case openProcess(pid: Int32)
    /// `epoll_create1(2)` with `EPOLL_CLOEXEC`.
    case createEventPoll
    /// `epoll_ctl(2)` with `EPOLL_CTL_ADD` of `descriptor` to the epoll instance.
    case addToEventPoll(CInt, descriptor: CInt)
    /// `epoll_ctl(2)` with `EPOLL_CTL_DEL` of `descriptor` from the epoll instance.
    case removeFromEventPoll(CInt, descriptor: CInt)
    /// `epoll_wait(2)` for up to `capacity` events; the success value is how many occurred.
    case waitForEvents(CInt, capacity: Int)
    /// `poll(2)` of one descriptor; the success value is `1` when an event occurred, `0` when the time ran out
    /// (a scripted `1` reports the events asked for).
    case poll(CInt, PollEvents, timeout: CInt)
    /// `getrlimit(2)`.
    case resourceLimit(ResourceLimit)
    /// `umask(2)`; the success value is the previous mask.
    case setFileCreationMask(FilePermissions)
    /// `sigaction(2)` with `SIG_IGN`.
    case ignoreSignal(CInt)
    /// `isatty(3)`; the success value is `1`, a failure (`ENOTTY`) means not a terminal.
    case isTerminal(CInt)

    /// The descriptor the call acts on, if it takes one (the directory of an `*at` call).
    public var descriptor: CInt? {
        switch self {
        case .close(let descriptor), .status(let descriptor), .resize(let descriptor, _),
            .allocate(let descriptor, _, _, _), .seek(let descriptor, _, _), .changeMode(let descriptor, _),
            .changeOwner(let descriptor, _, _), .synchronize(let descriptor), .synchronizeData(let descriptor),
            .lock(let descriptor, _), .setLease(let descriptor, _), .lease(let descriptor),
            .setNonBlocking(let descriptor), .read(let descriptor, _, _), .write(let descriptor, _, _),
            .listDirectoryRelative(let descriptor), .map(let descriptor, _, _, _, _), .connect(let descriptor, _),
            .send(let descriptor, _, _), .sendTo(let descriptor, _, _, _), .receive(let descriptor, _, _),
            .openRelative(let descriptor, _, _, _, _), .linkStatusRelative(let descriptor, _),
            .renameRelative(let descriptor, _, _), .unlinkRelative(let descriptor, _),
            .makeDirectoryRelative(let descriptor, _, _), .readLinkRelative(let descriptor, _),
            .addToEventPoll(let descriptor, _), .removeFromEventPoll(let descriptor, _),
            .waitForEvents(let descriptor, _), .poll(let descriptor, _, _), .isTerminal(let descriptor):
            descriptor
        default:
            nil
        }
    }
}
