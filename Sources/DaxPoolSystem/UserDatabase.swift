// Linux only.
import Glibc

/// Looks up users and groups in the system's databases (`/etc/passwd`, `/etc/group`, or NSS).
public enum UserDatabase {
    /// The uid of user `name`; a decimal string is taken as a uid. The C function is `getpwnam_r(3)`.
    public static func uid(named name: String) -> UInt32? {
        if let id = UInt32(name) { return id }
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16 << 10)
        let code = getpwnam_r(name, &entry, &buffer, buffer.count, &result)
        guard code == 0, result != nil else { return nil }
        return entry.pw_uid
    }

    /// The gid of group `name`; a decimal string is taken as a gid. The C function is `getgrnam_r(3)`.
    public static func gid(named name: String) -> UInt32? {
        if let id = UInt32(name) { return id }
        var entry = group()
        var result: UnsafeMutablePointer<group>?
        var buffer = [CChar](repeating: 0, count: 64 << 10)
        let code = getgrnam_r(name, &entry, &buffer, buffer.count, &result)
        guard code == 0, result != nil else { return nil }
        return entry.gr_gid
    }
}
