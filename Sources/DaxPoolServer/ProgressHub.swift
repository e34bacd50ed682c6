import DaxPoolCore
import Synchronization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Publishes the progress of long memory operations (scrubs, prefaults) to `/v1/progress` clients.
///
/// Operations report from whatever thread does the work (a scrub thread, the pool actor while it prefaults), so
/// the hub is a lock, not an actor: reporting never waits. It keeps the latest event of each running operation and
/// of the most recent finished ones, so that a client that connects late (or after its operation ended) still
/// learns how it ended. Reports are thinned to about one per percent, and `done` never goes backwards.
///
/// Every operation has an owner: the uid that owns its device (`nil` for a region's pool fill, and for a scrub
/// whose device's owner the hub was not told). A reader sees the operations of its `Audience`: administrators
/// everything, anyone else only the operations of devices it owns.
public final class ProgressHub: Sendable {
    /// How many finished operations are remembered.
    public static let retainedOperations = 64
    /// How many owners of destroyed devices waiting for their scrub are remembered.
    static let retainedOwners = 4096

    /// Whose operations a reader sees.
    public enum Audience: Sendable, Hashable {
        /// Every operation (administrators).
        case everything
        /// The operations of devices `uid` owns; never a pool fill or an operation without an owner.
        case owner(UInt32)

        func sees(_ owner: UInt32?) -> Bool {
            switch self {
            case .everything: true
            case .owner(let uid): owner == uid
            }
        }
    }

    private struct Operation {
        var latest: ProgressEvent
        var owner: UInt32?
        var started: ContinuousClock.Instant
        var lastPublished: UInt64
    }

    private struct Subscriber {
        var continuation: AsyncStream<ProgressEvent>.Continuation
        var audience: Audience
        var ended: EndFlag
    }

    /// Set when a subscriber's stream ends (its reader went away). The stream's termination handler sets it without
    /// taking the hub's lock: the handler runs while the runtime holds the cancelled task's status lock, and a
    /// publish holds the hub's lock while it yields (so events keep their order), and yielding takes that same task
    /// lock; taking the hub's lock in the handler would let the two wait for each other for ever. Ended subscribers
    /// are dropped under the hub's lock at the next subscribe or publish.
    private final class EndFlag: Sendable {
        private let value = Atomic<Bool>(false)

        func set() { value.store(true, ordering: .relaxed) }

        var isSet: Bool { value.load(ordering: .relaxed) }
    }

    private struct State {
        var nextOperation: UInt64 = 1
        var sequence: UInt64 = 0
        var operations: [UInt64: Operation] = [:]
        var finished: [UInt64] = []
        var subscribers: [Int: Subscriber] = [:]
        var nextSubscriber = 0
        /// Owners of destroyed devices, by uuid, until their scrub starts (`rememberOwner`), oldest first.
        var destroyedOwners: [(uuid: String, owner: UInt32)] = []
        /// Told of every operation's last event (`observeEnds`).
        var endObservers: [@Sendable (ProgressEvent) -> Void] = []

        func latest(for audience: Audience) -> [ProgressEvent] {
            operations.values.filter { audience.sees($0.owner) }.map(\.latest).sorted { $0.operation < $1.operation }
        }

        mutating func publish(_ event: ProgressEvent, owner: UInt32?) {
            dropEnded()
            for subscriber in subscribers.values where subscriber.audience.sees(owner) {
                subscriber.continuation.yield(event)
            }
        }

        /// Forgets the subscribers whose streams ended.
        mutating func dropEnded() {
            if subscribers.values.contains(where: { $0.ended.isSet }) {
                subscribers = subscribers.filter { !$0.value.ended.isSet }
            }
        }
    }

    private let state = Mutex(State())

    /// A hub with no operations and no subscribers.
    public init() {}

    /// Starts an operation on `total` bytes of `device`, publishes its first event, and returns its number. `owner`
    /// is the uid that owns the device; for a scrub, `nil` takes the owner `rememberOwner` gave for `uuid` (and
    /// forgets it). An operation without an owner is seen by administrators only.
    public func start(
        _ kind: ProgressEvent.Kind,
        region: Int,
        device: DeviceID,
        uuid: LabelUUID,
        name: DeviceName?,
        total: ByteCount,
        owner: UInt32? = nil
    ) -> UInt64 {
        start(
            kind, region: region, device: device.description, uuid: uuid.description, name: name?.value,
            total: total, owner: owner)
    }

    /// Starts a fill of region `region`'s pool (`device` `regionR.pool`, no uuid) on `total` bytes. A fill belongs
    /// to no owner: only administrators see it.
    public func startFill(region: Int, total: ByteCount) -> UInt64 {
        start(.fill, region: region, device: "region\(region).pool", uuid: "", name: nil, total: total, owner: nil)
    }

    /// Remembers that the destroyed device `uuid` belonged to `owner`, for the scrub of its memory that starts later
    /// (its owner then sees the scrub). Only the latest `retainedOwners` are kept.
    public func rememberOwner(_ owner: UInt32, of uuid: LabelUUID) {
        state.withLock { state in
            state.destroyedOwners.removeAll { $0.uuid == uuid.description }
            state.destroyedOwners.append((uuid.description, owner))
            if state.destroyedOwners.count > Self.retainedOwners { state.destroyedOwners.removeFirst() }
        }
    }

