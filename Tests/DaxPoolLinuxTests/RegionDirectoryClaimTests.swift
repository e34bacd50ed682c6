import DaxPoolLinux
import DaxPoolSystem
import Foundation
import Glibc
import SystemPackage
import Testing

@Suite("region directory claims", .timeLimit(.minutes(20)))
struct RegionDirectoryClaimTests {
    static let first = String(repeating: "a1", count: 16)
    static let second = String(repeating: "b2", count: 16)

    /// A scratch directory (0700, the daemon's), removed after the test.
    private static func scratch() throws -> String {
        let root = try Scratch.makeDirectory()
        chmod(root, 0o700)
        return root
    }

    private static func markers(_ directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { $0.hasPrefix(RegionDirectoryClaim.markerPrefix) }.sorted()
    }

    @Test("a claim leaves an empty marker, and a second claim is refused as in use until the first is released")
    func secondClaimRefused() throws {
        let directory = try Self.scratch()
        defer { Scratch.remove(directory) }
        let claim = try RegionDirectoryClaim.claim(
            directory: FilePath(directory), stateIdentity: Self.first, regionID: 0)
        let marker = RegionDirectoryClaim.markerName(stateIdentity: Self.first, regionID: 0)
        #expect(marker == ".daxpool-region.\(Self.first).0")
        #expect(Self.markers(directory) == [marker])
        #expect(Scratch.status("\(directory)/\(marker)")?.st_size == 0)
        #expect(Scratch.status("\(directory)/\(marker)").map { $0.st_mode & 0o777 } == 0o600)

        let error = try #require(throws: RegionDirectoryClaimError.self) {
            _ = try RegionDirectoryClaim.claim(directory: FilePath(directory), stateIdentity: Self.first, regionID: 0)
        }
        #expect(error == .inUse(directory: directory, marker: marker, pid: getpid()))
        #expect(error.message.contains("in use by another running daxpool daemon (pid \(getpid()))"))
        #expect(error.errno == .resourceBusy)

        claim.release()
        #expect(Self.markers(directory) == [marker])
        let again = try RegionDirectoryClaim.claim(
            directory: FilePath(directory), stateIdentity: Self.first, regionID: 0)
        again.releaseRemovingMarker()
        #expect(Self.markers(directory).isEmpty)
    }

    @Test("a directory that carries another state's marker is refused, naming that state and its region")
    func foreignStateRefused() throws {
        let directory = try Self.scratch()
        defer { Scratch.remove(directory) }
        try RegionDirectoryClaim.claim(directory: FilePath(directory), stateIdentity: Self.first, regionID: 3)
            .release()

        let error = try #require(throws: RegionDirectoryClaimError.self) {
            _ = try RegionDirectoryClaim.claim(
                directory: FilePath(directory), stateIdentity: Self.second, regionID: 0)
        }
        let marker = RegionDirectoryClaim.markerName(stateIdentity: Self.first, regionID: 3)
        #expect(
            error == .foreignState(directory: directory, marker: marker, stateIdentity: Self.first, regionID: 3))
        #expect(error.message.contains("belongs to another daxpool state (identity \(Self.first)), region 3"))
        #expect(error.message.contains("start that daemon, or choose another path"))
        #expect(Self.markers(directory) == [marker])
    }

    @Test("a directory that carries another region's marker of the same state is refused")
    func otherRegionRefused() throws {
        let directory = try Self.scratch()
        defer { Scratch.remove(directory) }
        try RegionDirectoryClaim.claim(directory: FilePath(directory), stateIdentity: Self.first, regionID: 0)
            .release()
        let error = try #require(throws: RegionDirectoryClaimError.self) {
            _ = try RegionDirectoryClaim.claim(directory: FilePath(directory), stateIdentity: Self.first, regionID: 1)
        }
        guard case .otherRegion(_, _, let region) = error else {
            Issue.record("expected .otherRegion, got \(error)")
            return
        }
        #expect(region == 0)
    }

    @Test("a marker whose name daxpool did not write counts as another state's")
    func unreadableMarkerRefused() throws {
        let directory = try Self.scratch()
        defer { Scratch.remove(directory) }
        Scratch.makeFile("\(directory)/.daxpool-region.junk")
        let error = try #require(throws: RegionDirectoryClaimError.self) {
            _ = try RegionDirectoryClaim.claim(directory: FilePath(directory), stateIdentity: Self.first, regionID: 0)
        }
        #expect(
            error
                == .foreignState(
                    directory: directory, marker: ".daxpool-region.junk", stateIdentity: nil, regionID: nil))
        #expect(RegionDirectoryClaim.parseMarker(".daxpool-region.junk") == nil)
        #expect(RegionDirectoryClaim.parseMarker(".daxpool-region.\(Self.first).12")?.regionID == 12)
    }

    @Test("a region directory that others may write is refused before anything is written in it")
    func untrustedRefused() throws {
        let directory = try Self.scratch()
        defer { Scratch.remove(directory) }
        chmod(directory, 0o777)
        let error = try #require(throws: RegionDirectoryClaimError.self) {
            _ = try RegionDirectoryClaim.claim(directory: FilePath(directory), stateIdentity: Self.first, regionID: 0)
        }
        guard case .untrusted(let trust) = error else {
            Issue.record("expected .untrusted, got \(error)")
            return
        }
        #expect(trust.directory == directory)
        #expect(Self.markers(directory).isEmpty)
    }

    @Test("the registry claims a directory once, refuses it to another region, and releases it")
    func registry() throws {
        let directory = try Self.scratch()
        defer { Scratch.remove(directory) }
        let claims = RegionClaims()
        try claims.claim(directory: FilePath(directory), stateIdentity: Self.first, regionID: 0)
        try claims.claim(directory: FilePath(directory + "/"), stateIdentity: Self.first, regionID: 0)
        #expect(claims.isClaimed(FilePath(directory)))
        #expect(claims.claimedDirectories == [FilePath(directory)])
        #expect(throws: RegionDirectoryClaimError.self) {
            try claims.claim(directory: FilePath(directory), stateIdentity: Self.first, regionID: 1)
        }
        #expect(throws: RegionDirectoryClaimError.self) {
            try claims.claim(directory: FilePath(directory), stateIdentity: Self.second, regionID: 0)
        }
        // Another registry (another daemon) finds it locked.
        let other = RegionClaims()
        #expect(throws: RegionDirectoryClaimError.self) {
            try other.claim(directory: FilePath(directory), stateIdentity: Self.first, regionID: 0)
        }

        claims.release(directory: FilePath(directory))
        #expect(!claims.isClaimed(FilePath(directory)))
        try other.claim(directory: FilePath(directory), stateIdentity: Self.first, regionID: 0)
        other.release(directory: FilePath(directory), removingMarker: true)
        #expect(Self.markers(directory).isEmpty)
    }
}

