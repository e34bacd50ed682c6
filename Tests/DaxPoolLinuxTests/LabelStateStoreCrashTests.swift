import DaxPoolCore
import Foundation
import Glibc
import Synchronization
import Testing

@testable import DaxPoolLinux

/// A write interposer that lets a budget of bytes through once armed, then cuts the stream for good: the
/// model of a crash at that byte. Unarmed, it only records.
final class CuttingInterposerFake: FileLabelStorage.WriteInterposer {
    /// One write the store asked for.
    struct Write: Hashable, Sendable {
        var path: String
        var offset: Int
        var count: Int
    }

    private struct State {
        var budget: Int?
        var admitted = 0
        var cut = false
        var writes: [Write] = []
    }

    private let state = Mutex(State())

    /// Lets `budget` bytes through from now on (`nil`: all of them).
    func arm(budget: Int?) {
        state.withLock { $0 = State(budget: budget) }
    }

    /// The writes seen since `arm`.
    var writes: [Write] {
        state.withLock { $0.writes }
    }

    /// Whether the stream was cut.
    var wasCut: Bool {
        state.withLock { $0.cut }
    }

    func admit(path: String, offset: Int, count: Int) -> Int {
        state.withLock { state in
            if state.cut {
                return 0
            }
            state.writes.append(Write(path: path, offset: offset, count: count))
            guard let budget = state.budget else {
                return count
            }
            let left = budget - state.admitted
            if left >= count {
                state.admitted += count
                return count
            }
            state.cut = true
            state.admitted = budget
            return max(left, 0)
        }
    }
}

@Suite("Label state store crash safety", .timeLimit(.minutes(20)))
struct LabelStateStoreCrashTests {
    typealias Script = LabelStateScript

    /// The states a daemon passes through, one `PoolService` change per step (nil: nothing committed yet).
    static func steps() throws -> [(name: String, state: PoolSnapshot)] {
        var model = PoolModel()
        var steps: [(String, PoolSnapshot)] = []
        func step(_ name: String, _ change: (inout PoolModel) throws -> Void) throws {
            try change(&model)
            steps.append((name, model.snapshot))
        }
        let a = DaxPoolCore.DeviceID(region: 0, instance: 0)
        let b = DaxPoolCore.DeviceID(region: 0, instance: 1)
        let c = DaxPoolCore.DeviceID(region: 0, instance: 2)
        try step("create region 0") { try $0.addRegion(Script.config(0)) }
        try step("create device a") {
            _ = try $0.createDevice(
                region: 0, size: .mebibytes(4), align: .page2M, name: Script.name("a"), uuid: Script.uuid(1))
        }
        try step("create discontiguous device b") {
            _ = try $0.createDevice(
                region: 0, size: nil, align: .page4K, name: Script.name("b"), uuid: Script.uuid(2),
                layout: [Scratch.extent(32 << 20, .mebibytes(1)), Scratch.extent(8 << 20, .kibibytes(256))])
        }
        try step("create device c") {
            _ = try $0.createDevice(region: 0, size: .mebibytes(2), align: .page4K, name: nil, uuid: Script.uuid(3))
        }
        try step("disable device a") { try $0.setState(a, .disabled) }
        try step("resize device a (grows discontiguous)") {
            _ = try $0.reconfigureDevice(a, size: .mebibytes(12), align: nil)
        }
        try step("record a memory error in b") {
            _ = try $0.recordMemoryError(
                region: 0, offset: RegionOffset(32 << 20), length: .kibibytes(4), granule: .page4K, source: "api",
                time: 1)
        }
        try step("destroy device c") { try $0.destroyDevice(c, force: true) }
        try step("create region 1") { try $0.addRegion(Script.config(1, size: .mebibytes(16))) }
        try step("create device d in region 1") {
            _ = try $0.createDevice(
                region: 1, size: .mebibytes(2), align: .page4K, name: Script.name("d"), uuid: Script.uuid(4))
        }
        try step("shrink device b") { _ = try $0.reconfigureDevice(b, size: .kibibytes(512), align: nil, force: true) }
        try step("destroy device b") { try $0.destroyDevice(b, force: true) }
        try step("create device e (reuses instance 1)") {
            _ = try $0.createDevice(
                region: 0, size: .mebibytes(2), align: .page4K, name: Script.name("e"), uuid: Script.uuid(5))
        }
        var scrubID: UInt64 = 0
        try step("destroy device e, its memory waiting to be scrubbed") {
            scrubID = try $0.destroyDevice(
                DaxPoolCore.DeviceID(region: 0, instance: 1), force: true, scrubToken: "00000000000000e5"
            ).id
        }
        try step("finish the scrub of e's memory") { try $0.finishScrub(region: 0, id: scrubID) }
        try step("destroy device d") { try $0.destroyDevice(DaxPoolCore.DeviceID(region: 1, instance: 0), force: true) }
        try step("destroy region 1") { try $0.removeRegion(1) }
        try step("destroy device a") { try $0.destroyDevice(a, force: true) }
        return steps
    }

    /// Copies every file of `source` into the empty or missing directory `destination`.
    static func copy(_ source: String, to destination: String) throws {
        Scratch.remove(destination)
        try FileManager.default.createDirectory(atPath: destination, withIntermediateDirectories: true)
        for name in try FileManager.default.contentsOfDirectory(atPath: source) {
            try FileManager.default.copyItem(atPath: "\(source)/\(name)", toPath: "\(destination)/\(name)")
        }
    }

