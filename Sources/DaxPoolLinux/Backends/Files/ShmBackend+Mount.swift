// Linux only.
import DaxPoolCore
import DaxPoolSystem
import Logging
import SystemPackage

extension ShmBackend {
    /// The region's own tmpfs mount at `directory`.
    func regionMount(_ region: RegionConfig, at directory: FilePath) -> TmpfsMount {
        TmpfsMount(mountPoint: directory, regionID: region.id, size: region.size, mode: directoryMode)
    }

    /// Mounts the region's own tmpfs on `directory`, or keeps the one daxpool mounted there before. Another
    /// filesystem mounted there is refused. An unmounted directory that already holds files is mounted over only
    /// when it holds none: `adopting` (a start of a region made before regions had their own mounts) keeps such a
    /// directory as it is, with a warning, since its device files are running VMs' memory.
    /// - Returns: whether this call mounted it (so that a caller undoing its work unmounts only what it mounted).
    @discardableResult
    func mountRegion(
        _ region: RegionConfig, at directory: FilePath, operation: String, adopting: Bool
    ) throws(BackendError) -> Bool {
        let mount = regionMount(region, at: directory)
        let state: TmpfsMount.State
        do throws(Errno) {
            state = try mount.state()
        } catch {
            throw BackendError(operation, directory, error, "cannot read the mounts (/proc/self/mountinfo): \(error)")
        }
        switch state {
        case .ours:
            return false
        case .foreign(let what):
            throw BackendError(
                operation, directory, .resourceBusy,
                "\(directory) already has \(what) mounted on it: choose another path for the region"
            )
        case .none:
            break
        }
        let names: [String]
        do throws(Errno) {
            names = try Syscall.directoryEntries(directory)
        } catch {
            throw BackendError(operation, directory, error, "cannot list the region directory \(directory): \(error)")
        }
        guard names.isEmpty else {
            if adopting {
                logger.warning(
                    """
                    the region directory holds files from before regions had their own tmpfs mounts; it stays on \
                    the shared tmpfs (destroy and recreate the region to give it its own mount)
                    """,
                    metadata: ["path": "\(directory)"])
                return false
            }
            throw BackendError(
                operation, directory, .directoryNotEmpty,
                "the region directory \(directory) is not empty (\(names.sorted().joined(separator: ", "))): "
                    + "choose an empty or new directory for the region"
            )
        }
        let options: String
        do throws(Errno) {
            options = try mount.mount()
        } catch {
            throw BackendError(
                operation, directory, error,
                "cannot mount the region's tmpfs (\(mount.options)) on \(directory): \(error)"
            )
        }
        logger.info(
            "mounted the region's own tmpfs", metadata: ["path": "\(directory)", "options": "\(options)"])
        return true
    }

    /// Unmounts the region's own tmpfs from `directory`, if daxpool mounted one there. When a process still holds
    /// a file of it (a kept descriptor or mapping of a destroyed device's memory), the mount is detached: the
    /// kernel frees that memory when the holder lets go, and nobody else can reach it.
    func unmountRegion(_ region: RegionConfig, at directory: FilePath, operation: String) throws(BackendError) {
        let mount = regionMount(region, at: directory)
        do throws(Errno) {
            guard try mount.state() == .ours else { return }
            if try mount.unmount() {
                logger.warning(
                    """
                    a process still holds memory of the destroyed region; its tmpfs was detached and is freed when \
                    that process lets go
                    """,
                    metadata: ["path": "\(directory)"])
            }
        } catch {
            throw BackendError(
                operation, directory, error, "cannot unmount the region's tmpfs at \(directory): \(error)")
        }
    }
}
