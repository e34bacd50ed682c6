// Linux only: getpwuid_r(3).
#if canImport(Glibc)
import Glibc
#endif

/// Whether a uid names a user on this host, for the owners requests name.
public enum UserLookup {
    /// Whether `uid` has an entry in the user database (`/etc/passwd` or NSS), read with `getpwuid_r(3)`. An error
    /// of the lookup itself (other than a too small buffer, which is grown) counts as no: an owner must be known.
    @Sendable public static func exists(_ uid: UInt32) -> Bool {
        var size = 16 << 10
        while size <= 1 << 20 {
            var entry = passwd()
            var result: UnsafeMutablePointer<passwd>?
            var buffer = [CChar](repeating: 0, count: size)
            let code = getpwuid_r(uid_t(uid), &entry, &buffer, buffer.count, &result)
            if code == ERANGE {
                size *= 4
                continue
            }
            return code == 0 && result != nil
        }
        return false
    }
}
