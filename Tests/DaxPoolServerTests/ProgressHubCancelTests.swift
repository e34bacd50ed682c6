import DaxPoolCore
import DaxPoolServer
import Dispatch
import Glibc
import Synchronization
import Testing

/// A progress reader that goes away (its request task cancelled) while a scrub publishes must not hang the hub.
@Suite("progress hub under cancelled readers", .timeLimit(.minutes(20)))
struct ProgressHubCancelTests {
    @Test("readers cancelled while events are published never deadlock the hub, and ended readers are dropped")
    func cancelledReadersDuringPublish() async throws {
        let hub = ProgressHub()
        let stop = Atomic<Bool>(false)
        let published = Atomic<Int>(0)
        let finished = DispatchSemaphore(value: 0)
        // A publisher on a thread of its own, as the scrub thread is.
        DispatchQueue.global().async {
            var operation = hub.start(
                .scrub, region: 0, device: DeviceID(region: 0, instance: 0), uuid: LabelUUID(high: 1, low: 1),
                name: nil, total: ByteCount(UInt64(100)))
            var done: UInt64 = 0
            // Bounded, and giving way after each event, so that the hub's lock is not held by this thread alone on a
            // busy machine (the readers must get it to subscribe).
            for _ in 0..<1_000_000 where !stop.load(ordering: .relaxed) {
                done += 1
                if done > 100 {
                    hub.finish(operation)
                    operation = hub.start(
                        .scrub, region: 0, device: DeviceID(region: 0, instance: 0),
                        uuid: LabelUUID(high: 1, low: 1), name: nil, total: ByteCount(UInt64(100)))
                    done = 0
                }
                hub.update(operation, done: ByteCount(done))
                published.add(1, ordering: .relaxed)
                sched_yield()
            }
            finished.signal()
        }
        // Readers that start reading and are cancelled at once, over and over.
        for _ in 0..<500 {
            let (_, stream) = hub.subscribe()
            let reader = Task {
                for await _ in stream {}
            }
            await Task.yield()
            reader.cancel()
            await reader.value
        }
        stop.store(true, ordering: .relaxed)
        // The publisher ends only if no publish is stuck; a deadlock would hold it (and this test) until the limit.
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                finished.wait()
                continuation.resume()
            }
        }
        #expect(published.load(ordering: .relaxed) > 0)
        // Ended readers are forgotten: a new reader still gets the latest events and the hub answers.
        let (latest, _) = hub.subscribe()
        #expect(!latest.isEmpty)
    }
}
