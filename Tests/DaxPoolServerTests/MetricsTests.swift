import DaxPoolAPI
import DaxPoolClient
import DaxPoolCore
import DaxPoolServer
import DaxPoolTestSupport
import Foundation
import Hummingbird
import Logging
import Testing

@testable import DaxPoolServer

/// Python's `prometheus_client` text parser, the reference the scrape is checked with.
enum PrometheusParser {
    /// The script: reads the exposition from the file named by its argument, prints one JSON line per sample.
    static let script = """
        import json, sys
        from prometheus_client.parser import text_string_to_metric_families
        for family in text_string_to_metric_families(open(sys.argv[1]).read()):
            for sample in family.samples:
                print(json.dumps({"family": family.name, "type": family.type, "name": sample.name,
                                  "labels": sample.labels, "value": sample.value}))
        """

    struct Sample: Decodable, Sendable {
        var family: String
        var type: String
        var name: String
        var labels: [String: String]
        var value: Double
    }

    static func run(_ arguments: [String]) -> (status: Int32, output: Data)? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3"] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return nil }
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, output)
    }

    /// Whether python3 with `prometheus_client` is installed (`pip install prometheus_client`).
    static let isAvailable: Bool = run(["-c", "import prometheus_client.parser"])?.status == 0

    /// The samples the parser reads from `text`; throws when it refuses the text.
    static func parse(_ text: String) throws -> [Sample] {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("daxpool-metrics-\(getpid()).txt")
        try text.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let result = try #require(run(["-c", script, file.path]))
        try #require(result.status == 0, "prometheus_client refused the exposition:\n\(text)")
        return try String(decoding: result.output, as: UTF8.self).split(separator: "\n").map {
            try JSONDecoder().decode(Sample.self, from: Data($0.utf8))
        }
    }
}

@Suite("Metrics", .timeLimit(.minutes(20)))
struct MetricsTests {
    static let size: UInt64 = 64 << 20

