// Linux only.
import Foundation
import Glibc

/// A system user made for one test and removed after it (`useradd`/`userdel`, root only), so that tests act as the
/// threat model's tenants and socket users with real, existing accounts and leave nothing behind.
///
/// Every process the user still runs is killed before the account is removed.
public final class ThrowawayUser: @unchecked Sendable {
    // SAFETY: every stored property is a `let`; `remove()` runs external commands only.

    /// The login name, `dxt<random>`.
    public let name: String
    /// The user's uid.
    public let uid: UInt32
    /// The user's own group's gid.
    public let gid: UInt32

    /// Whether this process may create users.
    public static var isAvailable: Bool {
        geteuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/sbin/useradd")
    }

    /// Why tests that need throwaway users are skipped where they are.
    public static let unavailableReason = "needs root and useradd: the test acts as throwaway users"

    /// Creates a system user with its own group, no home directory and no login shell.
    public init() throws {
        let name = "dxt" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        let created = Self.run(
            "/usr/sbin/useradd",
            ["--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin", name])
        guard created.status == 0 else {
            throw ThrowawayUserError("useradd \(name) failed (\(created.status)): \(created.stderr)")
        }
        guard let entry = getpwnam(name) else { throw ThrowawayUserError("useradd made \(name), getpwnam finds none") }
        self.name = name
        uid = entry.pointee.pw_uid
        gid = entry.pointee.pw_gid
    }

    deinit { remove() }

    /// Kills the user's processes and removes the account (and its group). Harmless twice.
    public func remove() {
        guard getpwnam(name) != nil else { return }
        _ = Self.run("/usr/bin/pkill", ["-KILL", "-U", "\(uid)"])
        for _ in 0..<50 {
            if Self.run("/usr/sbin/userdel", [name]).status == 0 { return }
            usleep(20_000)
        }
    }

    /// The `setpriv` prefix that runs a command as this user, with no supplementary groups.
    public var launcher: [String] {
        ["/usr/bin/setpriv", "--reuid=\(uid)", "--regid=\(gid)", "--clear-groups"]
    }

    /// Runs `executable` as this user and waits for it.
    @discardableResult
    public func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil)
        -> ThrowawayUser.Result
    {
        Self.run(launcher[0], Array(launcher.dropFirst()) + [executable] + arguments, environment: environment)
    }

    /// Starts `executable` as this user without waiting (stdout and stderr go to the returned pipes).
    public func start(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws
        -> Process
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: launcher[0])
        process.arguments = Array(launcher.dropFirst()) + [executable] + arguments
        if let environment { process.environment = environment }
        process.standardOutput = Pipe()
        process.standardError = Pipe()
        try process.run()
        return process
    }

    /// What a finished command printed.
    public struct Result: Sendable {
        /// The exit status.
        public var status: Int32
        /// What it wrote to standard output.
        public var stdout: String
        /// What it wrote to standard error.
        public var stderr: String
    }

    /// Runs a command as the current user and waits for it.
    @discardableResult
    public static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil)
        -> Result
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("dxt-\(UUID().uuidString)")
        let errors = FileManager.default.temporaryDirectory.appendingPathComponent("dxt-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errors.path, contents: nil)
        defer {
            try? FileManager.default.removeItem(at: output)
            try? FileManager.default.removeItem(at: errors)
        }
        do {
            process.standardOutput = try FileHandle(forWritingTo: output)
            process.standardError = try FileHandle(forWritingTo: errors)
            try process.run()
        } catch {
            return Result(status: -1, stdout: "", stderr: "\(error)")
        }
        // A bounded wait instead of `waitUntilExit`, which can miss the end of a short-lived child while many
        // tests start processes at once; `useradd` and `userdel` are checked through the user database anyway.
        let deadline = Date().addingTimeInterval(60)
        while process.isRunning && Date() < deadline { usleep(5_000) }
        return Result(
            status: process.isRunning ? -2 : process.terminationStatus,
            stdout: (try? String(contentsOf: output, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOf: errors, encoding: .utf8)) ?? ""
        )
    }
}

/// A throwaway user could not be made.
public struct ThrowawayUserError: Error, CustomStringConvertible {
    /// What went wrong.
    public var description: String
    /// An error saying `description`.
    public init(_ description: String) { self.description = description }
}
