import DaxPoolAPI
import DaxPoolCore
import Hummingbird

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `/v1/devices`.
struct DeviceController {
    let service: PoolService

    func register(on router: Router<DaxPoolRequestContext>) {
        router.get("/v1/devices") { _, context in
            JSONWire.response(await service.devices(by: try context.requireCaller()))
        }
        router.post("/v1/devices") { request, context in
            let caller = try context.requireCaller()
            let body = try await JSONWire.decode(CreateDeviceRequest.self, from: request)
            return JSONWire.response(try await service.createDevice(body, by: caller), status: .created)
        }
        router.get("/v1/devices/:device") { _, context in
            JSONWire.response(try await service.device(try Self.deviceName(context), by: try context.requireCaller()))
        }
        router.patch("/v1/devices/:device") { request, context in
            let caller = try context.requireCaller()
            let body = try await JSONWire.decode(ReconfigureDeviceRequest.self, from: request)
            return JSONWire.response(
                try await service.reconfigureDevice(try Self.deviceName(context), body, by: caller))
        }
        router.delete("/v1/devices/:device") { request, context in
            let caller = try context.requireCaller()
            try await service.destroyDevice(try Self.deviceName(context), force: try Self.force(request), by: caller)
            return Response(status: .noContent)
        }
        router.post("/v1/devices/:device/enable") { _, context in
            let caller = try context.requireCaller()
            return JSONWire.response(
                try await service.setDeviceState(try Self.deviceName(context), .enabled, by: caller))
        }
        router.post("/v1/devices/:device/disable") { request, context in
            let caller = try context.requireCaller()
            return JSONWire.response(
                try await service.setDeviceState(
                    try Self.deviceName(context), .disabled, force: try Self.force(request), by: caller))
        }
        router.post("/v1/devices/:device/leases") { request, context in
            let caller = try context.requireCaller()
            let body = try await Self.leaseRequest(request)
            return JSONWire.response(
                try await service.attach(try Self.deviceName(context), pid: body.pid, by: caller), status: .created)
        }
        router.delete("/v1/devices/:device/leases/:pid") { _, context in
            let caller = try context.requireCaller()
            guard let text = context.parameters.get("pid"), let pid = Int32(text), pid > 0 else {
                throw RequestError(
                    code: "bad_request", message: "the lease pid must be a positive integer", status: 400)
            }
            try await service.detach(try Self.deviceName(context), pid: pid, by: caller)
            return Response(status: .noContent)
        }
    }

    /// `?force=true|1|false|0`; anything else is an error.
    static func force(_ request: Request) throws -> Bool {
        guard let text = request.uri.queryParameters.get("force") else { return false }
        switch text {
        case "true", "1": return true
        case "false", "0": return false
        default:
            throw RequestError(code: "bad_request", message: "force must be true or false, not '\(text)'", status: 400)
        }
    }

    /// The lease body; an empty body means the caller's own pid.
    static func leaseRequest(_ request: Request) async throws -> LeaseRequest {
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: JSONWire.maximumBodySize)
        } catch {
            throw RequestError(
                code: "payload_too_large", message: "the request body is larger than \(JSONWire.maximumBodySize) bytes",
                status: 413)
        }
        guard buffer.readableBytes > 0 else { return LeaseRequest() }
        return try JSONDecoder().decode(LeaseRequest.self, from: Data(buffer.readableBytesView))
    }

    static func deviceName(_ context: DaxPoolRequestContext) throws -> String {
        guard let text = context.parameters.get("device"), !text.isEmpty, text.utf8.count <= 255 else {
            throw RequestError(code: "bad_request", message: "a device name or daxR.N id is needed", status: 400)
        }
        return text
    }
}
