import DaxPoolAPI
import DaxPoolClient
import DaxPoolCore
import DaxPoolTestSupport
import Foundation
import Testing

/// `kill -9` a real daemon at random moments while a client loops create / resize / destroy, then restart it and
/// check what it recovered. Set `DAXPOOL_TORTURE_KILLS` to change the number of kills (default 200) and
/// `DAXPOOL_TORTURE_SEED` to replay a run.
@Suite("label storage torture", .timeLimit(.minutes(20)), .serialized)
struct LabelTortureTests {
    /// One device as `list -M` shows it.
    struct Listed: Hashable {
        var uuid: String
        var name: String
        var size: UInt64
        /// (start, size) in page-offset order.
        var ranges: [[UInt64]]
    }

    @Test(
        "kill -9 at random points: no overlap, sizes add up, labels and list -M agree, no capacity leaked, before-or-after"
    )
    func killNine() throws {
        let environment = ProcessInfo.processInfo.environment
        let kills = environment["DAXPOOL_TORTURE_KILLS"].flatMap(Int.init) ?? 200
        let seed = environment["DAXPOOL_TORTURE_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 1...UInt64.max)
        var random = SplitMix64(seed: seed)
        let daemon = try DaemonHarness()
        let regionSize: UInt64 = 48 << 20
        let server = TortureDaemon(harness: daemon, regionSize: "48M")
        try server.start()
        defer { server.kill() }
        guard FileManager.default.fileExists(atPath: "\(daemon.stateDirectory)/region0.labels") else {
            Issue.record(
                "the daemon keeps no label area in \(daemon.stateDirectory): 'daxpool serve' must use LabelStateStore")
            return
        }

        let started = Date()
        var ledger = TortureLedger()
        var counter = 0
        var totals = (acknowledged: 0, refused: 0, inFlight: 0, rolledBack: 0, rolledForward: 0, checks: 0)
        for round in 0..<kills {
            let client = TortureClient(
                socket: daemon.socket, ledger: ledger, seed: random.next(), counter: counter)
            client.start()
            // The point of the test: the kill lands at a random moment of the client's work (5–155 ms in).
            usleep(UInt32(5_000 + random.next() % 150_000))
            server.kill()
            let result = client.join()
            counter = result.counter
            totals.acknowledged += result.acknowledged
            totals.refused += result.refused
            try server.start()

            let listed = try listedDevices(daemon, regionSize: regionSize)
            let labelled = try labelledDevices(daemon, dump: round % 10 == 0)
            #expect(labelled == Set(listed), "round \(round): labels and list -M disagree")
            let recovered = Dictionary(
                listed.map { ($0.uuid, TortureLedger.Device(name: $0.name, size: $0.size)) },
                uniquingKeysWith: { first, _ in first })
            if let change = result.ledger.inFlight {
                totals.inFlight += 1
                let after = result.ledger.applying(change)
                if recovered == result.ledger.devices {
                    totals.rolledBack += 1
                } else if recovered == after {
                    totals.rolledForward += 1
                } else {
                    let message =
                        "round \(round) (seed \(seed)): recovered \(recovered) is neither the state before \(change) "
                        + "(\(result.ledger.devices)) nor after it"
                    Issue.record(Comment(rawValue: message))
                }
            } else {
                #expect(recovered == result.ledger.devices, "round \(round) (seed \(seed)): acknowledged changes lost")
            }
            totals.checks += 1
            ledger = TortureLedger(devices: recovered)
        }
        let seconds = Date().timeIntervalSince(started)
        print(
            "label torture: \(kills) kill -9s in \(String(format: "%.1f", seconds)) s (seed \(seed)); "
                + "\(totals.acknowledged) changes acknowledged, \(totals.refused) refused; \(totals.inFlight) kills "
                + "interrupted a change: \(totals.rolledBack) recovered the state before it, \(totals.rolledForward) "
                + "the state after; \(totals.checks) recoveries checked")
        #expect(totals.checks == kills)
    }

    /// The devices of region 0 from `list -M`, after checking that their ranges do not overlap, lie inside the
    /// region and add up to their sizes, that the region's available size is exactly what they leave, and that
    /// the shm directory holds exactly their files.
    func listedDevices(_ daemon: DaemonHarness, regionSize: UInt64) throws -> [Listed] {
        let client = DaxPoolClient(socketPath: daemon.socket)
        let region = try client.region(0)
        var listed: [Listed] = []
        var ranges: [(start: UInt64, end: UInt64, device: String)] = []
        var used: UInt64 = 0
        for device in region.devices ?? [] {
            let mappings = device.mappings ?? []
            #expect(mappings.reduce(0) { $0 + $1.size } == device.size, "\(device.chardev): mappings do not add up")
            for mapping in mappings {
                #expect(mapping.end - mapping.start + 1 == mapping.size)
                #expect(mapping.end < regionSize, "\(device.chardev) reaches outside the region")
                ranges.append((mapping.start, mapping.end, device.chardev))
            }
            used += device.size
            listed.append(
                Listed(
                    uuid: device.uuid, name: device.name ?? "", size: device.size,
                    ranges: mappings.map { [$0.start, $0.size] }))
        }
        ranges.sort { $0.start < $1.start }
        for (previous, next) in zip(ranges, ranges.dropFirst()) {
            #expect(next.start > previous.end, "\(previous.device) and \(next.device) overlap")
        }
        // Memory of destroyed devices still waiting for its background scrub is neither available nor lost.
        #expect((region.availableSize ?? 0) + (region.pendingScrubSize ?? 0) == regionSize - used, "capacity leaked")
        let all = daemon.shmFiles().filter { $0.key.hasPrefix("region0/") && !$0.key.hasSuffix("/") }
        // A create that kill -9 cut after its file was made and before its state was committed leaves a file no device
        // owns: the next start moves it, untouched, to lost+found (an empty one is removed).
        let lost = all.filter { $0.key.hasPrefix("region0/lost+found/") }
        #expect(lost.values.allSatisfy { $0 > 0 }, "\(lost)")
        let files = all.filter { !$0.key.hasPrefix("region0/.pool") && !$0.key.hasPrefix("region0/lost+found") }
        let expected = Dictionary(
            (region.devices ?? []).map { ("region0/\($0.chardev)", $0.size) }, uniquingKeysWith: { first, _ in first })
        // A grow that kill -9 cut after the file grew and before the state was committed leaves the file bigger than
        // its device: kept as it is (never truncated at start), shown as excess_size, cut back on destroy.
        #expect(Set(files.keys) == Set(expected.keys), "the shm directory does not hold exactly the devices' files")
        for (name, size) in expected {
            #expect((files[name] ?? 0) >= size, "\(name) holds less than its device")
        }
        // Beside them only the pool: scrubbed files ready for reuse and files waiting for their scrub, which
        // together with the devices never hold more than the region.
        let pooled = all.filter { $0.key.hasPrefix("region0/.pool/") }
        #expect(
            pooled.keys.allSatisfy { $0.hasPrefix("region0/.pool/clean.") || $0.hasPrefix("region0/.pool/dirty.") },
            "\(pooled.keys.sorted())")
        #expect(
            files.values.reduce(0, +) + pooled.values.reduce(0, +) + lost.values.reduce(0, +) <= regionSize,
            "the region's files hold more than the region")
        return listed
    }

    /// The namespaces of region 0's label area, read by `daxpool check-labels` (which also validates it) and,
    /// with `dump`, cross-checked against `daxpool read-labels`.
    func labelledDevices(_ daemon: DaemonHarness, dump checkDump: Bool) throws -> Set<Listed> {
        let check = daemon.cli(["check-labels", "-r", "0", "--state-dir", daemon.stateDirectory])
        #expect(check.status == 0, "check-labels: \(check.stdout) \(check.stderr)")
        let report = try #require(try check.json() as? [String: Any])
        let namespaces = try #require(report["namespaces"] as? [[String: Any]])
        var result = Set<Listed>()
        for namespace in namespaces {
            let ranges = (namespace["ranges"] as? [[String: Any]] ?? []).map {
                [($0["dpa"] as? NSNumber)?.uint64Value ?? 0, ($0["rawsize"] as? NSNumber)?.uint64Value ?? 0]
            }
            result.insert(
                Listed(
                    uuid: namespace["uuid"] as? String ?? "", name: namespace["name"] as? String ?? "",
                    size: (namespace["size"] as? NSNumber)?.uint64Value ?? 0, ranges: ranges))
        }
        guard checkDump else {
            return result
        }
        let dump = daemon.cli(["read-labels", "-r", "0", "--state-dir", daemon.stateDirectory, "-j"])
        #expect(dump.status == 0, "read-labels: \(dump.stderr)")
        let areas = try #require(try dump.json() as? [[String: Any]])
        let labels = try #require(areas.first?["label"] as? [[String: Any]])
        let uuidsInSlots = Set(labels.compactMap { $0["uuid"] as? String })
        #expect(result.allSatisfy { uuidsInSlots.contains($0.uuid) }, "a live namespace is missing from read-labels")
        #expect((areas.first?["index"] as? [[String: Any]])?.count == 2)
        return result
    }
}