@Suite("state directory claims", .timeLimit(.minutes(20)))
struct StateDirectoryClaimTests {
    private static func scratch() throws -> String {
        let root = try Scratch.makeDirectory()
        chmod(root, 0o700)
        return root
    }

    @Test("the identity is made once (0600, 32 hexadecimal digits) and read back unchanged")
    func identityMadeOnce() throws {
        let directory = try Self.scratch()
        defer { Scratch.remove(directory) }
        let claim = try StateDirectoryClaim(directory: directory)
        let identity = claim.identity
        #expect(StateDirectoryClaim.isIdentity(identity))
        let path = "\(directory)/\(StateDirectoryClaim.identityFileName)"
        #expect(String(decoding: Scratch.read(64, from: path), as: UTF8.self) == identity + "\n")
        #expect(Scratch.status(path).map { $0.st_mode & 0o777 } == 0o600)
        claim.release()

        let again = try StateDirectoryClaim(directory: directory)
        #expect(again.identity == identity)
        again.release()

        let elsewhere = try Self.scratch()
        defer { Scratch.remove(elsewhere) }
        let other = try StateDirectoryClaim(directory: elsewhere)
        #expect(other.identity != identity)
        other.release()
    }

    @Test("a second claim on the same state directory is refused, naming the holder's pid")
    func secondClaimRefused() throws {
        let directory = try Self.scratch()
        defer { Scratch.remove(directory) }
        let claim = try StateDirectoryClaim(directory: directory)
        let error = try #require(throws: StateDirectoryClaimError.self) {
            _ = try StateDirectoryClaim(directory: directory)
        }
        #expect(error == .held(directory: directory, pid: getpid()))
        #expect(error.message.contains("pid \(getpid())"))
        claim.release()
        try StateDirectoryClaim(directory: directory).release()
    }

    @Test("a damaged identity file is refused, not replaced")
    func damagedIdentityRefused() throws {
        let directory = try Self.scratch()
        defer { Scratch.remove(directory) }
        let path = "\(directory)/\(StateDirectoryClaim.identityFileName)"
        Scratch.makeFile(path)
        Scratch.write(Array("not-an-identity\n".utf8), to: path)
        let error = try #require(throws: StateDirectoryClaimError.self) {
            _ = try StateDirectoryClaim(directory: directory)
        }
        guard case .damagedIdentity(let reported, _) = error else {
            Issue.record("expected .damagedIdentity, got \(error)")
            return
        }
        #expect(reported == path)
        #expect(String(decoding: Scratch.read(64, from: path), as: UTF8.self) == "not-an-identity\n")
    }

    @Test("a state directory others may write is refused")
    func untrustedRefused() throws {
        let directory = try Self.scratch()
        defer { Scratch.remove(directory) }
        chmod(directory, 0o757)
        let error = try #require(throws: StateDirectoryClaimError.self) {
            _ = try StateDirectoryClaim(directory: directory)
        }
        guard case .untrusted = error else {
            Issue.record("expected .untrusted, got \(error)")
            return
        }
        #expect(!Scratch.exists("\(directory)/\(StateDirectoryClaim.identityFileName)"))
    }
}
