import DaxPoolAPI
import Hummingbird

/// `/v1/regions`.
struct RegionController {
    let service: PoolService

    func register(on router: Router<DaxPoolRequestContext>) {
        router.get("/v1/regions") { _, context in
            JSONWire.response(await service.regions(by: try context.requireCaller()))
        }
        router.post("/v1/regions") { request, context in
            let caller = try context.requireCaller()
            try service.requireAdministrator(caller, to: "create regions")
            let body = try await JSONWire.decode(CreateRegionRequest.self, from: request)
            return JSONWire.response(try await service.createRegion(body, by: caller), status: .created)
        }
        router.get("/v1/regions/:region") { _, context in
            JSONWire.response(try await service.region(try Self.regionID(context), by: try context.requireCaller()))
        }
        router.patch("/v1/regions/:region") { request, context in
            let caller = try context.requireCaller()
            try service.requireAdministrator(caller, to: "resize regions")
            let id = try Self.regionID(context)
            let body = try await JSONWire.decode(ResizeRegionRequest.self, from: request)
            return JSONWire.response(try await service.resizeRegion(id, body, by: caller))
        }
        router.put("/v1/regions/:region/pool") { request, context in
            let caller = try context.requireCaller()
            try service.requireAdministrator(caller, to: "configure region pools")
            let id = try Self.regionID(context)
            let body = try await JSONWire.decode(SetPoolRequest.self, from: request)
            return JSONWire.response(try await service.setPool(id, body, by: caller))
        }
        router.post("/v1/recover") { request, context in
            let caller = try context.requireCaller()
            try service.requireAdministrator(caller, to: "recover regions")
            let body = try await JSONWire.decode(RecoverRequest.self, from: request)
            return JSONWire.response(try await service.recover(body, by: caller))
        }
        router.delete("/v1/regions/:region") { _, context in
            try await service.destroyRegion(try Self.regionID(context), by: try context.requireCaller())
            return Response(status: .noContent)
        }
    }

    static func regionID(_ context: some RequestContext) throws -> Int {
        guard let text = context.parameters.get("region"), let id = Int(text), id >= 0 else {
            throw RequestError(code: .badRequest, message: "region id must be a non-negative integer")
        }
        return id
    }
}
