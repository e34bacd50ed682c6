import DaxPoolAPI
import DaxPoolClient
import Foundation
import Synchronization
import Testing

/// Many concurrent clients on one region: every request is answered, invariants hold, resources return.
@Suite("load", .serialized)
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

    @Test("64 concurrent clients doing create/resize/destroy operations")
    func concurrentClients() throws {
        let daemon = try DaemonHarness()
        try daemon.start(defaultRegionSize: "512M")
        defer { daemon.stop() }
        let pid = try #require(daemon.process?.processIdentifier)
        let clients = 64
        let operations = Self.operationsPerClient
        // Warm up so the baseline includes the daemon's steady-state allocations.
        let warm = DaxPoolClient(socketPath: daemon.socket)
        for _ in 0..<200 {
            if let device = try? warm.createDevice(CreateDeviceRequest(size: SizeValue("64K"), align: SizeValue("4K")))
            {
                try? warm.destroyDevice(device.chardev, force: true)
            }
        }
        let fdsBefore = APIFuzzTests.descriptorCount(pid)
        let rssBefore = Self.residentKiB(pid)
        let latencies = Mutex<[Double]>([])
        let failures = Mutex<[String]>([])
        let start = ContinuousClock.now
        let socket = daemon.socket
        // 64 real threads, so 64 clients really are in flight at once (concurrentPerform would use one per CPU).
        let group = DispatchGroup()
        for worker in 0..<clients {
            group.enter()
            let thread = Thread {
                defer { group.leave() }
                let client = DaxPoolClient(socketPath: socket)
                var local: [Double] = []
                local.reserveCapacity(operations)
                var mine: String?
                for step in 0..<operations {
                    let began = ContinuousClock.now
                    do {
                        if let device = mine {
                            if step % 3 == 1 {
                                _ = try client.reconfigureDevice(
                                    device, ReconfigureDeviceRequest(size: SizeValue("128K"), force: true))
                            } else {
                                try client.destroyDevice(device, force: true)
                                mine = nil
                            }
                        } else {
                            mine = try client.createDevice(
                                CreateDeviceRequest(size: SizeValue("64K"), align: SizeValue("4K"))
                            ).chardev
                        }
                    } catch {
                        let body = error as? ErrorBody
                        if body == nil || body?.status == 0 || (body?.status ?? 500) >= 500 {
                            failures.withLock { $0.append("worker \(worker) step \(step): \(error)") }
                        }
                    }
                    let elapsed = ContinuousClock.now - began
                    local.append(
                        Double(elapsed.components.attoseconds) / 1e12 + Double(elapsed.components.seconds) * 1e6)
                }
                // Odd workers clean up; even workers leave a device for the invariant checks below.
                if worker % 2 == 1, let device = mine { try? client.destroyDevice(device, force: true) }
                if worker % 2 == 0, mine == nil {
                    _ = try? client.createDevice(CreateDeviceRequest(size: SizeValue("64K"), align: SizeValue("4K")))
                }
                latencies.withLock { $0.append(contentsOf: local) }
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
        group.wait()
        let total = ContinuousClock.now - start
        let all = latencies.withLock { $0 }.sorted()
        #expect(all.count == clients * operations)
        #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0.prefix(5) })")
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
        #expect(labelled == Set(mapped.map { $0.lowercased() }), "labels \(labelled) != list -M \(mapped)")
        for device in devices {
            if let name = device["chardev"] as? String {
                #expect(daemon.cli(["destroy-device", "-f", name, "--progress", "none"]).status == 0)
            }
        }
        let after = try #require(try daemon.cli(["list", "-R"]).json() as? [[String: Any]])
        #expect(after.first?["available_size"] as? Int == 512 << 20)
        usleep(300_000)
        let fdsAfter = APIFuzzTests.descriptorCount(pid)
        let rssAfter = Self.residentKiB(pid)
        print("load: descriptors \(fdsBefore) → \(fdsAfter), RSS \(rssBefore) KiB → \(rssAfter) KiB")
        #expect(fdsAfter <= fdsBefore)
        #expect(rssAfter < rssBefore + 64 * 1024, "RSS grew from \(rssBefore) KiB to \(rssAfter) KiB")
    }
}
