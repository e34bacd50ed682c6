// Linux only.
import DaxPoolCore
import DaxPoolSystem
import Glibc
import SystemPackage

/// `<region directory>/lost+found`: where a file backend's start-up reconcile puts memory files that no device
/// owns, untouched (renamed on the same filesystem, so a tenant that holds the file open or mapped keeps its bytes),
/// for the operator to look at. The directory is made only when a file goes there, daemon-owned, mode 0700, so
/// that no tenant reaches a file in it by path; one that someone else made or opened up is refused.
///
/// A file keeps its name there; when that name is taken, `~1`, `~2`, ... is added. Nothing in daxpool removes a
/// file from `lost+found`: device and pool scans look only at device-file names in the region directory and at
/// `.pool`, so none of them mistakes it for a device or for pooled memory.
struct LostAndFound {
    /// `<region directory>/lost+found`.
    let directory: FilePath

    static let directoryName = "lost+found"

    init(regionDirectory: FilePath) {
        directory = regionDirectory.appending(Self.directoryName)
    }

    /// Moves the file `name` of the region directory into `lost+found`, untouched, under its own name or the first
    /// free `name~N`.
    /// - Returns: the file as `files` lists it.
    func move(_ name: String, operation: String) throws(BackendError) -> LostFile {
        try prepare(operation: operation)
        let source = directory.removingLastComponent().appending(name)
        var target = name
        var suffix = 0
        while try isTaken(target, operation: operation) {
            suffix += 1
            target = "\(name)~\(suffix)"
        }
        let destination = directory.appending(target)
        do throws(Errno) {
            try Syscall.rename(source, to: destination)
        } catch {
            throw BackendError(
                operation, source, error, "cannot move \(source) to \(destination) (lost+found): \(error)")
        }
        let size: Int64
        do throws(Errno) {
            size = try Syscall.linkStatus(destination).size
        } catch {
            throw BackendError(operation, destination, error, "cannot look at \(destination): \(error)")
        }
        return LostFile(
            name: target, originalName: name, path: destination.string, size: ByteCount(UInt64(max(size, 0))))
    }

    /// The regular files in `lost+found`, by name; none when it does not exist.
    func files(operation: String) throws(BackendError) -> [LostFile] {
        let names: [String]
        do throws(Errno) {
            names = try Syscall.directoryEntries(directory)
        } catch .noSuchFileOrDirectory, .notDirectory {
            return []
        } catch {
            throw BackendError(operation, directory, error, "cannot list \(directory): \(error)")
        }
        var files: [LostFile] = []
        for name in names.sorted() {
            let path = directory.appending(name)
            let status: FileStatus?
            do throws(Errno) {
                status = try Syscall.linkStatusIfPresent(path)
            } catch {
                throw BackendError(operation, path, error, "cannot look at \(path): \(error)")
            }
            guard let status, status.isRegularFile else { continue }
            files.append(
                LostFile(
                    name: name, originalName: Self.originalName(of: name), path: path.string,
                    size: ByteCount(UInt64(max(status.size, 0)))))
        }
        return files
    }

    /// The name a file in `lost+found` had in the region directory: `name` without a `~N` that `move` added.
    static func originalName(of name: String) -> String {
        guard let tilde = name.lastIndex(of: "~") else { return name }
        let digits = name[name.index(after: tilde)...]
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return name }
        return String(name[..<tilde])
    }

    // MARK: - Helpers

    /// Whether something is at `name` in `lost+found`.
    private func isTaken(_ name: String, operation: String) throws(BackendError) -> Bool {
        let path = directory.appending(name)
        do throws(Errno) {
            return try Syscall.linkStatusIfPresent(path) != nil
        } catch {
            throw BackendError(operation, path, error, "cannot look at \(path): \(error)")
        }
    }

    /// Creates `lost+found` (mode 0700) if it is missing; one that exists must be a directory (not a symbolic
    /// link) the daemon owns that nobody else may enter, or nothing is moved into it.
    private func prepare(operation: String) throws(BackendError) {
        try Directory.preparePrivate(
            directory, name: "\(directory)",
            remedy: "no memory file is moved there; move it away and restart the daemon", operation: operation)
    }

}
