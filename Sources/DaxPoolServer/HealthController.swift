import DaxPoolAPI
import Hummingbird

#if canImport(Glibc)
import Glibc
#endif

/// `GET /v1/health`.
struct HealthController {
    static let version = "0.1.0"

    func register(on router: Router<DaxPoolRequestContext>) {
        router.get("/v1/health") { _, _ in
            JSONWire.response(HealthResponse(status: "ok", pid: getpid(), version: Self.version))
        }
    }
}
