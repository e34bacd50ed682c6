import DaxPoolCore
import Testing

@Suite("LabelStore crash safety", .timeLimit(.minutes(20)))
struct LabelCrashTests {
    typealias Support = LabelTestSupport

    /// One scripted update.
    enum Step: Sendable {
        case put(LabelledNamespace)
        case remove(LabelUUID)
        case apply(puts: [LabelledNamespace], removes: [LabelUUID])

        func run<S: LabelStorage>(on store: inout LabelStore<S>) throws(LabelError) {
            switch self {
            case .put(let namespace): try store.put(namespace)
            case .remove(let uuid): try store.remove(uuid: uuid)
            case .apply(let puts, let removes): try store.apply(puts: puts, removes: removes)
            }
        }

        func model(after model: [LabelUUID: LabelledNamespace]) -> [LabelUUID: LabelledNamespace] {
            var result = model
            switch self {
            case .put(let namespace):
                result[namespace.uuid] = namespace
            case .remove(let uuid):
                result[uuid] = nil
            case .apply(let puts, let removes):
                for uuid in removes { result[uuid] = nil }
                for namespace in puts { result[namespace.uuid] = namespace }
            }
            return result
        }
    }

    static let a = Support.uuid(201)
    static let b = Support.uuid(202)
    static let c = Support.uuid(203)
    static let d = Support.uuid(204)
    static let e = Support.uuid(205)
    static let f = Support.uuid(206)

    /// Create, resize, rename and remove on an 8 KiB v1.2 area (30 slots); step 16 runs nearly full.
    static let script: [Step] = [
        .put(Support.namespace(a, extents: 1)),
        .put(Support.namespace(b, name: "bee", alignment: 2 << 20, extents: 3, base: 1000)),
        .put(Support.namespace(c, extents: 2, base: 2000)),
        .put(Support.namespace(a, extents: 2)),
        .put(Support.namespace(b, name: "bumble", alignment: 2 << 20, extents: 3, base: 1000)),
        .remove(c),
        .apply(
            puts: [Support.namespace(d, extents: 4, base: 3000), Support.namespace(e, extents: 1, base: 4000)],
            removes: [a]),
        .put(Support.namespace(d, extents: 2, base: 3000)),
        .put(Support.namespace(a, extents: 3, base: 5000)),
        .remove(e),
        .put(Support.namespace(b, alignment: 1 << 30, extents: 1, base: 1000)),
        .put(Support.namespace(c, extents: 5, base: 2000)),
        .apply(puts: [Support.namespace(b, extents: 2, base: 1000), Support.namespace(a, extents: 1)], removes: [d]),
        .put(Support.namespace(e, extents: 6, base: 4000)),
        .put(Support.namespace(d, extents: 6, base: 3000)),
        .put(Support.namespace(e, extents: 6, base: 6000)),
        .remove(c),
        .put(Support.namespace(a, name: "renamed", extents: 1)),
        .apply(puts: [], removes: [a, b]),
        .apply(puts: [Support.namespace(c, extents: 1, base: 7000)], removes: [d]),
        .put(Support.namespace(f, name: "last", alignment: 4096, extents: 2, base: 8000)),
    ]

    static func sorted(_ model: [LabelUUID: LabelledNamespace]) -> [LabelledNamespace] {
        model.values.sorted { $0.uuid < $1.uuid }
    }

    static func recovered(_ bytes: [UInt8]) throws -> [LabelledNamespace] {
        try LabelArea.decode(bytes).namespaces
    }

    static func formatted() throws -> LabelStore<InMemoryLabelStorageFake> {
        try LabelStore(
            formatting: InMemoryLabelStorageFake(size: 8192), version: .v1Dot2, interleaveSetCookie: Support.cookie)
    }

