// Linux only.
import CLinuxShims
import DaxPoolSystem
import Glibc
import SystemPackage

/// The proof that a destroyed device's file has no way in left but the daemon's own descriptor, taken before its
/// memory is scrubbed for the pool and again before it is handed to a new owner.
///
/// A tenant can keep a way into its device's memory past a destroy: a hard link it made, an open descriptor, a
/// mapping, or a descriptor in flight in an `SCM_RIGHTS` message. The proof, in this order:
///
/// 1. The daemon takes the file (`fchown` to itself, mode 0600), so no path the tenant might still reach opens
///    it for the tenant.
/// 2. A write lease (`fcntl(F_SETLEASE, F_WRLCK)`) is granted only while no other open file description refers to
///    the file: a mapping and a descriptor in flight keep theirs alive, so they count.
/// 3. With the lease held, the file has exactly one name (`st_nlink == 1`): the one in the daemon's 0700 pool
///    directory. Any open through another name while the lease is held would have broken it.
/// 4. The lease is still whole (`F_GETLEASE` is `F_WRLCK`): nobody opened the file between 2 and 3.
///
/// After that nobody can reach the file but through the pool directory, which only the daemon can enter.
/// A lease break makes the kernel signal the lease holder with `SIGIO`, whose default action ends the process:
/// the daemon ignores `SIGIO` before it takes a lease.
extension ScrubPool {
    /// `nil` when `file` may go to another owner; otherwise why not (and the file must be unlinked, never reused).
    /// `owned`: the caller saw the file is the daemon's with mode 0600 already (a pooled file), so step 1 is done.
    static func exclusivityProblem(of file: borrowing OwnedDescriptor, owned: Bool = false) -> String? {
        _ = ignoresLeaseBreakSignal
        let descriptor = file.descriptor.rawValue
        if !owned {
            do throws(Errno) {
                try Syscall.changeOwner(descriptor, uid: geteuid(), gid: getegid())
                try Syscall.changeMode(descriptor, 0o600)
            } catch {
                return "the daemon cannot take it (fchown/fchmod): \(error)"
            }
        }
        do throws(Errno) {
            try Syscall.setLease(descriptor, .write)
        } catch .resourceTemporarilyUnavailable {
            return "another process still has it open or mapped, or holds a descriptor of it in a socket message"
        } catch {
            return "cannot take a write lease on it: \(error)"
        }
        defer { try? Syscall.setLease(descriptor, .none) }
        let status: FileStatus
        do throws(Errno) {
            status = try Syscall.fileStatus(descriptor)
        } catch {
            return "cannot look at it: \(error)"
        }
        guard status.isRegularFile else { return "it is not a regular file" }
        guard status.linkCount == 1 else {
            return "it has \(status.linkCount) names: someone kept a hard link to it"
        }
        guard (try? Syscall.lease(descriptor)) == .write else {
            return "someone opened it while the daemon checked it"
        }
        return nil
    }

    /// Ignores `SIGIO` once per process, so that a broken lease cannot end the daemon.
    private static let ignoresLeaseBreakSignal: Bool = {
        (try? Syscall.ignoreSignal(SIGIO)) != nil
    }()
}
