import DaxPoolAPI
import Hummingbird

/// `/v1/lend` and `/v1/reclaim`: devdax memory lent to the host as System RAM, and taken back.
struct LendController {
    let service: PoolService

    func register(on router: Router<DaxPoolRequestContext>) {
        router.post("/v1/lend") { request, context in
            let caller = try context.requireCaller()
            try service.requireAdministrator(caller, to: "lend memory to the host")
            let body = try await JSONWire.decode(LendRequest.self, from: request)
            return JSONWire.response(try await service.lend(body, by: caller), status: .created)
        }
        router.post("/v1/reclaim") { request, context in
            let caller = try context.requireCaller()
            try service.requireAdministrator(caller, to: "reclaim memory lent to the host")
            let body = try await JSONWire.decode(ReclaimRequest.self, from: request)
            return JSONWire.response(try await service.reclaim(body, by: caller))
        }
    }
}