    private func start(
        _ kind: ProgressEvent.Kind,
        region: Int,
        device: String,
        uuid: String,
        name: String?,
        total: ByteCount,
        owner: UInt32?
    ) -> UInt64 {
        state.withLock { state in
            var owner = owner
            if kind == .scrub, owner == nil, let index = state.destroyedOwners.firstIndex(where: { $0.uuid == uuid }) {
                owner = state.destroyedOwners.remove(at: index).owner
            }
            let operation = state.nextOperation
            state.nextOperation += 1
            state.sequence += 1
            let event = ProgressEvent(
                sequence: state.sequence, operation: operation, kind: kind, state: .running, region: region,
                device: device, deviceUUID: uuid, deviceName: name,
                done: 0, total: total.rawValue, rate: 0, time: Self.now()
            )
            state.operations[operation] = Operation(latest: event, owner: owner, started: .now, lastPublished: 0)
            state.publish(event, owner: owner)
            return operation
        }
    }

    /// Reports `done` bytes of `operation`; published when it moved about a percent since the last report.
    public func update(_ operation: UInt64, done: ByteCount) {
        publish(operation, done: done, final: nil, message: nil)
    }

    /// Ends `operation`: finished (everything done) or failed with `message`.
    public func finish(_ operation: UInt64, failure message: String? = nil) {
        publish(operation, done: nil, final: message == nil ? .finished : .failed, message: message)
    }

    /// The latest event of every remembered operation `audience` sees (running and recently finished), oldest
    /// operation first, and a stream of the events to come that it sees (atomically: none is lost between the two).
    public func subscribe(_ audience: Audience = .everything) -> (
        latest: [ProgressEvent], stream: AsyncStream<ProgressEvent>
    ) {
        let (stream, continuation) = AsyncStream<ProgressEvent>.makeStream(bufferingPolicy: .bufferingNewest(4096))
        let ended = EndFlag()
        // Never the hub's lock here (see `EndFlag`).
        continuation.onTermination = { _ in ended.set() }
        let latest = state.withLock { state in
            state.dropEnded()
            let id = state.nextSubscriber
            state.nextSubscriber += 1
            state.subscribers[id] = Subscriber(continuation: continuation, audience: audience, ended: ended)
            return state.latest(for: audience)
        }
        return (latest, stream)
    }

    /// The latest event of every remembered operation, oldest operation first.
    public var latest: [ProgressEvent] { latest(for: .everything) }

    /// The latest event of every remembered operation `audience` sees, oldest operation first.
    public func latest(for audience: Audience) -> [ProgressEvent] {
        state.withLock { $0.latest(for: audience) }
    }

    /// Ends every stream (at shutdown).
    public func finishSubscribers() {
        let subscribers = state.withLock { state in
            defer { state.subscribers.removeAll() }
            return Array(state.subscribers.values)
        }
        for subscriber in subscribers { subscriber.continuation.finish() }
    }

    /// Calls `observer` with every operation's last event (finished or failed), on the thread that ended it, outside
    /// the hub's lock: for counters that must see every end without a task of their own to wake (`MetricsScrubTally`).
    public func observeEnds(_ observer: @escaping @Sendable (ProgressEvent) -> Void) {
        state.withLock { $0.endObservers.append(observer) }
    }

    private func publish(_ operation: UInt64, done: ByteCount?, final: ProgressEvent.State?, message: String?) {
        let ended = state.withLock { state -> (ProgressEvent, [@Sendable (ProgressEvent) -> Void])? in
            guard var entry = state.operations[operation], entry.latest.state == .running else { return nil }
            let total = entry.latest.total
            let reached = final == .finished ? total : min(max(done?.rawValue ?? 0, entry.latest.done), total)
            let step = max(total / 100, 1)
            if final == nil, reached < total, reached - entry.lastPublished < step { return nil }
            if final == nil, reached == entry.latest.done, entry.lastPublished == reached, reached > 0 { return nil }
            let elapsed = entry.started.duration(to: .now)
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            state.sequence += 1
            entry.latest.sequence = state.sequence
            entry.latest.done = reached
            entry.latest.rate = seconds > 0 ? UInt64(min(Double(reached) / seconds, Double(UInt64.max / 2))) : 0
            entry.latest.time = Self.now()
            if let final {
                entry.latest.state = final
                entry.latest.message = message
                state.finished.append(operation)
                if state.finished.count > Self.retainedOperations {
                    state.operations[state.finished.removeFirst()] = nil
                }
            }
            entry.lastPublished = reached
            state.operations[operation] = entry
            state.publish(entry.latest, owner: entry.owner)
            return final == nil || state.endObservers.isEmpty ? nil : (entry.latest, state.endObservers)
        }
        if let (event, observers) = ended {
            for observer in observers { observer(event) }
        }
    }

    static func now() -> Int64 {
        Int64((Date().timeIntervalSince1970 * 1000).rounded())
    }
}
