// Linux only.
import DaxPoolCore
import DaxPoolSystem
import SystemPackage

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension LabelStateStore.Sidecar {
    /// Decodes `regions.json`.
    static func decode(_ bytes: [UInt8]) throws -> LabelStateStore.Sidecar {
        try JSONDecoder().decode(LabelStateStore.Sidecar.self, from: Data(bytes))
    }

    /// Encodes `regions.json` with sorted keys: the same state always gives the same bytes.
    func encoded() throws(LabelStateStoreError) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            return [UInt8](try encoder.encode(self))
        } catch {
            throw .unencodable(reason: "\(error)")
        }
    }
}

extension LabelStateStore {
    /// `<directory>/<name>`.
    func path(_ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    /// Creates the state directory (mode 0700) if it is missing.
    func ensureDirectory() throws(LabelStateStoreError) {
        do throws(Errno) {
            _ = try Directory.create(directoryPath, mode: 0o700)
        } catch {
            throw .io(FileError(operation: "mkdir", path: directory, errno: error))
        }
    }

    /// The whole file `name`, or `nil` when it does not exist.
    func readFile(_ name: String) throws(LabelStateStoreError) -> [UInt8]? {
        do throws(FileError) {
            return try AtomicFile.read(path: path(name))
        } catch {
            throw .io(error)
        }
    }

    /// Whether anything exists at `name`.
    func fileExists(_ name: String) throws(LabelStateStoreError) -> Bool {
        do throws(Errno) {
            return try Syscall.linkStatusIfPresent(FilePath(path(name))) != nil
        } catch {
            throw .io(FileError(operation: "lstat", path: path(name), errno: error))
        }
    }

    /// Replaces file `name` atomically and durably (`AtomicFile.replace`).
    func replaceFile(_ name: String, with bytes: [UInt8]) throws(LabelStateStoreError) {
        let target = path(name)
        if let interposer {
            let temporary = target + ".tmp"
            let admitted = min(bytes.count, max(0, interposer.admit(path: temporary, offset: 0, count: bytes.count)))
            let renamed = admitted == bytes.count && interposer.admit(path: target, offset: 0, count: 1) >= 1
            if !renamed {
                writeTemporary(Array(bytes[..<admitted]), to: temporary)
                throw .interrupted(path: admitted < bytes.count ? temporary : target)
            }
        }
        do throws(FileError) {
            try AtomicFile.replace(path: target, bytes: bytes)
        } catch {
            throw .io(error)
        }
    }

    /// Removes file `name` durably; a missing file is fine.
    func removeFile(_ name: String) throws(LabelStateStoreError) {
        let target = FilePath(path(name))
        if let interposer, interposer.admit(path: target.string, offset: 0, count: 1) < 1 {
            throw .interrupted(path: target.string)
        }
        do throws(Errno) {
            try Syscall.unlink(target)
        } catch .noSuchFileOrDirectory {
            return
        } catch {
            throw .io(FileError(operation: "unlink", path: target.string, errno: error))
        }
        try synchronizeDirectory()
    }

    /// Renames file `source` to `destination` durably.
    func renameFile(_ source: String, to destination: String) throws(LabelStateStoreError) {
        let from = FilePath(path(source))
        let to = FilePath(path(destination))
        if let interposer, interposer.admit(path: to.string, offset: 0, count: 1) < 1 {
            throw .interrupted(path: to.string)
        }
        do throws(Errno) {
            try Syscall.rename(from, to: to)
        } catch {
            throw .io(FileError(operation: "rename", path: from.string, errno: error))
        }
        try synchronizeDirectory()
    }

    /// Flushes the state directory's entries.
    func synchronizeDirectory() throws(LabelStateStoreError) {
        do throws(Errno) {
            try Directory.synchronize(directoryPath)
        } catch {
            throw .io(FileError(operation: "fsync", path: directory, errno: error))
        }
    }

    /// Creates region `region`'s label area afresh with `namespaces` in it, replacing whatever file was at
    /// `file`: the area is formatted and filled under `<file>.tmp`, flushed, then renamed into place, so a
    /// crash leaves either the old file or the complete new one. A failure (a full disk) removes `<file>.tmp`
    /// again; one a crash leaves is removed by the next load (`removeStaleTemporaries`).
    ///
    /// - Returns: The store of the new area.
    func createArea(
        region: Int,
        file: String,
        size: Int,
        namespaces: [LabelledNamespace]
    ) throws(LabelStateStoreError) -> LabelStore<FileLabelStorage> {
        let temporary = file + ".tmp"
        let temporaryPath = path(temporary)
        try removeTemporary(temporary)
        do throws(LabelStateStoreError) {
            let storage = try openStorage(temporary, size: size, access: .createIfMissing)
            var store: LabelStore<FileLabelStorage>
            do throws(LabelError) {
                store = try LabelStore(
                    formatting: storage, version: LabelStateStore.labelVersion,
                    interleaveSetCookie: LabelStateStore.interleaveSetCookie)
            } catch {
                throw .label(path: temporaryPath, error)
            }
            if !namespaces.isEmpty {
                try update(&store, region: region, puts: namespaces, removes: [])
            }
            try renameFile(temporary, to: file)
        } catch {
            // A simulated crash (`.interrupted`) leaves the file as a crash would; the next load removes it.
            if case .interrupted = error {} else { try? removeTemporary(temporary) }
            throw error
        }
        return try openArea(region: region, file: file, size: size)
    }

    /// The temporary files a commit writes and renames into place: `region<R>.labels.tmp` (`createArea`) and
    /// `regions.json.tmp` (`AtomicFile.replace` of the sidecar).
    static func isTemporaryName(_ name: String) -> Bool {
        guard name.hasSuffix(".tmp") else { return false }
        let base = name.dropLast(".tmp".count)
        if base == LabelStateStore.sidecarFileName { return true }
        guard base.hasPrefix("region"), base.hasSuffix(".labels") else { return false }
        let number = base.dropFirst("region".count).dropLast(".labels".count)
        return !number.isEmpty && number.utf8.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
    }

    /// Removes the temporary files a commit that crashed or failed left in the state directory (`isTemporaryName`):
    /// none is ever read, and a later commit would only replace it. Other files stay.
    func removeStaleTemporaries() throws(LabelStateStoreError) {
        let names: [String]
        do throws(Errno) {
            names = try Syscall.directoryEntries(directoryPath)
        } catch .noSuchFileOrDirectory {
            return
        } catch {
            throw .io(FileError(operation: "readdir", path: directory, errno: error))
        }
        for name in names.sorted() where Self.isTemporaryName(name) {
            try removeTemporary(name)
        }
    }

    /// Unlinks the temporary file `name`; a missing one is fine.
    private func removeTemporary(_ name: String) throws(LabelStateStoreError) {
        let target = path(name)
        do throws(Errno) {
            try Syscall.unlink(FilePath(target))
        } catch .noSuchFileOrDirectory {
        } catch {
            throw .io(FileError(operation: "unlink", path: target, errno: error))
        }
    }

    /// Opens region `region`'s label area; a missing file is created as an empty area of `size` bytes.
    func openArea(region: Int, file: String, size: Int) throws(LabelStateStoreError) -> LabelStore<FileLabelStorage> {
        let storage: FileLabelStorage
        do throws(LabelStateStoreError) {
            storage = try openStorage(file, size: nil, access: .readWrite)
        } catch .area(.io(let error)) where error.errno == .noSuchFileOrDirectory {
            return try createArea(region: region, file: file, size: size, namespaces: [])
        }
        do throws(LabelError) {
            return try LabelStore(
                openingOrFormatting: storage, version: LabelStateStore.labelVersion,
                interleaveSetCookie: LabelStateStore.interleaveSetCookie)
        } catch {
            throw .label(path: storage.path, error)
        }
    }

    /// Applies one atomic label update to a region's area, translating a full area into `.areaFull`.
    func update(
        _ store: inout LabelStore<FileLabelStorage>,
        region: Int,
        puts: [LabelledNamespace],
        removes: [LabelUUID]
    ) throws(LabelStateStoreError) {
        do throws(LabelError) {
            try store.apply(puts: puts, removes: removes)
        } catch {
            if interposer != nil, case .storageFailed(_, _, _, let errorNumber) = error,
                errorNumber == Errno.ioError.rawValue
            {
                throw .interrupted(path: store.storage.path)
            }
            if case .areaFull(let needed, let free) = error {
                throw .areaFull(
                    region: region, path: store.storage.path, needed: needed, free: free,
                    slotCount: Int(store.area.currentIndex.slotCount))
            }
            throw .label(path: store.storage.path, error)
        }
    }

    private func openStorage(
        _ file: String,
        size: Int?,
        access: FileLabelStorage.Access
    ) throws(LabelStateStoreError) -> FileLabelStorage {
        do throws(FileLabelStorageError) {
            return try FileLabelStorage(path: path(file), offset: 0, size: size, access: access, interposer: interposer)
        } catch {
            throw .area(error)
        }
    }

    /// Writes a partial temporary file the way a crash in the middle of `AtomicFile.replace` would leave it.
    private func writeTemporary(_ bytes: [UInt8], to path: String) {
        do throws(Errno) {
            let file = try OwnedDescriptor.open(
                FilePath(path), .writeOnly, options: [.create, .truncate], permissions: .ownerReadWrite)
            try file.writeAll(bytes)
        } catch {
            return
        }
    }
}
