// Linux only.
import DaxPoolCore
import DaxPoolSystem
import Logging
import SystemPackage

/// The device files of one file-backed region directory (hugetlb on hugetlbfs; shm on tmpfs could use it too):
/// the rules every file backend shares, with the backend-specific parts passed in.
///
/// - A device `daxR.N` is the file `daxR.N` while enabled and `.daxR.N.disabled` while disabled (`ShmDeviceFiles`).
/// - Enabling and disabling rename the file; doing either twice is harmless.
/// - `reconcile` (`FileBackedDevices+Reconcile.swift`) puts every persisted device's file under the name its state
///   asks for with its size, and keeps device files that no device owns (`lost+found`) unless a pending scrub
///   accounts for them.
///
/// How memory is committed and how a destroyed device's memory is retired (unlinked, or scrubbed and pooled)
/// are the backend's: they come in as closures.
struct FileBackedDevices {
    let directory: FilePath
    let logger: Logger

    init(directory: FilePath, logger: Logger) {
        self.directory = directory
        self.logger = logger
    }

    /// The two names of `device`'s file in this directory.
    func files(of device: DaxPoolCore.DeviceID) -> ShmDeviceFiles {
        ShmDeviceFiles(device, in: directory)
    }

    /// Whether a regular file is at `path`; anything else there is an error.
    func isPresent(_ path: FilePath, operation: String) throws(BackendError) -> Bool {
        let status: FileStatus?
        do throws(Errno) {
            status = try Syscall.linkStatusIfPresent(path)
        } catch {
            throw BackendError(operation, path, error, "cannot look at \(path): \(error)")
        }
        guard let status else { return false }
        guard status.isRegularFile else {
            throw BackendError(
                operation, path, .invalidArgument,
                "\(path) is not a regular file, so it cannot be device memory: move it away"
            )
        }
        return true
    }

    /// The file holding `device`'s memory under either name, or `nil` when there is none.
    func existingFile(of device: DaxPoolCore.DeviceID, operation: String) throws(BackendError) -> FilePath? {
        let files = files(of: device)
        if try isPresent(files.enabled, operation: operation) { return files.enabled }
        if try isPresent(files.disabled, operation: operation) { return files.disabled }
        return nil
    }

    /// Renames `.daxR.N.disabled` to `daxR.N` (enable) or back (disable). Doing it twice is harmless.
    func setEnabled(_ device: DaxPoolCore.DeviceID, enabled: Bool) throws(BackendError) {
        let operation = enabled ? "enable-device" : "disable-device"
        let files = files(of: device)
        let (source, target) = enabled ? (files.disabled, files.enabled) : (files.enabled, files.disabled)
        if try isPresent(target, operation: operation) { return }
        guard try isPresent(source, operation: operation) else {
            throw BackendError(
                operation, files.enabled, .noSuchFileOrDirectory,
                "the memory file of \(device) is missing (neither \(files.enabled) nor \(files.disabled) exists): "
                    + "restart the daemon so that it recreates the device's memory, or destroy the device"
            )
        }
        do throws(Errno) {
            try Syscall.rename(source, to: target)
        } catch {
            throw BackendError(operation, source, error, "cannot rename \(source) to \(target): \(error)")
        }
    }

    /// The names in the directory that are device files, sorted; `nil` when the directory does not exist.
    func deviceFileNames(operation: String) throws(BackendError) -> [String]? {
        let names: [String]
        do throws(Errno) {
            names = try Syscall.directoryEntries(directory)
        } catch .noSuchFileOrDirectory {
            return nil
        } catch {
            throw BackendError(operation, directory, error, "cannot list the region directory \(directory): \(error)")
        }
        return names.filter { ShmDeviceFiles.device(fromFileName: $0) != nil }.sorted()
    }
}
