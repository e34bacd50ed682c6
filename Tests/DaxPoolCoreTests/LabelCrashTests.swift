import DaxPoolCore
import Testing

@Suite("LabelStore crash safety")
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
        .apply(puts: [Support.namespace(d, extents: 4, base: 3000), Support.namespace(e, extents: 1, base: 4000)], removes: [a]),
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
        try LabelStore(formatting: InMemoryLabelStorageFake(size: 8192), version: .v1Dot2, interleaveSetCookie: Support.cookie)
    }

    @Test("cutting the write stream at every byte of every write recovers the state before or after the update")
    func everyCutRecovers() throws {
        var store = try Self.formatted()
        var model: [LabelUUID: LabelledNamespace] = [:]
        var cutPoints = 0
        var boundaries = 0
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
            let writes = events.compactMap { event -> Int? in
                if case .write(_, let bytes) = event { return bytes.count }
                return nil
            }
            #expect(!writes.isEmpty, "step \(number) must write")
            var sawAfter = false
            for (index, count) in writes.enumerated() {
                for landed in 0..<count {
                    let fake = WriteCuttingLabelStorageFake(bytes: beforeBytes, completeWrites: index, bytesOfCutWrite: landed)
                    var crashed = try LabelStore(opening: fake, interleaveSetCookie: Support.cookie)
                    #expect(throws: LabelError.self) { try step.run(on: &crashed) }
                    let state = try Self.recovered(crashed.storage.bytes)
                    if state == after {
                        sawAfter = true
                    } else {
                        #expect(state == before, "step \(number), write \(index), \(landed) bytes: a mixed state")
                        #expect(!sawAfter, "step \(number), write \(index), \(landed) bytes: went back to before")
                    }
                    cutPoints += 1
                    if landed == 0 {
                        boundaries += 1
                        var resumed = try LabelStore(
                            opening: InMemoryLabelStorageFake(bytes: crashed.storage.bytes), interleaveSetCookie: Support.cookie
                        )
                        try step.run(on: &resumed)
                        #expect(resumed.namespaces == after, "step \(number): redoing after a crash at write \(index)")
                    }
                }
            }
        }
        #expect(fallbacks >= 1, "the script must exercise the nearly-full fallback")
        print("label crash test: \(Self.script.count) updates, \(boundaries) write boundaries, \(cutPoints) cut points checked")
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
                                bytes.replaceSubrange(write.offset..<(write.offset + landed), with: write.bytes[0..<landed])
                            }
                            let state = try Self.recovered(bytes)
                            #expect(state == before || state == after, "step \(number), writes \(chosen), torn \(String(describing: torn))")
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
