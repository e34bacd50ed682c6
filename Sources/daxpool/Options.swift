import ArgumentParser
import DaxPoolClient

#if canImport(Glibc)
import Glibc
#endif

/// Where the daemon listens. Shared by every client command.
struct ConnectionOptions: ParsableArguments {
    @Option(name: .long, help: "The daemon's Unix socket (default: $DAXPOOL_SOCKET, else a per-user path).")
    var socket: String?

    var resolvedSocket: String { socket ?? DefaultPaths.socket }

    func client() -> DaxPoolClient { DaxPoolClient(socketPath: resolvedSocket) }
}

/// Default paths, per user so that no root is needed.
enum DefaultPaths {
    static func environment(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        let text = String(cString: value)
        return text.isEmpty ? nil : text
    }

    static var isRoot: Bool { geteuid() == 0 }

    /// `$DAXPOOL_SOCKET`; else `/run/daxpool/daxpool.sock` for root; else `$XDG_RUNTIME_DIR/daxpool.sock`
    /// or `/tmp/daxpool-<uid>/daxpool.sock`.
    static var socket: String {
        if let path = environment("DAXPOOL_SOCKET") { return path }
        if isRoot { return "/run/daxpool/daxpool.sock" }
        if let runtime = environment("XDG_RUNTIME_DIR") { return "\(runtime)/daxpool.sock" }
        return "/tmp/daxpool-\(geteuid())/daxpool.sock"
    }

    /// `$DAXPOOL_STATE_DIR`; else `/var/lib/daxpool` for root; else `$XDG_STATE_HOME/daxpool` or
    /// `~/.local/state/daxpool`.
    static var stateDirectory: String {
        if let path = environment("DAXPOOL_STATE_DIR") { return path }
        if isRoot { return "/var/lib/daxpool" }
        if let state = environment("XDG_STATE_HOME") { return "\(state)/daxpool" }
        if let home = environment("HOME") { return "\(home)/.local/state/daxpool" }
        return "/tmp/daxpool-\(geteuid())/state"
    }

    /// `/dev/shm/daxpool-<uid>`.
    static var shmRoot: String { "/dev/shm/daxpool-\(geteuid())" }
}
