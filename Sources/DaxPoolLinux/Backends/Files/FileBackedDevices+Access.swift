// Linux only.
import DaxPoolCore
import DaxPoolSystem
import Glibc
import SystemPackage

extension FileBackedDevices {
    /// Gives the device's file (under either name) to `uid` with mode 0600 (`fchown(2)`, `fchmod(2)`).
    /// The group stays the daemon's: only the owner and root reach the memory.
    func setOwner(of device: DaxPoolCore.DeviceID, uid: UInt32) throws(BackendError) {
        let operation = "set-device-owner"
        guard let path = try existingFile(of: device, operation: operation) else {
            throw BackendError(
                operation, files(of: device).enabled, .noSuchFileOrDirectory,
                "the memory file of \(device) is missing: restart the daemon so that it recreates it"
            )
        }
        do throws(Errno) {
            let file = try OwnedDescriptor.open(path, .readWrite, options: [.noFollow])
            try file.changeOwner(uid: uid)
            try file.setPermissions(.ownerReadWrite)
        } catch {
            throw BackendError(operation, path, error, "cannot give \(path) to uid \(uid): \(error)")
        }
    }

    /// Truncates the device's file (under either name) to zero bytes, so every process that maps it faults with
    /// `SIGBUS` on its next access, and its memory goes back to the filesystem. A missing file is fine.
    func revoke(_ device: DaxPoolCore.DeviceID) throws(BackendError) {
        let operation = "revoke-device"
        guard let path = try existingFile(of: device, operation: operation) else { return }
        do throws(Errno) {
            let file = try OwnedDescriptor.open(path, .readWrite, options: [.noFollow])
            try file.resize(to: 0)
        } catch {
            throw BackendError(operation, path, error, "cannot truncate \(path) to revoke \(device): \(error)")
        }
    }
}
