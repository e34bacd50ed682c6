import DaxPoolAPI
import DaxPoolClient
import DaxPoolCore
import DaxPoolServer
import Foundation
import Hummingbird
import Logging
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Caller mistakes answer 4xx with a code and a message naming what to change, never 500, against the real router
/// on a Unix socket: the all-zero uuid, and what a backend refuses because the host does not have it
/// (`BackendRefusal`: a dax region or nd namespace the kernel lacks, a NUMA node that does not exist).
@Suite("caller mistakes answer 4xx", .timeLimit(.minutes(20)), .serialized)
struct CallerMistakeTests {
    @Test("a device with the all-zero uuid answers 400 bad_request naming the uuid, and nothing is made")
    func zeroUUID() async throws {
        let backend = RecordingBackendFake()
        try await RouterCalls.withServer(backends: [backend, RefusingBackendFake()]) { client, service in
            let uuid = "00000000-0000-0000-0000-000000000000"
            let (status, error) = try await RouterCalls.send(
                client, "POST", "/v1/devices", #"{"size":"8M","uuid":"\#(uuid)"}"#)
            #expect(status == 400, "\(uuid): \(String(describing: error))")
            #expect(error?.code == "bad_request")
            #expect(error?.message.contains("all-zero uuid") == true, "\(String(describing: error))")
            #expect(error?.message.contains("omit uuid") == true)
            #expect(await service.devices().isEmpty)
            #expect(!backend.calls.contains { $0.hasPrefix("provision") }, "the backend was not asked")
            let (created, _) = try await RouterCalls.send(
                client, "POST", "/v1/devices", #"{"size":"8M","uuid":"00000000-0000-0000-0000-000000000001"}"#)
            #expect(created == 201, "a uuid that is not all zero is fine")
        }
    }

    @Test("a backend's refusal answers its own code and 4xx status with its message, and no region is made")
    func backendRefusals() async throws {
        let cases: [(BackendRefusal, Int, String)] = [
            (
                BackendRefusal(.noSuchDaxRegion, "the kernel has no dax region 5 (dax regions: 0, 2)"), 404,
                "no_such_dax_region"
            ),
            (
                BackendRefusal(.noSuchNamespace, "the kernel has no namespace7.0 (namespaces: namespace0.0)"), 404,
                "no_such_namespace"
            ),
            (
                BackendRefusal(.invalidRequest, "NUMA node 4000 does not exist on this host (online nodes: 0)"), 400,
                "bad_request"
            ),
        ]
        for (refusal, expected, code) in cases {
            let refusing = RefusingBackendFake(refusal)
            try await RouterCalls.withServer(backends: [RecordingBackendFake(), refusing]) { client, service in
                let (status, error) = try await RouterCalls.send(
                    client, "POST", "/v1/regions", #"{"backend":"devdax","dax_region":5}"#)
                #expect(status == expected, "\(refusal): \(String(describing: error))")
                #expect(error?.code == code)
                #expect(error?.message == refusal.message)
                #expect(await service.snapshot.regions.map(\.config.backend) == [.shm], "only the default region")
            }
        }
    }

    // MARK: - Helpers

}

/// A devdax backend fake that refuses every region it is asked for with `refusal`, as a backend does for a dax
/// region the kernel does not have.
final class RefusingBackendFake: MemoryBackend {
    let kind: BackendKind = .devdax
    let refusal: BackendRefusal

    init(_ refusal: BackendRefusal = BackendRefusal(.noSuchDaxRegion, "the kernel has no dax region 0")) {
        self.refusal = refusal
    }

    func createRegion(_ request: RegionConfig) throws -> RegionConfig { throw refusal }
    func destroyRegion(_ config: RegionConfig) throws {}
    func devicePath(_ device: DeviceID, in region: RegionConfig) -> String? { nil }
    func provisionDevice(_ device: DeviceID, size: ByteCount, extents: [Extent], in region: RegionConfig) throws {}
    func setDeviceEnabled(_ device: DeviceID, enabled: Bool, in region: RegionConfig) throws {}
    func destroyDevice(_ device: DeviceID, in region: RegionConfig) throws {}
    func reconcile(_ region: RegionConfig, devices: [(record: DeviceRecord, extents: [Extent])]) throws {}
}
