import DaxPoolClient
import DaxPoolTestSupport
import Foundation
import Synchronization
import Testing

/// Many concurrent clients on one region: every request is answered, invariants hold, resources return.
@Suite("load", .timeLimit(.minutes(20)), .serialized)
struct LoadTests {
    static func residentKiB(_ pid: Int32) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? -1
    }

    /// Operations per client: 1,000 with `DAXPOOL_LOAD_OPERATIONS=1000` (the full load run), 150 by default so
    /// the suite stays short on a shared 2-core CI machine.
    static var operationsPerClient: Int {
        ProcessInfo.processInfo.environment["DAXPOOL_LOAD_OPERATIONS"].flatMap(Int.init) ?? 150
    }

    /// What one request came to: `"create 201"`, `"destroy 409 device_busy"` (status and error code), or
    /// `"create transport: ..."` when no answer came.
    struct Outcome {
        var key: String
        var status: Int
        var chardev: String?
    }

    /// Sends one request with its own JSON body and names its outcome.
    static func request(
        _ client: UnixHTTPClient, _ operation: String, _ method: String, _ path: String, _ body: String? = nil
    ) -> Outcome {
        let response: UnixHTTPClient.Response
        do {
            response = try client.send(method: method, path: path, body: body.map { Array($0.utf8) })
        } catch {
            return Outcome(key: "\(operation) transport: \(error)", status: 0)
        }
        let object = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
        if (200..<300).contains(response.status) {
            return Outcome(
                key: "\(operation) \(response.status)", status: response.status, chardev: object?["chardev"] as? String)
        }
        return Outcome(
            key: "\(operation) \(response.status) \(object?["code"] as? String ?? "no code")", status: response.status)
    }

    static let createBody = #"{"size":"64K","align":"4K"}"#

    /// What the scenario may answer, every outcome of it: each worker only creates, grows and destroys its own
    /// devices in a region far larger than all of them together, so every request succeeds.
    /// No refusal (4xx) is expected: a 4xx here is a regression, as is any 5xx or unanswered request.
    static let expectedOutcomes: Set<String> = ["create 201", "reconfigure 200", "destroy 204"]

    /// The outcomes the run must count, exactly: each worker's steps, played out with every request succeeding. A
    /// worker without a device creates one; with one, it grows it on every third step and destroys it otherwise; at
    /// the end odd workers destroy what they hold and even workers create one if they hold none.
    static func expectedCounts(clients: Int, operations: Int) -> [String: Int] {
        var counts: [String: Int] = [:]
        for worker in 0..<clients {
            var holds = false
            for step in 0..<operations {
                if !holds {
                    counts["create 201", default: 0] += 1
                    holds = true
                } else if step % 3 == 1 {
                    counts["reconfigure 200", default: 0] += 1
                } else {
                    counts["destroy 204", default: 0] += 1
                    holds = false
                }
            }
            if worker % 2 == 1 && holds { counts["destroy 204", default: 0] += 1 }
            if worker % 2 == 0 && !holds { counts["create 201", default: 0] += 1 }
        }
        return counts
    }

    @Test("64 concurrent clients doing create/resize/destroy operations")
    func concurrentClients() throws {
        let daemon = try DaemonHarness()
        try daemon.start(defaultRegionSize: "512M")
        defer { daemon.stop() }
        let pid = try #require(daemon.process?.processIdentifier)
        let clients = 64
        let operations = Self.operationsPerClient
        // Warm up so the baseline includes the daemon's steady-state allocations; every warm-up request succeeds.
        let warm = UnixHTTPClient(socketPath: daemon.socket)
        var warmOutcomes: [String: Int] = [:]
        for _ in 0..<200 {
            let created = Self.request(warm, "create", "POST", "/v1/devices", Self.createBody)
            warmOutcomes[created.key, default: 0] += 1
            if let device = created.chardev {
                warmOutcomes[
                    Self.request(warm, "destroy", "DELETE", "/v1/devices/\(device)?force=true").key, default: 0] +=
                    1
            }
        }
        #expect(warmOutcomes == ["create 201": 200, "destroy 204": 200], "warm-up: \(warmOutcomes)")
        let fdsBefore = APIFuzzTests.descriptorCount(pid)
        let rssBefore = Self.residentKiB(pid)
        let latencies = Mutex<[Double]>([])
        // Every request's outcome, counted; and the devices the workers made and destroyed (to balance at the end).
        let outcomes = Mutex<[String: Int]>([:])
        let firstOfEach = Mutex<[String: String]>([:])
        let ledger = Mutex<(created: Int, destroyed: Int)>((0, 0))
        let start = ContinuousClock.now
        let socket = daemon.socket
        // 64 real threads, so 64 clients really are in flight at once (concurrentPerform would use one per CPU).
        let group = DispatchGroup()
        for worker in 0..<clients {
            group.enter()
            let thread = Thread {
                defer { group.leave() }
                let client = UnixHTTPClient(socketPath: socket)
                var local: [Double] = []
                local.reserveCapacity(operations)
                var counted: [String: Int] = [:]
                var created = 0
                var destroyed = 0
                var mine: String?
                func note(_ outcome: Outcome, _ step: Int) {
                    counted[outcome.key, default: 0] += 1
                    if !Self.expectedOutcomes.contains(outcome.key) {
                        firstOfEach.withLock { first in
                            if first[outcome.key] == nil { first[outcome.key] = "worker \(worker) step \(step)" }
                        }
                    }
                }
                for step in 0..<operations {
                    let began = ContinuousClock.now
                    if let device = mine {
                        if step % 3 == 1 {
                            note(
                                Self.request(
                                    client, "reconfigure", "PATCH", "/v1/devices/\(device)",
                                    #"{"size":"128K","force":true}"#), step)
                        } else {
                            let outcome = Self.request(client, "destroy", "DELETE", "/v1/devices/\(device)?force=true")
                            note(outcome, step)
                            if (200..<300).contains(outcome.status) {
                                destroyed += 1
                                mine = nil
                            }
                        }
                    } else {
                        let outcome = Self.request(client, "create", "POST", "/v1/devices", Self.createBody)
                        note(outcome, step)
                        if let device = outcome.chardev {
                            created += 1
                            mine = device
                        }
                    }
                    let elapsed = ContinuousClock.now - began
                    local.append(
                        Double(elapsed.components.attoseconds) / 1e12 + Double(elapsed.components.seconds) * 1e6)
                }
                // Odd workers clean up; even workers leave a device for the invariant checks below.
                if worker % 2 == 1, let device = mine {
                    let outcome = Self.request(client, "destroy", "DELETE", "/v1/devices/\(device)?force=true")
                    note(outcome, operations)
                    if (200..<300).contains(outcome.status) { destroyed += 1 }
                }
                if worker % 2 == 0, mine == nil {
                    let outcome = Self.request(client, "create", "POST", "/v1/devices", Self.createBody)
                    note(outcome, operations)
                    if outcome.chardev != nil { created += 1 }
                }
                latencies.withLock { $0.append(contentsOf: local) }
                outcomes.withLock { all in all.merge(counted, uniquingKeysWith: +) }
                ledger.withLock { $0 = ($0.created + created, $0.destroyed + destroyed) }
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
        group.wait()
        let total = ContinuousClock.now - start
        let all = latencies.withLock { $0 }.sorted()
        #expect(all.count == clients * operations)
        // Every outcome is counted: one per timed step, plus each worker's last create or destroy.
        let counted = outcomes.withLock { $0 }
        let finalSteps = ledger.withLock { $0 }
        print("load outcomes: \(counted.sorted { $0.key < $1.key })")
        let expected = Self.expectedCounts(clients: clients, operations: operations)
        #expect(counted == expected, "expected exactly \(expected.sorted { $0.key < $1.key })")
        let unexpected = counted.filter { !Self.expectedOutcomes.contains($0.key) }
        #expect(
            unexpected.isEmpty,
            "outcomes the scenario cannot produce: \(unexpected), first seen at \(firstOfEach.withLock { $0 })")
        #expect(
            counted.keys.allSatisfy { !$0.contains(" 5") && !$0.contains("transport") },
            "no 5xx, every request answered")
        // Each step of a worker that holds no device creates one; so the successful creates are exactly the
        // create outcomes, and likewise for destroys.
        #expect(counted["create 201"] == finalSteps.created)
        #expect(counted["destroy 204"] == finalSteps.destroyed)
        let seconds = Double(total.components.seconds) + Double(total.components.attoseconds) / 1e18
        let p50 = all[all.count / 2]
        let p99 = all[all.count * 99 / 100]
        print(
            "load: \(all.count) operations in \(String(format: "%.1f", seconds)) s, "
                + "\(Int(Double(all.count) / seconds)) ops/s, p50 \(Int(p50)) µs, p99 \(Int(p99)) µs")

        // Invariants over the devices the even workers left: no two ranges overlap, device sizes plus the available
        // size make the region, and the region's labels hold exactly one settled label per device range.
        // Destroyed devices' memory is free again once its background scrub (or give-back) has run.
        _ = try APIFuzzTests.settled(daemon)
        let regions = try #require(try daemon.cli(["list", "-R", "-D", "-M"]).json() as? [[String: Any]])
        let region = try #require(regions.first)
        let devices = region["devices"] as? [[String: Any]] ?? []
        var ranges: [(start: Int, end: Int)] = []
        var mapped: Set<String> = []
        var deviceBytes = 0
        for device in devices {
            deviceBytes += device["size"] as? Int ?? 0
            for mapping in device["mappings"] as? [[String: Any]] ?? [] {
                let start = mapping["start"] as? Int ?? -1
                let size = mapping["size"] as? Int ?? -1
                ranges.append((start, start + size))
                mapped.insert("\(device["uuid"] as? String ?? "?") \(start) \(size)")
            }
        }
        ranges.sort { $0.start < $1.start }
        #expect(zip(ranges, ranges.dropFirst()).allSatisfy { $0.end <= $1.start }, "overlapping ranges: \(ranges)")
        #expect(deviceBytes + (region["available_size"] as? Int ?? -1) == 512 << 20)
        // The live namespaces of the region's label area (check-labels reads the current index, not stale slots).
        let check = try #require(
            try daemon.cli(["check-labels", "-r", "0", "--state-dir", daemon.stateDirectory]).json() as? [String: Any])
        #expect(check["valid"] as? Bool == true)
        var labelled: Set<String> = []
        for namespace in check["namespaces"] as? [[String: Any]] ?? [] {
            let uuid = (namespace["uuid"] as? String ?? "?").lowercased()
            for range in namespace["ranges"] as? [[String: Any]] ?? [] {
                labelled.insert("\(uuid) \(range["dpa"] as? Int ?? -1) \(range["rawsize"] as? Int ?? -1)")
            }
        }
        #expect(devices.count == clients / 2, "the even workers left \(devices.count) devices")
        // Created == destroyed + remaining: no create was lost and no destroy counted twice.
        #expect(
            finalSteps.created == finalSteps.destroyed + devices.count,
            "created \(finalSteps.created), destroyed \(finalSteps.destroyed), remaining \(devices.count)")
        #expect(labelled == Set(mapped.map { $0.lowercased() }), "labels \(labelled) != list -M \(mapped)")
        for device in devices {
            if let name = device["chardev"] as? String {
                #expect(daemon.cli(["destroy-device", "-f", name, "--progress", "none"]).status == 0)
            }
        }
        let after = try #require(try daemon.cli(["list", "-R"]).json() as? [[String: Any]])
        #expect(after.first?["available_size"] as? Int == 512 << 20)
        // The clients' connections are closed; the daemon closes its ends as it reads their end of file.
        try? waitBlockingUntil("the daemon's descriptors back to \(fdsBefore)") {
            APIFuzzTests.descriptorCount(pid) <= fdsBefore
        }
        let fdsAfter = APIFuzzTests.descriptorCount(pid)
        let rssAfter = Self.residentKiB(pid)
        print("load: descriptors \(fdsBefore) → \(fdsAfter), RSS \(rssBefore) KiB → \(rssAfter) KiB")
        #expect(fdsAfter <= fdsBefore)
        #expect(rssAfter < rssBefore + 64 * 1024, "RSS grew from \(rssBefore) KiB to \(rssAfter) KiB")
    }
}
