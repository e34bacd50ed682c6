// Linux only: reads RLIMIT_NOFILE, /proc/self/fd and SO_PEERCRED.
import CLinuxShims
import DaxPoolAPI
import DaxPoolSystem
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes
import Synchronization
import SystemPackage

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// How many connections the daemon takes and how long it keeps one that sends nothing, so that no one can
/// starve others of the socket: one uid holds at most `maximumPerUID` connections, descriptors are kept back for
/// the daemon's own files and for administrators, and an idle connection is closed after `idleTimeout`.
public struct ConnectionLimits: Sendable, Equatable {
    /// Connections one uid may hold open at once. Administrators are exempt: only the total binds them.
    public var maximumPerUID: Int
    /// How long a connection may send nothing (before its first request, within a header or body, or kept alive
    /// between requests) before the daemon closes it; `nil` keeps idle connections open. A response being sent
    /// (a `follow` stream) is never cut.
    public var idleTimeout: Duration?
    /// Descriptors kept for the daemon's own files (device mappings, label stores, lease holders' pidfds) beyond
    /// those it holds when the server is built.
    public var reservedForDaemon: Int
    /// Descriptors only administrators' connections may use.
    public var reservedForAdministrators: Int
    /// The descriptor limit to budget against; `nil` reads the soft `RLIMIT_NOFILE` when the server is built.
    public var descriptorLimit: Int?

    /// The default of `serve --max-connections-per-uid`.
    public static let defaultMaximumPerUID = 32
    /// The default of `serve --idle-timeout`, in seconds.
    public static let defaultIdleTimeoutSeconds = 30

    /// Limits with the `serve` defaults: 32 connections per uid, a 30-second idle timeout, 64 descriptors kept for
    /// the daemon and 16 for administrators, and the soft `RLIMIT_NOFILE` as the budget.
    public init(
        maximumPerUID: Int = ConnectionLimits.defaultMaximumPerUID,
        idleTimeout: Duration? = .seconds(ConnectionLimits.defaultIdleTimeoutSeconds),
        reservedForDaemon: Int = 64,
        reservedForAdministrators: Int = 16,
        descriptorLimit: Int? = nil
    ) {
        self.maximumPerUID = maximumPerUID
        self.idleTimeout = idleTimeout
        self.reservedForDaemon = reservedForDaemon
        self.reservedForAdministrators = reservedForAdministrators
        self.descriptorLimit = descriptorLimit
    }
}

/// The connections the daemon holds, by uid, shared by every connection's `ConnectionLimiter`.
final class ConnectionLedger: Sendable {
    /// How many connections may be open, worked out once from the descriptor limit.
    struct Budget: Sendable, Equatable {
        /// The descriptor limit the budget comes from.
        var descriptorLimit: Int
        /// Connections one non-administrator uid may hold.
        var perUID: Int
        /// Connections in all past which non-administrators are refused.
        var nonAdministrators: Int
        /// Connections in all past which everyone is refused.
        var total: Int

        /// Subtracts from `descriptorLimit` what the daemon holds (`openDescriptors`) and keeps back.
        init(limits: ConnectionLimits, descriptorLimit: Int, openDescriptors: Int) {
            self.descriptorLimit = descriptorLimit
            perUID = max(0, limits.maximumPerUID)
            total = max(0, descriptorLimit - openDescriptors - max(0, limits.reservedForDaemon))
            nonAdministrators = max(0, total - max(0, limits.reservedForAdministrators))
        }
    }

    /// Why a connection was refused.
    enum Refusal: Sendable, Equatable {
        case perUID(uid: UInt32, open: Int)
        case nonAdministrators(open: Int)
        case total(open: Int)
        case noCredentials
    }

    private struct State {
        var openByUID: [UInt32: Int] = [:]
        var open = 0
        var refusedSinceReport = 0
        var lastReport: ContinuousClock.Instant?
    }

    let budget: Budget
    let policy: AccessPolicy
    let logger: Logger
    /// How often refusals are logged at most.
    let reportInterval: Duration = .seconds(10)
    private let state = Mutex(State())