    @Test("cutting the write stream at every byte of every write recovers the state before or after the update")
    func everyCutRecovers() throws {
        var store = try Self.formatted()
        var model: [LabelUUID: LabelledNamespace] = [:]
        var cutPoints = 0
        var interposed = 0
        var fallbacks = 0
        for (number, step) in Self.script.enumerated() {
            let beforeBytes = store.storage.bytes
            let before = Self.sorted(model)
            let eventCount = store.storage.events.count
            try step.run(on: &store)
            model = step.model(after: model)
            let after = Self.sorted(model)
            #expect(store.namespaces == after, "step \(number)")
            #expect(try Self.recovered(store.storage.bytes) == after, "step \(number)")
            let events = Array(store.storage.events[eventCount...])
            if events.filter({ $0 == .flush }).count == 4 {
                fallbacks += 1
            }
            let writes = events.compactMap { event -> (offset: Int, bytes: [UInt8])? in
                if case .write(let offset, let bytes) = event { return (offset, bytes) }
                return nil
            }
            #expect(!writes.isEmpty, "step \(number) must write")

            // Cut the recorded stream after `index` whole writes and `landed` bytes of the next one, then
            // re-open. At each boundary and at the middle of each write, also run the real update through
            // the write-cutting fake and check that it leaves exactly the same bytes.
            var sawAfter = false
            var prefix = beforeBytes
            for (index, write) in writes.enumerated() {
                for landed in 0..<write.bytes.count {
                    var bytes = prefix
                    bytes.replaceSubrange(write.offset..<(write.offset + landed), with: write.bytes[0..<landed])
                    let reopened = try LabelStore(
                        opening: InMemoryLabelStorageFake(bytes: bytes), interleaveSetCookie: 0)
                    let state = reopened.namespaces
                    if state == after {
                        sawAfter = true
                    } else if state != before || sawAfter {
                        Issue.record(
                            "step \(number), write \(index), \(landed) bytes: \(state) is neither before nor after")
                    }
                    cutPoints += 1
                    guard landed == 0 || landed == write.bytes.count / 2 else {
                        continue
                    }
                    let fake = WriteCuttingLabelStorageFake(
                        bytes: beforeBytes, completeWrites: index, bytesOfCutWrite: landed)
                    var crashed = try LabelStore(opening: fake, interleaveSetCookie: Support.cookie)
                    #expect(throws: LabelError.self) { try step.run(on: &crashed) }
                    #expect(crashed.storage.bytes == bytes, "step \(number): the update must write the recorded stream")
                    interposed += 1
                    if landed == 0 {
                        var resumed = try LabelStore(
                            opening: InMemoryLabelStorageFake(bytes: bytes), interleaveSetCookie: Support.cookie
                        )
                        try step.run(on: &resumed)
                        #expect(resumed.namespaces == after, "step \(number): redoing after a crash at write \(index)")
                    }
                }
                prefix.replaceSubrange(write.offset..<(write.offset + write.bytes.count), with: write.bytes)
            }
            #expect(sawAfter || writes.count == 1, "step \(number): some cut must already recover the new state")
        }
        #expect(fallbacks >= 1, "the script must exercise the nearly-full fallback")
        print(
            "label crash test: \(Self.script.count) updates, \(cutPoints) cut points re-opened, "
                + "\(interposed) of them also cut live through the write-cutting fake"
        )
    }

    @Test("any subset of the writes since the last flush, with one of them torn, recovers before or after")
    func unflushedSubsetsRecover() throws {
        var store = try Self.formatted()
        var model: [LabelUUID: LabelledNamespace] = [:]
        var states = 0
        for (number, step) in Self.script.enumerated() {
            var durable = store.storage.bytes
            let before = Self.sorted(model)
            let eventCount = store.storage.events.count
            try step.run(on: &store)
            model = step.model(after: model)
            let after = Self.sorted(model)
            var epoch: [(offset: Int, bytes: [UInt8])] = []
            for event in store.storage.events[eventCount...] {
                switch event {
                case .write(let offset, let bytes):
                    epoch.append((offset, bytes))
                case .flush:
                    for mask in 0..<(1 << epoch.count) {
                        let chosen = epoch.indices.filter { mask & (1 << $0) != 0 }
                        for torn in [nil] + chosen.map(Optional.some) {
                            var bytes = durable
                            for index in chosen {
                                let write = epoch[index]
                                let landed = index == torn ? write.bytes.count / 2 : write.bytes.count
                                bytes.replaceSubrange(
                                    write.offset..<(write.offset + landed), with: write.bytes[0..<landed])
                            }
                            let state = try Self.recovered(bytes)
                            if state != before && state != after {
                                Issue.record(
                                    "step \(number), writes \(chosen), torn \(String(describing: torn)): \(state)")
                            }
                            states += 1
                        }
                    }
                    for write in epoch {
                        durable.replaceSubrange(write.offset..<(write.offset + write.bytes.count), with: write.bytes)
                    }
                    epoch = []
                }
            }
            #expect(epoch.isEmpty, "step \(number) must end with a flush")
        }
        print("label crash test: \(states) reordered unflushed states checked")
    }
}
