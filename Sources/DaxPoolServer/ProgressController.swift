import DaxPoolAPI
import DaxPoolCore
import Hummingbird
import ServiceLifecycle

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `/v1/progress`: how far scrubs and prefaults have come, as newline-delimited JSON.
///
/// Without `follow`, the latest event of every running and recently finished operation. With `follow=true`, those
/// and then every new event; with `operation=N` as well, the stream ends when that operation has finished or
/// failed. `device=D` keeps only events of the device with id, name or uuid `D`.
///
/// A caller sees only the operations of devices it owns; administrators see every operation, and only they see
/// the fills of regions' pools (which belong to no owner).
struct ProgressController {
    let service: PoolService

    struct Filter {
        var device: String?
        var operation: UInt64?

        func admits(_ event: ProgressEvent) -> Bool {
            (device.map { event.concerns($0) } ?? true) && (operation.map { event.operation == $0 } ?? true)
        }

        /// Whether the stream is over after `event`.
        func ends(after event: ProgressEvent) -> Bool {
            operation == event.operation && event.state != .running
        }
    }

    func register(on router: Router<DaxPoolRequestContext>) {
        router.get("/v1/progress") { request, context in
            let caller = try context.requireCaller()
            let (filter, follow) = try Self.parse(request)
            let hub = service.progress
            let audience: ProgressHub.Audience =
                service.policy.isAdministrator(caller) ? .everything : .owner(caller.uid)
            if !follow {
                var buffer = ByteBuffer()
                for event in hub.latest(for: audience) where filter.admits(event) {
                    buffer.writeBytes(Self.line(event))
                }
                return Response(
                    status: .ok, headers: [.contentType: "application/x-ndjson"], body: ResponseBody(byteBuffer: buffer)
                )
            }
            let (latest, stream) = hub.subscribe(audience)
            return Response(
                status: .ok,
                headers: [.contentType: "application/x-ndjson"],
                body: ResponseBody { writer in
                    for event in latest where filter.admits(event) {
                        try await writer.write(ByteBuffer(bytes: Self.line(event)))
                        if filter.ends(after: event) {
                            try await writer.finish(nil)
                            return
                        }
                    }
                    for await event in stream.cancelOnGracefulShutdown() where filter.admits(event) {
                        try await writer.write(ByteBuffer(bytes: Self.line(event)))
                        if filter.ends(after: event) { break }
                    }
                    try await writer.finish(nil)
                }
            )
        }
    }

    static func parse(_ request: Request) throws -> (Filter, follow: Bool) {
        let query = request.uri.queryParameters
        var filter = Filter()
        if let text = query.get("operation") {
            guard let value = UInt64(text) else {
                throw RequestError(
                    code: .badRequest, message: "operation must be a progress operation number")
            }
            filter.operation = value
        }
        if let text = query.get("device") {
            guard !text.isEmpty, text.utf8.count <= 255 else {
                throw RequestError(
                    code: .badRequest, message: "device must be a device id, name or uuid (1 to 255 bytes)")
            }
            filter.device = text
        }
        let follow: Bool
        switch query.get("follow") {
        case nil, "false", "0": follow = false
        case "true", "1": follow = true
        case let other?:
            throw RequestError(
                code: .badRequest, message: "follow must be true or false, not '\(other)'")
        }
        return (filter, follow)
    }

    static func line(_ event: ProgressEvent) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array((try? encoder.encode(event)) ?? Data("{}".utf8)) + [10]
    }
}