    init(limits: ConnectionLimits, policy: AccessPolicy, logger: Logger) {
        // The NIO event loops (an epoll, an eventfd and a timerfd each) may not be running yet: count them too.
        let open = Self.openDescriptorCount() + 3 * System.coreCount
        let descriptorLimit = limits.descriptorLimit ?? Self.softDescriptorLimit()
        budget = Budget(limits: limits, descriptorLimit: descriptorLimit, openDescriptors: open)
        self.policy = policy
        self.logger = logger
        let metadata: Logger.Metadata = [
            "descriptor_limit": "\(descriptorLimit)", "open_descriptors": "\(open)",
            "connections": "\(budget.total)", "non_administrator_connections": "\(budget.nonAdministrators)",
            "per_uid": "\(budget.perUID)",
        ]
        if budget.nonAdministrators == 0 {
            logger.warning(
                "the descriptor limit leaves no connections for non-administrators: raise RLIMIT_NOFILE",
                metadata: metadata)
        } else {
            logger.info("connection limits", metadata: metadata)
        }
    }

    /// Counts a new connection from `caller`, or says why it is refused (and then counts nothing).
    func admit(_ caller: Caller) -> Refusal? {
        var caller = caller
        var administrator = policy.isAdministrator(caller)
        var refusal = state.withLock { admit(caller.uid, administrator: administrator, in: &$0) }
        // Only a caller about to be refused pays for reading its supplementary groups.
        if refusal != nil, !administrator, !policy.adminGroups.isEmpty, let pid = caller.pid {
            caller.groups = ProcessStatus.supplementaryGroups(of: pid)
            administrator = policy.isAdministrator(caller)
            if administrator { refusal = state.withLock { admit(caller.uid, administrator: true, in: &$0) } }
        }
        if let refusal { report(refusal) }
        return refusal
    }

    private func admit(_ uid: UInt32, administrator: Bool, in state: inout State) -> Refusal? {
        let mine = state.openByUID[uid, default: 0]
        if administrator {
            guard state.open < budget.total else { return .total(open: state.open) }
        } else {
            guard mine < budget.perUID else { return .perUID(uid: uid, open: mine) }
            guard state.open < budget.nonAdministrators else { return .nonAdministrators(open: state.open) }
        }
        state.openByUID[uid] = mine + 1
        state.open += 1
        return nil
    }

    /// Forgets a connection `admit` counted.
    func release(uid: UInt32) {
        state.withLock { state in
            let mine = state.openByUID[uid, default: 0]
            state.openByUID[uid] = mine > 1 ? mine - 1 : nil
            state.open = max(0, state.open - 1)
        }
    }

    /// What a refused client is told.
    func message(for refusal: Refusal) -> String {
        switch refusal {
        case .perUID(let uid, let open):
            "uid \(uid) already holds \(open) connections to the daemon, the most one user may "
                + "(serve --max-connections-per-uid); close idle ones and retry"
        case .nonAdministrators(let open):
            "the daemon holds \(open) connections, all its descriptor limit (\(budget.descriptorLimit)) allows "
                + "beyond what it keeps for itself and for administrators; retry later"
        case .total(let open):
            "the daemon holds \(open) connections, all its descriptor limit (\(budget.descriptorLimit)) allows; "
                + "retry later"
        case .noCredentials:
            "the daemon could not learn who is connecting (SO_PEERCRED)"
        }
    }

    /// Logs refusals, at most once per `reportInterval`, with how many there were since the last report.
    private func report(_ refusal: Refusal) {
        let now = ContinuousClock.now
        let count: Int? = state.withLock { state in
            state.refusedSinceReport += 1
            if let last = state.lastReport, now - last < reportInterval { return nil }
            state.lastReport = now
            defer { state.refusedSinceReport = 0 }
            return state.refusedSinceReport
        }
        guard let count else { return }
        logger.warning(
            "refused \(count) connection(s) since the last report; the latest: \(message(for: refusal))",
            metadata: ["report_interval_seconds": "\(reportInterval.components.seconds)"])
    }

    /// The soft `RLIMIT_NOFILE` (`getrlimit(2)`); 1024 when it cannot be read.
    static func softDescriptorLimit() -> Int {
        guard let limit = try? Syscall.resourceLimit(.openFiles) else { return 1024 }
        return limit.soft >= UInt64(Int32.max) ? Int(Int32.max) : Int(limit.soft)
    }

    /// How many descriptors this process has open (entries of `/proc/self/fd`, less the one reading it).
    static func openDescriptorCount() -> Int {
        guard let names = try? Syscall.directoryEntries(FilePath("/proc/self/fd")) else { return 0 }
        return max(0, names.count - 1)
    }
}

