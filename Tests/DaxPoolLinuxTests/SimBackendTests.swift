import DaxPoolCore
import DaxPoolLinux
import Testing

@Suite("sim backend", .timeLimit(.minutes(20)))
struct SimBackendTests {
    @Test("the sim backend has no device paths and accepts every operation without touching memory")
    func everythingSucceeds() throws {
        let backend: any MemoryBackend = SimBackend()
        #expect(backend.kind == .sim)
        let request = RegionConfig(
            id: 4, backend: .sim, size: .gibibytes(1 << 14), align: .page1G, pageSize: .page4K, targetNode: 1,
            path: ""
        )
        let region = try backend.createRegion(request)
        #expect(region == request)
        let device = DeviceID(region: 4, instance: 0)
        #expect(backend.devicePath(device, in: region) == nil)
        try backend.provisionDevice(device, size: .gibibytes(1 << 13), extents: [], in: region)
        try backend.setDeviceEnabled(device, enabled: false, in: region)
        try backend.destroyDevice(device, in: region)
        try backend.reconcile(region, devices: [])
        try backend.destroyRegion(region)
    }
}