    /// Byte positions to cut a write of `count` bytes at. Label and index writes (at most 512 bytes): every
    /// 16th byte, the first four and the last nine (the checksum field and the byte before it), or every byte
    /// with `DAXPOOL_CRASH_EXHAUSTIVE=1`. Whole files written under a temporary name (sidecar, new areas),
    /// whose partial contents are never read: the first and last bytes and a few between.
    static func cuts(within count: Int) -> [Int] {
        if count <= 512 {
            if ProcessInfo.processInfo.environment["DAXPOOL_CRASH_EXHAUSTIVE"] == "1" {
                return Array(0..<count)
            }
            let picked = Set(stride(from: 0, to: count, by: 16)).union(0..<min(4, count)).union(
                max(0, count - 9)..<count)
            return picked.sorted()
        }
        return Array(Set([0, 1, 2, count / 4, count / 2, 3 * count / 4, count - 2, count - 1])).sorted()
    }

    @Test("a crash at every write boundary and inside every write recovers the state before or after the step")
    func cutEverywhere() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let steps = try Self.steps()
        let areaSize = 8 << 10
        let template = "\(root)/template"
        let trial = "\(root)/trial"
        try FileManager.default.createDirectory(atPath: template, withIntermediateDirectories: true)
        var before: PoolSnapshot?
        var trials = 0
        var recoveredBefore = 0
        var recoveredAfter = 0
        for (name, after) in steps {
            // The writes of this step, uncut.
            let recorder = CuttingInterposerFake()
            try Self.copy(template, to: trial)
            let measuring = LabelStateStore(directory: trial, areaSize: areaSize, interposer: recorder)
            #expect(try measuring.load() == before, "\(name): the template does not hold the state before")
            recorder.arm(budget: nil)
            try measuring.commit(after)
            let writes = recorder.writes
            #expect(!writes.isEmpty, "\(name) wrote nothing")

            var budgets: [Int] = []
            var start = 0
            for write in writes {
                budgets.append(contentsOf: Self.cuts(within: write.count).map { start + $0 })
                start += write.count
            }
            for budget in budgets {
                try Self.copy(template, to: trial)
                let interposer = CuttingInterposerFake()
                let store = LabelStateStore(directory: trial, areaSize: areaSize, interposer: interposer)
                _ = try store.load()
                interposer.arm(budget: budget)
                #expect(throws: LabelStateStoreError.self, "\(name): cut at byte \(budget) did not stop the commit") {
                    try store.commit(after)
                }
                #expect(interposer.wasCut)
                let recovered: PoolSnapshot?
                do {
                    recovered = try LabelStateStore(directory: trial, areaSize: areaSize).load()
                } catch {
                    Issue.record("\(name): cut at byte \(budget) of \(start): load failed: \(error)")
                    continue
                }
                trials += 1
                if recovered == before {
                    recoveredBefore += 1
                } else if recovered == after {
                    recoveredAfter += 1
                } else {
                    Issue.record(
                        "\(name): cut at byte \(budget) of \(start) recovered neither state: \(String(describing: recovered))"
                    )
                    continue
                }
                // The recovered directory accepts the step again and then holds exactly the state after it.
                if budget % 7 == 0 {
                    let again = LabelStateStore(directory: trial, areaSize: areaSize)
                    _ = try again.load()
                    try again.commit(after)
                    #expect(try LabelStateStore(directory: trial, areaSize: areaSize).load() == after, "\(name) replay")
                }
            }
            // Advance the template by one uncut step.
            let store = LabelStateStore(directory: template, areaSize: areaSize)
            _ = try store.load()
            try store.commit(after)
            #expect(try LabelStateStore(directory: template, areaSize: areaSize).load() == after)
            before = after
        }
        print(
            "label state store crash test: \(steps.count) steps, \(trials) cuts, \(recoveredBefore) recovered the state "
                + "before, \(recoveredAfter) the state after")
        #expect(recoveredBefore > 0 && recoveredAfter > 0)
    }

    @Test("a crash at every write of a migration recovers the state.json state, and the migration completes")
    func cutMigration() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let snapshot = try Script.rich()
        let template = "\(root)/template"
        let trial = "\(root)/trial"
        try JSONFileStateStore(directory: template).commit(snapshot)

        let recorder = CuttingInterposerFake()
        try Self.copy(template, to: trial)
        recorder.arm(budget: nil)
        #expect(try LabelStateStore(directory: trial, areaSize: 8 << 10, interposer: recorder).load() == snapshot)
        var budgets: [Int] = []
        var start = 0
        for write in recorder.writes {
            budgets.append(contentsOf: Self.cuts(within: write.count).map { start + $0 })
            start += write.count
        }
        for budget in budgets {
            try Self.copy(template, to: trial)
            let interposer = CuttingInterposerFake()
            interposer.arm(budget: budget)
            _ = try? LabelStateStore(directory: trial, areaSize: 8 << 10, interposer: interposer).load()
            #expect(interposer.wasCut)
            #expect(try LabelStateStore(directory: trial, areaSize: 8 << 10).load() == snapshot, "cut at \(budget)")
            #expect(!Scratch.exists("\(trial)/state.json"))
        }
    }
}
