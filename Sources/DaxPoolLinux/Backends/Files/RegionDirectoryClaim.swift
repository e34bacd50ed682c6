// Linux only.
import DaxPoolSystem
import Glibc
import Synchronization
import SystemPackage

/// Proof that this daemon is the one serving a region's directory: an empty marker file
/// `.daxpool-region.<state identity>.<region id>` in the directory (empty, so that it takes no memory on a
/// size-limited tmpfs), with an exclusive `flock(2)` on it held for as long as the value lives.
///
/// A directory that carries another state directory's or another region's marker is refused, and so is one whose
/// lock another process holds. The kernel drops the lock when the process exits; the marker stays, so the
/// directory keeps belonging to its state directory and region across restarts.
public struct RegionDirectoryClaim: ~Copyable, Sendable {
    /// What every marker's name starts with.
    public static let markerPrefix = ".daxpool-region."

    /// The claimed directory.
    public let directory: FilePath
    /// The identity of the state directory that claimed it (`StateDirectoryClaim.identity`).
    public let stateIdentity: String
    /// The region it serves.
    public let regionID: Int
    private let directoryDescriptor: OwnedDescriptor
    private let marker: OwnedDescriptor

    private init(
        directory: FilePath, stateIdentity: String, regionID: Int, directoryDescriptor: consuming OwnedDescriptor,
        marker: consuming OwnedDescriptor
    ) {
        self.directory = directory
        self.stateIdentity = stateIdentity
        self.regionID = regionID
        self.directoryDescriptor = directoryDescriptor
        self.marker = marker
    }

    /// The marker's name for a state identity and region: `.daxpool-region.<identity>.<region>`.
    public static func markerName(stateIdentity: String, regionID: Int) -> String {
        "\(markerPrefix)\(stateIdentity).\(regionID)"
    }

    /// The state identity and region a marker's name carries, or `nil` when it is not a marker daxpool writes.
    public static func parseMarker(_ name: String) -> (stateIdentity: String, regionID: Int)? {
        guard name.hasPrefix(markerPrefix) else { return nil }
        let rest = name.dropFirst(markerPrefix.count)
        guard let dot = rest.lastIndex(of: "."), let region = Int(rest[rest.index(after: dot)...]), region >= 0
        else { return nil }
        let identity = rest[..<dot]
        guard StateDirectoryClaim.isIdentity(identity) else { return nil }
        return (String(identity), region)
    }

    /// Claims `directory` (which must exist and be trusted) for region `regionID` of the state directory
    /// `stateIdentity`: creates the marker if needed and locks it without waiting.
    /// - Throws: `.untrusted`; `.foreignState` or `.otherRegion` when the directory carries another marker;
    ///   `.inUse` when another process holds the lock.
    /// The corresponding C functions are `openat(2)`, `readdir(3)`, `flock(2)` with `LOCK_EX | LOCK_NB`.
    public static func claim(directory: FilePath, stateIdentity: String, regionID: Int)
        throws(RegionDirectoryClaimError) -> RegionDirectoryClaim
    {
        guard StateDirectoryClaim.isIdentity(stateIdentity) else { throw .invalidIdentity(stateIdentity) }
        let path = directory.lexicallyNormalized()
        let handle: OwnedDescriptor
        do throws(TrustedDirectoryError) {
            handle = try TrustedDirectory.open(path, purpose: "region directory")
        } catch {
            throw .untrusted(error)
        }
        let name = markerName(stateIdentity: stateIdentity, regionID: regionID)
        try refuseOtherMarkers(in: handle, at: path, keeping: name, stateIdentity: stateIdentity)
        var created = true
        let raw: CInt
        do throws(Errno) {
            let options: FileDescriptor.OpenOptions = [.noFollow, .nonBlocking]
            do throws(Errno) {
                raw = try Syscall.open(
                    at: handle.descriptor.rawValue, name, .readOnly,
                    options: options.union([.create, .exclusiveCreate]))
            } catch .fileExists {
                created = false
                raw = try Syscall.open(at: handle.descriptor.rawValue, name, .readOnly, options: options)
            }
        } catch {
            throw .failed(FileError(operation: "open", path: path.appending(name).string, errno: error))
        }
        let marker = OwnedDescriptor(taking: FileDescriptor(rawValue: raw))
        do throws(Errno) {
            guard try marker.status().isRegularFile else { throw Errno.notSupported }
        } catch {
            throw .failed(FileError(operation: "open", path: path.appending(name).string, errno: error))
        }
        do throws(Errno) {
            try Syscall.lock(marker.descriptor.rawValue, operation: [.exclusive, .nonBlocking])
        } catch .wouldBlock {
            throw .inUse(directory: path.string, marker: name, pid: lockHolder(of: marker))
        } catch {
            throw .failed(FileError(operation: "flock", path: path.appending(name).string, errno: error))
        }
        // Two daemons of different states may have passed the first look at the same moment: the one that sees
        // the other's marker now backs out (both may, which refuses both and hands the directory to neither).
        do throws(RegionDirectoryClaimError) {
            try refuseOtherMarkers(in: handle, at: path, keeping: name, stateIdentity: stateIdentity)
        } catch {
            if created { try? Syscall.unlink(at: handle.descriptor.rawValue, name) }
            throw error
        }
        return RegionDirectoryClaim(
            directory: path, stateIdentity: stateIdentity, regionID: regionID, directoryDescriptor: handle,
            marker: marker)
    }

    /// Unlocks now; the marker stays, so the directory keeps belonging to this state directory and region.
    public consuming func release() {
        _ = consume self
    }

