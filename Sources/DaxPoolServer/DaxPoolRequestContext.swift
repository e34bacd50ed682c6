import CLinuxShims
import DaxPoolSystem
import Hummingbird
import NIOCore
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// The request context of the daemon: Hummingbird's core storage plus who is calling: the peer credentials
/// (`SO_PEERCRED`: the pid, uid and gid of the process that connected) of the request's connection, which
/// `ConnectionLimiter` read when the connection was admitted (`ConnectionCredentials`), or else asked of the
/// socket when the request arrives; `CallerMiddleware` sets `caller` from them.
public struct DaxPoolRequestContext: RequestContext {
    /// Hummingbird's per-request storage (logger, parameters, request decoder and encoder).
    public var coreContext: CoreRequestContextStorage
    /// The connection's credentials; `nil` when the channel is not a socket.
    let peerCredentials: PeerCredentials?
    /// The caller, set by `CallerMiddleware` before any route runs.
    public var caller: Caller?
    /// The connection, so that a refusal can have it closed after its answer (`closeConnectionAfterResponse`).
    let channel: any Channel

    /// Credentials known when the request arrives, or a `getsockopt(SO_PEERCRED)` run on the channel's event loop.
    enum PeerCredentials {
        case known(cshim_peer_credentials)
        case pending(EventLoopFuture<cshim_peer_credentials>)
    }

    /// A context for a request arriving on `source`'s channel: the credentials its connection was admitted with,
    /// or (a channel no `ConnectionLimiter` admitted) the socket is asked for them at once.
    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        if let known = ConnectionCredentials.shared.credentials(of: source.channel) {
            peerCredentials = .known(known)
        } else if let provider = source.channel as? any SocketOptionProvider {
            peerCredentials = .pending(
                provider.unsafeGetSocketOption(
                    level: SocketOptionLevel(cshim_SOL_SOCKET), name: SocketOptionName(cshim_SO_PEERCRED)))
        } else {
            peerCredentials = nil
        }
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
        let raw: cshim_peer_credentials
        switch context.peerCredentials {
        case nil:
            throw AccessDenied("the connection is not a Unix socket, so the daemon cannot tell who is calling")
        case .known(let credentials):
            raw = credentials
        case .pending(let future):
            do {
                raw = try await future.get()
            } catch {
                throw AccessDenied("the daemon could not read the caller's credentials (SO_PEERCRED): \(error)")
            }
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
