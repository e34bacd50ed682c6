import DaxPoolCore
import DaxPoolLinux
import Testing

@Suite("a file backend's region path", .timeLimit(.minutes(20)))
struct RegionPathTests {
    func region(_ backend: BackendKind, pageSize: Alignment) -> RegionConfig {
        RegionConfig(
            id: 7, backend: backend, size: .mebibytes(64), align: pageSize, pageSize: pageSize,
            path: "relative/region7")
    }

    /// The message of the error `body` throws, when it is a `BackendError` for an invalid argument.
    func refusal(_ body: () throws -> Void) -> String? {
        do {
            try body()
        } catch let error as BackendError {
            return error.errno == .invalid ? error.message : nil
        } catch {
            return nil
        }
        return nil
    }

    @Test("an shm region at a relative path is refused, suggesting a directory on tmpfs at the default path")
    func shmRelative() {
        let message = refusal { _ = try ShmBackend().createRegion(region(.shm, pageSize: .page4K)) }
        #expect(message?.contains("region path 'relative/region7' is not absolute") == true, "\(message ?? "none")")
        #expect(message?.contains("a directory on tmpfs such as \(ShmBackend.defaultRegionPath(regionID: 7))") == true)
    }

    @Test("a hugetlb region at a relative path is refused, suggesting a mount point at the default path")
    func hugetlbRelative() {
        let message = refusal { _ = try HugetlbBackend().createRegion(region(.hugetlb, pageSize: .page2M)) }
        #expect(message?.contains("region path 'relative/region7' is not absolute") == true, "\(message ?? "none")")
        #expect(message?.contains("a mount point such as \(HugetlbBackend.defaultRegionPath(regionID: 7))") == true)
    }
}
