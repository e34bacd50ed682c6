import DaxPoolAPI
import DaxPoolCore
import DaxPoolServer
import Foundation
import Logging
import Testing

@Suite("live-update prepare", .timeLimit(.minutes(20)))
struct LiveUpdatePrepareTests {
    static func service(state: String) async throws -> PoolService {
        try await PoolService(
            backends: [RecordingBackendFake()],
            store: InMemoryStateStoreFake(),
            settings: PoolSettings(defaultRegionSize: .mebibytes(256), shmRoot: "/fake", hugetlbRoot: "/fake"),
            logger: Logger(label: "test"),
            liveUpdate: LiveUpdateState(
                stateDirectory: state, commandLine: { "console=ttyS0 memmap=1G%5G-1+0xefffffff" })
        )
    }

    @Test(
        "prepare is refused while shm devices exist, naming them, and writes nothing; --force prepares and lists them as lost"
    )
    func refusedForShm() async throws {
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("daxpool-lu-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: state) }
        let service = try await Self.service(state: state)
        _ = try await service.createDevice(
            CreateDeviceRequest(size: ByteCount.mebibytes(16), name: try DeviceName(validating: "vm1")))
        let error = await #expect(throws: (any Error).self) {
            try await service.prepareLiveUpdate(LiveUpdatePrepareRequest())
        }
        let message = "\(String(describing: error))"
        #expect(message.contains("vm1") && message.contains("lose their memory"))
        #expect(!FileManager.default.fileExists(atPath: state + "/live-update/prepared.json"))
        let report = try await service.prepareLiveUpdate(LiveUpdatePrepareRequest(force: true))
        #expect(report.state == "prepared" && report.lost.count == 1 && report.lost[0].contains("vm1"))
        #expect(report.kernelArguments == ["memmap=1G%5G-1+0xefffffff"])
        #expect(FileManager.default.fileExists(atPath: state + "/live-update/prepared.json"))
        #expect(try await service.liveUpdateStatus().state == "prepared")
    }
}
