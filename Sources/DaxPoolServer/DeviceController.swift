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
    /// Whether a uid names a user on this host (`UserLookup.exists`; tests pass their own).
    var userExists: @Sendable (UInt32) -> Bool = UserLookup.exists

    func register(on router: Router<DaxPoolRequestContext>) {
        router.get("/v1/devices") { _, context in
            JSONWire.response(await service.devices(by: try context.requireCaller()))
        }
        router.post("/v1/devices") { request, context in
            let caller = try context.requireCaller()
            let body = try await JSONWire.decode(CreateDeviceRequest.self, from: request)
            try checkOwner(body.owner, by: caller)
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
                    code: .badRequest, message: "the lease pid must be a positive integer")
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
            throw RequestError(code: .badRequest, message: "force must be true or false, not '\(text)'")
        }
    }

    /// Refuses an `owner` that names no user on this host (400 `unknown_owner`). Only a caller who may name that
    /// owner learns whether it exists: for anyone else the pool service's own refusal (403) stands.
    func checkOwner(_ owner: UInt32?, by caller: Caller) throws {
        guard let owner, service.policy.mayCreateDevices(caller),
            owner == caller.uid || service.policy.isAdministrator(caller), !userExists(owner)
        else { return }
        throw RequestError(
            code: .unknownOwner,
            message: "owner uid \(owner) is not a user on this host (getpwuid): a device's owner must exist")
    }

    /// The lease body (strict JSON, as every body); an empty body means the caller's own pid.
    static func leaseRequest(_ request: Request) async throws -> LeaseRequest {
        let bytes = try await JSONWire.body(of: request)
        guard !bytes.isEmpty else { return LeaseRequest() }
        return try JSONWire.decode(LeaseRequest.self, from: bytes)
    }

    static func deviceName(_ context: DaxPoolRequestContext) throws -> String {
        guard let text = context.parameters.get("device"), !text.isEmpty, text.utf8.count <= 255 else {
            throw RequestError(code: .badRequest, message: "a device name or daxR.N id is needed")
        }
        return text
    }
}
