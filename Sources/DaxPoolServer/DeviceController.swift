import DaxPoolAPI
import DaxPoolCore
import Hummingbird

/// `/v1/devices`.
struct DeviceController {
    let service: PoolService

    func register(on router: Router<some RequestContext>) {
        router.get("/v1/devices") { _, _ in
            JSONWire.response(await service.devices())
        }
        router.post("/v1/devices") { request, _ in
            let body = try await JSONWire.decode(CreateDeviceRequest.self, from: request)
            return JSONWire.response(try await service.createDevice(body), status: .created)
        }
        router.get("/v1/devices/:device") { _, context in
            JSONWire.response(try await service.device(try Self.deviceName(context)))
        }
        router.patch("/v1/devices/:device") { request, context in
            let body = try await JSONWire.decode(ReconfigureDeviceRequest.self, from: request)
            return JSONWire.response(try await service.reconfigureDevice(try Self.deviceName(context), body))
        }
        router.delete("/v1/devices/:device") { request, context in
            let force = request.uri.queryParameters.get("force").map { $0 == "true" || $0 == "1" } ?? false
            try await service.destroyDevice(try Self.deviceName(context), force: force)
            return Response(status: .noContent)
        }
        router.post("/v1/devices/:device/enable") { _, context in
            JSONWire.response(try await service.setDeviceState(try Self.deviceName(context), .enabled))
        }
        router.post("/v1/devices/:device/disable") { _, context in
            JSONWire.response(try await service.setDeviceState(try Self.deviceName(context), .disabled))
        }
    }

    static func deviceName(_ context: some RequestContext) throws -> String {
        guard let text = context.parameters.get("device"), !text.isEmpty, text.utf8.count <= 255 else {
            throw RequestError(code: "bad_request", message: "a device name or daxR.N id is needed", status: 400)
        }
        return text
    }
}
