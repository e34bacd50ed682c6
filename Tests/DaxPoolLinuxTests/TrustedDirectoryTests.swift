import DaxPoolLinux
import DaxPoolSystem
import DaxPoolTestSupport
import Foundation
import Glibc
import SystemPackage
import Testing

@Suite("trusted directories", .timeLimit(.minutes(20)))
struct TrustedDirectoryTests {
    /// A scratch directory under /tmp (root's, 0755), removed after the test.
    private static func scratch() throws -> String {
        let root = try Scratch.makeDirectory(under: "/tmp")
        chmod(root, 0o755)
        return root
    }

    private static func mode(_ path: String) -> UInt32? {
        Scratch.status(path).map { UInt32($0.st_mode) & 0o7777 }
    }

    @Test(
        "a directory another user made with mode 0777 is refused, naming it, its owner and its mode",
        .enabled(if: ThrowawayUser.isAvailable, Comment(rawValue: ThrowawayUser.unavailableReason)))
    func foreignDirectoryRefused() throws {
        let root = try Self.scratch()
        defer { Scratch.remove(root) }
        let user = try ThrowawayUser()
        defer { user.remove() }
        let shmRoot = "\(root)/daxpool-0"
        #expect(mkdir(shmRoot, 0o700) == 0)
        chmod(shmRoot, 0o777)
        chown(shmRoot, user.uid, user.gid)

        let error = try #require(throws: TrustedDirectoryError.self) {
            _ = try TrustedDirectory.ensure(FilePath(shmRoot), mode: 0o700, purpose: "shm root")
        }
        #expect(error.directory == shmRoot)
        #expect(error.problem == .foreignOwner(uid: user.uid, mode: 0o777))
        #expect(error.message.contains("the shm root \(shmRoot)"))
        #expect(error.message.contains("uid \(user.uid)"))
        #expect(error.message.contains("0777"))
        #expect(error.message.contains("remove it or choose another path; daxpool creates it itself"))
        #expect(Self.mode(shmRoot) == 0o777)
        #expect(Scratch.status(shmRoot)?.st_uid == user.uid)
        #expect(throws: TrustedDirectoryError.self) {
            try TrustedDirectory.check(FilePath(shmRoot), purpose: "shm root")
        }
    }

    @Test(
        "a directory on the way that another user owns is refused, naming it and the directory asked for",
        .enabled(if: ThrowawayUser.isAvailable, Comment(rawValue: ThrowawayUser.unavailableReason)))
    func foreignAncestorRefused() throws {
        let root = try Self.scratch()
        defer { Scratch.remove(root) }
        let user = try ThrowawayUser()
        defer { user.remove() }
        let theirs = "\(root)/theirs"
        mkdir(theirs, 0o755)
        chown(theirs, user.uid, user.gid)

        let error = try #require(throws: TrustedDirectoryError.self) {
            _ = try TrustedDirectory.ensure(FilePath("\(theirs)/state"), mode: 0o700, purpose: "state directory")
        }
        #expect(error.directory == theirs)
        #expect(error.requested == "\(theirs)/state")
        #expect(error.problem == .foreignOwner(uid: user.uid, mode: 0o755))
        #expect(error.message.contains("on the way to the state directory \(theirs)/state"))
        #expect(!Scratch.exists("\(theirs)/state"))
    }

    @Test("a symbolic link on the way is refused, naming the link and its target, and nothing is created behind it")
    func symbolicLinkRefused() throws {
        let root = try Self.scratch()
        defer { Scratch.remove(root) }
        let real = "\(root)/real"
        mkdir(real, 0o700)
        symlink(real, "\(root)/link")

        let error = try #require(throws: TrustedDirectoryError.self) {
            _ = try TrustedDirectory.ensure(FilePath("\(root)/link/state"), mode: 0o700, purpose: "state directory")
        }
        #expect(error.directory == "\(root)/link")
        #expect(error.problem == .symbolicLink(target: real))
        #expect(error.message.contains("is a symbolic link to \(real)"))
        #expect(!Scratch.exists("\(real)/state"))

        let last = try #require(throws: TrustedDirectoryError.self) {
            try TrustedDirectory.check(FilePath("\(root)/link"), purpose: "shm root")
        }
        #expect(last.problem == .symbolicLink(target: real))
    }

    @Test("a directory of the daemon's own that its group or others may write is refused")
    func groupWritableRefused() throws {
        let root = try Self.scratch()
        defer { Scratch.remove(root) }
        let shared = "\(root)/shared"
        mkdir(shared, 0o700)
        chmod(shared, 0o770)

        let error = try #require(throws: TrustedDirectoryError.self) {
            _ = try TrustedDirectory.ensure(FilePath(shared), mode: 0o700, purpose: "socket directory")
        }
        #expect(error.problem == .writableByOthers(uid: geteuid(), mode: 0o770))
        #expect(error.message.contains("the socket directory \(shared)"))
        #expect(error.message.contains("0770"))
        #expect(Self.mode(shared) == 0o770)
    }

    @Test("a world-writable directory on the way is refused unless it is sticky")
    func nonStickyAncestorRefused() throws {
        let root = try Self.scratch()
        defer { Scratch.remove(root) }
        let open = "\(root)/open"
        mkdir(open, 0o700)
        chmod(open, 0o777)
        let error = try #require(throws: TrustedDirectoryError.self) {
            _ = try TrustedDirectory.ensure(FilePath("\(open)/shm"), mode: 0o700, purpose: "shm root")
        }
        #expect(error.directory == open)
        #expect(error.problem == .writableByOthers(uid: geteuid(), mode: 0o777))
        #expect(!Scratch.exists("\(open)/shm"))

        chmod(open, 0o1777)
        let created = try TrustedDirectory.ensure(FilePath("\(open)/shm"), mode: 0o700, purpose: "shm root")
        #expect(created == [FilePath("\(open)/shm")])
    }

    @Test(
        "sticky world-writable directories on the way such as /dev/shm and /tmp are accepted",
        arguments: ["/dev/shm", "/tmp"])
    func stickyAncestorsAccepted(base: String) throws {
        let root = "\(base)/daxpool-trust-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { Scratch.remove(root) }
        let target = "\(root)/shm/region0"
        let created = try TrustedDirectory.ensure(FilePath(target), mode: 0o711, purpose: "shm root")
        #expect(created == [FilePath(root), FilePath("\(root)/shm"), FilePath(target)])
        for directory in created {
            #expect(Self.mode(directory.string) == 0o711)
            #expect(Scratch.status(directory.string)?.st_uid == geteuid())
        }
        #expect(try TrustedDirectory.ensure(FilePath(target), mode: 0o700, purpose: "shm root").isEmpty)
        #expect(Self.mode(target) == 0o711)
        try TrustedDirectory.check(FilePath(target), purpose: "shm root")
        let handle = try TrustedDirectory.open(FilePath(target), purpose: "shm root")
        #expect(try handle.status().isDirectory)
    }

    @Test("a file in the way is refused as not a directory")
    func fileInTheWayRefused() throws {
        let root = try Self.scratch()
        defer { Scratch.remove(root) }
        let file = "\(root)/state"
        Scratch.makeFile(file)

        let itself = try #require(throws: TrustedDirectoryError.self) {
            _ = try TrustedDirectory.ensure(FilePath(file), mode: 0o700, purpose: "state directory")
        }
        #expect(itself.problem == .notDirectory(kind: "regular file"))
        #expect(itself.message.contains("the state directory \(file) is not a directory"))

        let below = try #require(throws: TrustedDirectoryError.self) {
            _ = try TrustedDirectory.ensure(FilePath("\(file)/inner"), mode: 0o700, purpose: "state directory")
        }
        #expect(below.directory == file)
        #expect(below.problem == .notDirectory(kind: "regular file"))
    }

    @Test("check reports a missing directory and creates nothing")
    func checkCreatesNothing() throws {
        let root = try Self.scratch()
        defer { Scratch.remove(root) }
        let error = try #require(throws: TrustedDirectoryError.self) {
            try TrustedDirectory.check(FilePath("\(root)/a/b"), purpose: "region directory")
        }
        #expect(error.directory == "\(root)/a")
        #expect(error.problem == .missing)
        #expect(!Scratch.exists("\(root)/a"))
    }

    @Test("a relative path is refused")
    func relativeRefused() throws {
        let error = try #require(throws: TrustedDirectoryError.self) {
            _ = try TrustedDirectory.ensure(FilePath("relative/dir"), mode: 0o700, purpose: "state directory")
        }
        #expect(error.problem == .notAbsolute)
    }
}