    /// Removes the marker and unlocks, for a region that is destroyed (its directory can then be removed).
    public consuming func releaseRemovingMarker() {
        removeMarker()
        _ = consume self
    }

    /// Removes the marker file (the lock stays until the value goes away).
    /// The corresponding C function is `unlinkat(2)`.
    func removeMarker() {
        try? Syscall.unlink(
            at: directoryDescriptor.descriptor.rawValue,
            Self.markerName(stateIdentity: stateIdentity, regionID: regionID))
    }

    /// Throws when the directory holds a marker other than `keeping`.
    private static func refuseOtherMarkers(
        in directory: borrowing OwnedDescriptor, at path: FilePath, keeping name: String, stateIdentity: String
    ) throws(RegionDirectoryClaimError) {
        let names: [String]
        do throws(Errno) {
            names = try Syscall.directoryEntries(of: directory.descriptor.rawValue)
        } catch {
            throw .failed(FileError(operation: "list", path: path.string, errno: error))
        }
        for other in names.sorted() where other.hasPrefix(markerPrefix) && other != name {
            let parsed = parseMarker(other)
            if let parsed, parsed.stateIdentity == stateIdentity {
                throw .otherRegion(directory: path.string, marker: other, regionID: parsed.regionID)
            }
            throw .foreignState(
                directory: path.string, marker: other, stateIdentity: parsed?.stateIdentity,
                regionID: parsed?.regionID)
        }
    }

    /// The pid that holds a `flock` on `file`, read from `/proc/locks`; `nil` when it names none.
    private static func lockHolder(of file: borrowing OwnedDescriptor) -> Int32? {
        guard let info = try? Syscall.rawStatus(file.descriptor.rawValue),
            let locks = try? OwnedDescriptor.open("/proc/locks", .readOnly),
            let bytes = try? locks.readToEnd()
        else { return nil }
        let device = UInt64(info.st_dev)
        let major = ((device >> 8) & 0xfff) | ((device >> 32) & ~0xfff)
        let minor = (device & 0xff) | ((device >> 12) & ~0xff)
        let wanted = "\(hex(major)):\(hex(minor)):\(info.st_ino)"
        // "1: FLOCK  ADVISORY  WRITE 1234 00:1a:5678 0 EOF"; waiters' lines have "->" after the number.
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count >= 6, fields[1] == "FLOCK", fields[5] == wanted else { continue }
            return Int32(fields[4])
        }
        return nil
    }

    /// Two hexadecimal digits at least, as `/proc/locks` prints device numbers.
    private static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return digits.count < 2 ? "0" + digits : digits
    }
}

/// The region directories one daemon has claimed, by directory: what the backends keep while they serve regions.
///
/// Thread-safe. Claiming a directory this registry already holds for the same state and region does nothing.
public final class RegionClaims: Sendable {
    /// One claim, kept alive by the registry until it is released.
    private final class Held: Sendable {
        let claim: RegionDirectoryClaim

        init(_ claim: consuming RegionDirectoryClaim) {
            self.claim = claim
        }
    }

    private let held = Mutex<[FilePath: Held]>([:])

    /// An empty registry.
    public init() {}

    /// Claims `directory` for region `regionID` of the state directory `stateIdentity` (see
    /// `RegionDirectoryClaim.claim`), unless this registry already holds it for them.
    /// - Throws: what `RegionDirectoryClaim.claim` throws; `.otherRegion` or `.foreignState` when this registry
    ///   holds the directory for another region or state.
    public func claim(directory: FilePath, stateIdentity: String, regionID: Int) throws(RegionDirectoryClaimError) {
        let key = directory.lexicallyNormalized()
        try held.withLock { (claims: inout [FilePath: Held]) throws(RegionDirectoryClaimError) in
            if let existing = claims[key] {
                let marker = RegionDirectoryClaim.markerName(
                    stateIdentity: existing.claim.stateIdentity, regionID: existing.claim.regionID)
                if existing.claim.stateIdentity != stateIdentity {
                    throw .foreignState(
                        directory: key.string, marker: marker, stateIdentity: existing.claim.stateIdentity,
                        regionID: existing.claim.regionID)
                }
                if existing.claim.regionID != regionID {
                    throw .otherRegion(directory: key.string, marker: marker, regionID: existing.claim.regionID)
                }
                return
            }
            let claim = try RegionDirectoryClaim.claim(directory: key, stateIdentity: stateIdentity, regionID: regionID)
            claims[key] = Held(claim)
        }
    }

    /// Releases the claim on `directory`, if this registry holds one; with `removingMarker` (a destroyed region)
    /// its marker is removed too, so that the directory can be removed.
    public func release(directory: FilePath, removingMarker: Bool = false) {
        let key = directory.lexicallyNormalized()
        let released = held.withLock { claims in claims.removeValue(forKey: key) }
        if removingMarker { released?.claim.removeMarker() }
    }

    /// Releases every claim (markers stay).
    public func releaseAll() {
        let released = held.withLock { claims in
            let all = Array(claims.values)
            claims.removeAll()
            return all
        }
        _ = released
    }

    /// Whether this registry holds a claim on `directory`.
    public func isClaimed(_ directory: FilePath) -> Bool {
        let key = directory.lexicallyNormalized()
        return held.withLock { claims in claims[key] != nil }
    }

    /// The directories this registry holds, sorted.
    public var claimedDirectories: [FilePath] {
        held.withLock { claims in claims.keys.sorted { $0.string < $1.string } }
    }
}