/// The first handler of every connection that has a say: when the connection becomes active it reads the peer's
/// credentials (`SO_PEERCRED`) and asks the `ConnectionLedger` whether the uid may hold one more connection. A
/// refused connection is answered `503 too_many_connections` and closed at once, before any request is read, so it
/// holds a descriptor only for that moment; an admitted one is counted until it closes.
final class ConnectionLimiter: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundOut = HTTPResponsePart

    private enum Phase {
        /// Not active yet.
        case new
        /// Waiting for the credentials; parts read meanwhile wait too.
        case deciding(held: [NIOAny])
        case admitted(uid: UInt32)
        /// Refused or closed: nothing more goes on.
        case done
    }

    /// Parts a connection may send before it is admitted; more close it.
    private static let maximumHeldParts = 16

    private let ledger: ConnectionLedger
    private var phase = Phase.new

    init(ledger: ConnectionLedger) { self.ledger = ledger }

    /// Hummingbird's HTTP/1 server with a `ConnectionLimiter` on every connection (one ledger for all) and
    /// `limits.idleTimeout` as its idle timeout.
    static func http1(limits: ConnectionLimits, policy: AccessPolicy, logger: Logger) -> HTTPServerBuilder {
        let ledger = ConnectionLedger(limits: limits, policy: policy, logger: logger)
        return .http1(
            configuration: HTTP1Channel.Configuration(
                additionalChannelHandlers: [ConnectionLimiter(ledger: ledger)],
                idleTimeout: limits.idleTimeout.map { TimeAmount($0) }
            )
        )
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { decide(context: context, forwardActive: false) }
    }

    func channelActive(context: ChannelHandlerContext) {
        decide(context: context, forwardActive: true)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch phase {
        case .admitted:
            context.fireChannelRead(data)
        case .deciding(var held):
            held.append(data)
            if held.count > Self.maximumHeldParts {
                phase = .done
                context.close(promise: nil)
            } else {
                phase = .deciding(held: held)
            }
        case .new, .done:
            break
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if case .admitted = phase { context.fireChannelReadComplete() }
    }

    func channelInactive(context: ChannelHandlerContext) {
        release(context.channel)
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        release(context.channel)
    }

    /// Gives back, once, what an admitted connection holds: its place in the ledger and its kept credentials.
    private func release(_ channel: any Channel) {
        if case .admitted(let uid) = phase {
            ledger.release(uid: uid)
            ConnectionCredentials.shared.forget(channel)
        }
        phase = .done
    }

    /// Reads the credentials and admits or refuses the connection. On the channel's event loop the socket option
    /// is read at once, so the verdict falls before the first read.
    private func decide(context: ChannelHandlerContext, forwardActive: Bool) {
        guard case .new = phase else { return }
        phase = .deciding(held: [])
        guard let provider = context.channel as? any SocketOptionProvider else {
            settle(context: context, credentials: nil, forwardActive: forwardActive)
            return
        }
        let future: EventLoopFuture<cshim_peer_credentials> = provider.unsafeGetSocketOption(
            level: SocketOptionLevel(cshim_SOL_SOCKET), name: SocketOptionName(cshim_SO_PEERCRED))
        future.assumeIsolated().whenComplete { result in
            self.settle(context: context, credentials: try? result.get(), forwardActive: forwardActive)
        }
    }

    private func settle(context: ChannelHandlerContext, credentials: cshim_peer_credentials?, forwardActive: Bool) {
        guard case .deciding(let held) = phase else { return }
        let refusal: ConnectionLedger.Refusal?
        if let credentials {
            refusal = ledger.admit(
                Caller(uid: credentials.uid, gid: credentials.gid, pid: credentials.pid > 0 ? credentials.pid : nil))
        } else {
            refusal = .noCredentials
        }
        if let refusal {
            phase = .done
            refuse(context: context, message: ledger.message(for: refusal))
            return
        }
        phase = .admitted(uid: credentials?.uid ?? 0)
        if let credentials { ConnectionCredentials.shared.record(credentials, for: context.channel) }
        if forwardActive { context.fireChannelActive() }
        for part in held { context.fireChannelRead(part) }
        if !held.isEmpty { context.fireChannelReadComplete() }
    }

    /// Answers 503 `too_many_connections` and closes, without reading anything.
    private func refuse(context: ChannelHandlerContext, message: String) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let error = ErrorMapping.body(.tooManyConnections, message)
        var body = ByteBuffer()
        body.writeBytes((try? encoder.encode(error)) ?? Data("{}".utf8))
        body.writeString("\n")
        let head = HTTPResponse(
            status: HTTPResponse.Status(code: ErrorMapping.status(for: .tooManyConnections)),
            headerFields: [
                .contentType: "application/json", .contentLength: "\(body.readableBytes)", .connection: "close",
            ]
        )
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        // A fresh socket takes these few bytes at once; the close does not wait for a peer that never reads.
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        context.close(promise: nil)
    }
}
