// Linux only.
import DaxPoolCore
import DaxPoolSystem
import Synchronization
import SystemPackage

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Keeps the pool snapshot in `<directory>/state.json` (JSON, sorted keys), replaced atomically and durably on
/// every commit (see `AtomicFile.replace`). A `state.json.tmp` left by a crash is never read.
public final class JSONFileStateStore: StateStore {
    /// The state directory.
    public let directory: String
    /// `<directory>/state.json`.
    public let path: String
    /// Serializes commits: they share `state.json.tmp`.
    private let commitLock = Mutex(())

    /// A store in `directory`, which `commit` creates (mode 0700) if it is missing.
    public init(directory: String) {
        self.directory = directory
        path = FilePath(directory).appending("state.json").string
    }

    /// The last committed snapshot, or `nil` when `state.json` does not exist.
    public func load() throws(StateStoreError) -> PoolSnapshot? {
        let bytes: [UInt8]?
        do throws(FileError) {
            bytes = try AtomicFile.read(path: path)
        } catch {
            throw .io(error)
        }
        guard let bytes else { return nil }
        do {
            return try JSONDecoder().decode(PoolSnapshot.self, from: Data(bytes))
        } catch {
            throw .unreadable(path: path, reason: "\(error)")
        }
    }

    /// Writes `snapshot` durably; when this returns, `load` gives it back even after a crash.
    public func commit(_ snapshot: PoolSnapshot) throws(StateStoreError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let bytes: [UInt8]
        do {
            bytes = [UInt8](try encoder.encode(snapshot))
        } catch {
            throw .unencodable(reason: "\(error)")
        }
        do throws(Errno) {
            _ = try Directory.create(FilePath(directory), mode: 0o700)
        } catch {
            throw .io(FileError(operation: "mkdir", path: directory, errno: error))
        }
        let target = path
        do throws(FileError) {
            try commitLock.withLock { _ throws(FileError) in try AtomicFile.replace(path: target, bytes: bytes) }
        } catch {
            throw .io(error)
        }
    }
}
