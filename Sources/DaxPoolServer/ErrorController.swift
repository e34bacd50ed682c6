import DaxPoolAPI
import DaxPoolCore
import Hummingbird
import ServiceLifecycle

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `/v1/errors` and `/v1/events`: memory errors in, attributed events out.
struct ErrorController {
    let service: PoolService

    func register(on router: Router<DaxPoolRequestContext>) {
        router.post("/v1/errors") { request, context in
            let caller = try context.requireCaller()
            try service.requireAdministrator(caller, to: "report memory errors")
            let body = try await JSONWire.decode(InjectErrorRequest.self, from: request)
            return JSONWire.response(try await service.recordMemoryError(body, by: caller), status: .created)
        }
        router.post("/v1/errors/clear") { request, context in
            let caller = try context.requireCaller()
            try service.requireAdministrator(caller, to: "clear memory errors")
            let body = try await JSONWire.decode(ClearErrorsRequest.self, from: request)
            return JSONWire.response(try await service.clearErrors(body, by: caller))
        }
        router.get("/v1/events") { request, context in
            let caller = try context.requireCaller()
            let since = try Self.sequence(request)
            let follow = try Self.follow(request)
            if !follow {
                let events = await service.events(after: since)
                var buffer = ByteBuffer()
                for event in events {
                    if await service.mayRead(event, caller) { buffer.writeBytes(Self.line(event)) }
                }
                return Response(
                    status: .ok,
                    headers: [.contentType: "application/x-ndjson"],
                    body: ResponseBody(byteBuffer: buffer)
                )
            }
            let (backlog, stream) = await service.subscribe(after: since)
            return Response(
                status: .ok,
                headers: [.contentType: "application/x-ndjson"],
                body: ResponseBody { writer in
                    for event in backlog {
                        guard await service.mayRead(event, caller) else { continue }
                        try await writer.write(ByteBuffer(bytes: Self.line(event)))
                    }
                    for await event in stream.cancelOnGracefulShutdown() {
                        guard await service.mayRead(event, caller) else { continue }
                        try await writer.write(ByteBuffer(bytes: Self.line(event)))
                    }
                    try await writer.finish(nil)
                }
            )
        }
    }

    /// `?follow=true|1|false|0`; anything else is an error.
    static func follow(_ request: Request) throws -> Bool {
        switch request.uri.queryParameters.get("follow") {
        case nil, "false", "0": return false
        case "true", "1": return true
        case let other?:
            throw RequestError(
                code: .badRequest, message: "follow must be true or false, not '\(other)'")
        }
    }

    static func sequence(_ request: Request) throws -> UInt64 {
        guard let text = request.uri.queryParameters.get("since") else { return 0 }
        guard let value = UInt64(text) else {
            throw RequestError(
                code: .badRequest, message: "since must be a non-negative event sequence number")
        }
        return value
    }

    static func line(_ event: MemoryErrorEvent) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array((try? encoder.encode(event)) ?? Data("{}".utf8)) + [10]
    }
}