    @Test("the exposition writes cumulative histogram buckets and escapes label values")
    func exposition() {
        var histogram = MetricsHistogram(bounds: [0.1, 1])
        histogram.observe(0.05)
        histogram.observe(0.5)
        histogram.observe(3)
        var out = MetricsExposition()
        out.family("t_seconds", .histogram, help: "a \\ b\nc")
        out.histogram("t_seconds", [("route", "a\"b\\c\nd")], histogram)
        #expect(
            out.text == """
                # HELP t_seconds a \\\\ b\\nc
                # TYPE t_seconds histogram
                t_seconds_bucket{route="a\\"b\\\\c\\nd",le="0.1"} 1
                t_seconds_bucket{route="a\\"b\\\\c\\nd",le="1"} 2
                t_seconds_bucket{route="a\\"b\\\\c\\nd",le="+Inf"} 3
                t_seconds_sum{route="a\\"b\\\\c\\nd"} 3.55
                t_seconds_count{route="a\\"b\\\\c\\nd"} 3

                """)
    }

    @Test(
        "GET /metrics parses with prometheus_client: region figures, scrubbed bytes, request counts and latency, no device names",
        .enabled(
            if: PrometheusParser.isAvailable,
            "python3 with prometheus_client is not installed (pip install prometheus_client)")
    )
    func scrape() async throws {
        let socket = "/tmp/daxpool-metrics-\(getpid()).sock"
        let scrubbing = ScrubbingBackendFake()
        let service = try await PoolService(
            backends: [RecordingBackendFake(), scrubbing],
            store: InMemoryStateStoreFake(),
            settings: PoolSettings(defaultRegionSize: .mebibytes(256), shmRoot: "/fake", hugetlbRoot: "/fake"),
            logger: Logger(label: "test")
        )
        let app = buildApplication(service: service, socketPath: socket, logger: Logger(label: "test"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.runService() }
            defer { group.cancelAll() }
            let client = DaxPoolClient(socketPath: socket)
            try await RouterCalls.waitUntilAnswering(socket)
            _ = try await service.createRegion(
                CreateRegionRequest(backend: .hugetlb, size: ByteCount(Self.size), path: "/fake/region1"))
            _ = try await service.createDevice(
                CreateDeviceRequest(
                    region: 0, size: ByteCount.mebibytes(16), name: try DeviceName(validating: "tenant-secret-vm")))
            let scrubbed = try await service.createDevice(
                CreateDeviceRequest(
                    region: 1, size: ByteCount(Self.size), name: try DeviceName(validating: "scrubbed-vm")))
            _ = try await service.destroyDevice(scrubbed.chardev, force: true)
            for (method, path) in [
                ("GET", "/v1/regions"), ("GET", "/v1/devices/nope"), ("GET", "/v1/devices/tenant-secret-vm"),
                ("GET", "/no/such/route"), ("PROPFIND", "/v1/regions"),
            ] {
                _ = try await RouterCalls.send(client, method, path, "")
            }

            var text = ""
            try await waitUntil("/metrics counts region 1's scrubbed bytes") {
                let (status, bytes) = try await RouterCalls.blocking {
                    try DaxPoolClient(socketPath: socket).raw(method: "GET", path: "/metrics", body: nil)
                }
                #expect(status == 200)
                text = String(decoding: bytes, as: UTF8.self)
                return text.contains(
                    "daxpool_region_scrubbed_bytes_total{region=\"1\",backend=\"hugetlb\"} \(Self.size)")
            }
            let samples = try PrometheusParser.parse(text)
            func value(_ name: String, _ labels: [String: String]) -> Double? {
                samples.first { $0.name == name && $0.labels == labels }?.value
            }
            let region0 = ["region": "0", "backend": "shm"]
            let region1 = ["region": "1", "backend": "hugetlb"]
            #expect(value("daxpool_region_size_bytes", region0) == Double(256 << 20))
            #expect(value("daxpool_region_available_bytes", region0) == Double(240 << 20))
            #expect(value("daxpool_region_largest_free_extent_bytes", region0) == Double(240 << 20))
            #expect(value("daxpool_region_devices", region0) == 1)
            #expect(value("daxpool_region_devices", region1) == 0)
            #expect(value("daxpool_region_bad_blocks", region0) == 0)
            #expect(value("daxpool_region_page_metadata_bytes", region0) != nil)
            #expect(value("daxpool_region_scrubbed_bytes_total", region1) == Double(Self.size))
            #expect(value("daxpool_region_scrubbed_bytes_total", region0) == 0)
            #expect(samples.first { $0.family == "daxpool_region_scrubbed_bytes" }?.type == "counter")

            let device = ["route": "/v1/devices/{device}", "method": "GET", "status": "4xx"]
            #expect(value("daxpool_http_requests_total", device) == 1, "\(text)")
            #expect(value("daxpool_http_request_errors_total", device) == 1)
            #expect(
                value(
                    "daxpool_http_requests_total", ["route": "/v1/devices/{device}", "method": "GET", "status": "2xx"])
                    == 1)
            #expect(
                value("daxpool_http_requests_total", ["route": "/v1/regions", "method": "GET", "status": "2xx"]) == 1)
            #expect(
                value("daxpool_http_requests_total", ["route": "unmatched", "method": "GET", "status": "4xx"]) == 1,
                "\(text)")
            let latency = ["route": "/v1/devices/{device}", "method": "GET"]
            #expect(value("daxpool_http_request_duration_seconds_count", latency) == 2)
            #expect(value("daxpool_http_request_duration_seconds_bucket", latency.merging(["le": "+Inf"]) { $1 }) == 2)
            #expect(samples.first { $0.family == "daxpool_http_request_duration_seconds" }?.type == "histogram")

            // A method outside the common ones (the HTTP parser knows dozens) is counted as `other`.
            #expect(samples.contains { $0.name == "daxpool_http_requests_total" && $0.labels["method"] == "other" })
            #expect(!text.contains("PROPFIND"))
            // Anyone who may connect reads this: no tenant's device names, uuids, owners or region paths.
            for secret in ["tenant-secret-vm", "scrubbed-vm", "/fake", "nope", "/no/such", scrubbed.uuid] {
                #expect(!text.contains(secret), "the metrics show \(secret)")
            }
        }
        unlink(socket)
    }
}
