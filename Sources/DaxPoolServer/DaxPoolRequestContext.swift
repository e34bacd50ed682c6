import CLinuxShims
import DaxPoolSystem
import Hummingbird
import NIOCore
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// The request context of the daemon: Hummingbird's core storage plus who is calling. When a request arrives
/// the context asks the connection's socket for its peer credentials (`SO_PEERCRED`: the pid, uid and gid of
/// the process that connected); `CallerMiddleware` waits for the answer and sets `caller`.
public struct DaxPoolRequestContext: RequestContext {
    /// Hummingbird's per-request storage (logger, parameters, request decoder and encoder).
    public var coreContext: CoreRequestContextStorage
    /// The pending `getsockopt(SO_PEERCRED)`; `nil` when the channel is not a socket.
    let peerCredentials: EventLoopFuture<cshim_peer_credentials>?
    /// The caller, set by `CallerMiddleware` before any route runs.
    public var caller: Caller?
    /// The connection, so that a refusal can have it closed after its answer (`closeConnectionAfterResponse`).
    let channel: any Channel

    /// A context for a request arriving on `source`'s channel; asks the socket for its peer's credentials at once.
    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        let provider = source.channel as? any SocketOptionProvider
        peerCredentials = provider?.unsafeGetSocketOption(
            level: SocketOptionLevel(cshim_SOL_SOCKET), name: SocketOptionName(cshim_SO_PEERCRED))
        caller = nil
        channel = source.channel
    }

    /// The caller, or a refusal when the credentials could not be read.
    func requireCaller() throws(AccessDenied) -> Caller {
        guard let caller else { throw AccessDenied("the daemon could not learn who is calling (no peer credentials)") }
        return caller
    }
}

/// Reads the peer credentials of the request's connection into the context, with the caller's supplementary
/// groups when the access policy names groups. A request whose caller cannot be identified is refused.
struct CallerMiddleware: RouterMiddleware {
    typealias Context = DaxPoolRequestContext
    let policy: AccessPolicy

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        guard let future = context.peerCredentials else {
            throw AccessDenied("the connection is not a Unix socket, so the daemon cannot tell who is calling")
        }
        let raw: cshim_peer_credentials
        do {
            raw = try await future.get()
        } catch {
            throw AccessDenied("the daemon could not read the caller's credentials (SO_PEERCRED): \(error)")
        }
        var context = context
        var caller = Caller(uid: raw.uid, gid: raw.gid, pid: raw.pid > 0 ? raw.pid : nil)
        if policy.namesGroups, !policy.isAdministrator(caller), let pid = caller.pid {
            caller.groups = ProcessStatus.supplementaryGroups(of: pid)
        }
        context.caller = caller
        return try await next(request, context)
    }
}

/// What `/proc/PID/status` says about a process.
enum ProcessStatus {
    /// The `Groups:` line of `/proc/PID/status`; empty when the file cannot be read.
    static func supplementaryGroups(of pid: Int32) -> [UInt32] {
        guard let file = try? OwnedDescriptor.open(FilePath("/proc/\(pid)/status"), .readOnly),
            let bytes = try? Syscall.readAll(file.descriptor.rawValue)
        else { return [] }
        let text = String(decoding: bytes, as: UTF8.self)
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("Groups:") }) else { return [] }
        return line.dropFirst("Groups:".count).split(whereSeparator: { $0 == " " || $0 == "\t" }).compactMap {
            UInt32($0)
        }
    }
}
