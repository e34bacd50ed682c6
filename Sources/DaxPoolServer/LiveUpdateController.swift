import DaxPoolAPI
import Hummingbird

/// `POST /v1/live-update/prepare` and `GET /v1/live-update`: preparing a kexec and what the last prepare or
/// restore did. Administrators only.
struct LiveUpdateController {
    let service: PoolService

    func register(on router: Router<DaxPoolRequestContext>) {
        router.post("/v1/live-update/prepare") { request, context in
            let caller = try context.requireCaller()
            try service.requireAdministrator(caller, to: "prepare a live update")
            let body = try await JSONWire.body(of: request)
            let prepare =
                body.isEmpty
                ? LiveUpdatePrepareRequest() : try JSONWire.decode(LiveUpdatePrepareRequest.self, from: body)
            return JSONWire.response(try await service.prepareLiveUpdate(prepare, by: caller))
        }
        router.get("/v1/live-update") { _, context in
            let caller = try context.requireCaller()
            return JSONWire.response(try await service.liveUpdateStatus(by: caller))
        }
    }
}
