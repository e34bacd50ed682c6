// Linux only.
import DaxPoolCore
import DaxPoolSystem
import SystemPackage

/// Reads the kernel's bad blocks of nd regions: `<sysfs>/bus/nd/devices/region<N>/badblocks` (libnvdimm's list
/// of poisoned ranges, filled from ACPI ARS, CXL poison lists and machine checks), parsed by `KernelBadBlocks`.
public struct NDBadBlocks: Sendable {
    /// The sysfs mount (`/sys`; a directory tree in tests).
    public let sysfsRoot: FilePath

    /// A reader of the nd regions under `sysfsRoot`.
    public init(sysfsRoot: FilePath = "/sys") {
        self.sysfsRoot = sysfsRoot
    }

    /// `<sysfs>/bus/nd/devices/region<N>/badblocks`.
    public func path(ndRegion: Int) -> FilePath {
        sysfsRoot.appending("bus/nd/devices/region\(ndRegion)/badblocks")
    }

    /// The bad ranges of nd region `ndRegion`, as byte extents from its start, sorted and merged.
    /// - Throws: `BackendError` when the file cannot be read or does not parse.
    public func ranges(ndRegion: Int) throws(BackendError) -> [Extent] {
        let path = path(ndRegion: ndRegion)
        let text: String
        do throws(Errno) {
            let file = try OwnedDescriptor.open(path, .readOnly)
            text = String(decoding: try file.readToEnd(), as: UTF8.self)
        } catch {
            throw BackendError(
                "read-badblocks", path, error,
                "cannot read \(path) (\(error)): is nd region \(ndRegion) present and libnvdimm loaded?")
        }
        do throws(KernelBadBlocks.ParseError) {
            return try KernelBadBlocks.parse(text)
        } catch {
            throw BackendError("read-badblocks", path, .invalidArgument, "\(path): \(error)")
        }
    }
}
