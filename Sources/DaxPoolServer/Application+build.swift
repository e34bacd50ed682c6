import DaxPoolAPI
import DaxPoolCore
import Hummingbird
import Logging
import ServiceLifecycle

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Builds the daemon's HTTP application on a Unix socket; used by `daxpool serve` and by the tests.
public func buildApplication(
    service: PoolService,
    socketPath: String,
    logger: Logger,
    services: [any Service] = [],
    onServerRunning: @escaping @Sendable () async -> Void = {}
) -> some ApplicationProtocol {
    let router = buildRouter(service: service)
    return Application(
        router: router,
        configuration: .init(address: .unixDomainSocket(path: socketPath), serverName: "daxpool"),
        services: [ScrubService(service: service, logger: logger)] + services,
        onServerRunning: { _ in await onServerRunning() },
        logger: logger
    )
}

/// The API's routes, one controller per resource; `openapi/daxpool.yaml` documents exactly these.
public func buildRouter(service: PoolService) -> Router<DaxPoolRequestContext> {
    let router = Router(context: DaxPoolRequestContext.self)
    router.middlewares.add(JSONErrorMiddleware())
    router.middlewares.add(CallerMiddleware(policy: service.policy))
    HealthController().register(on: router)
    RegionController(service: service).register(on: router)
    DeviceController(service: service).register(on: router)
    ErrorController(service: service).register(on: router)
    ProgressController(service: service).register(on: router)
    return router
}

/// JSON in and out, with sorted keys so output is stable.
enum JSONWire {
    static let maximumBodySize = 1 << 20

    static func response<Value: Encodable>(_ value: Value, status: HTTPResponse.Status = .ok) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        var buffer = ByteBuffer()
        buffer.writeBytes(data)
        buffer.writeString("\n")
        return Response(
            status: status,
            headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: buffer)
        )
    }

    static func error(_ error: any Error) -> Response {
        let body = ErrorMapping.body(for: error)
        var response = response(body, status: HTTPResponse.Status(code: body.status))
        if body.status == 413 {
            // The rest of the oversized body is never read: close the connection rather than parse it.
            response.headers[.connection] = "close"
        }
        return response
    }

    static func decode<Value: Decodable>(_ type: Value.Type, from request: Request) async throws -> Value {
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: maximumBodySize)
        } catch {
            throw RequestError(
                code: "payload_too_large",
                message: "the request body is larger than \(maximumBodySize) bytes",
                status: 413
            )
        }
        guard buffer.readableBytes > 0 else {
            throw RequestError(code: "bad_request", message: "the request needs a JSON body", status: 400)
        }
        do {
            return try JSONDecoder().decode(Value.self, from: Data(buffer.readableBytesView))
        } catch let error as DecodingError {
            throw error
        } catch {
            throw RequestError(code: "bad_request", message: "the request body is not JSON: \(error)", status: 400)
        }
    }
}

/// Turns every error, including the router's own 404 and 405, into the one JSON error body.
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        do {
            return try await next(request, context)
        } catch let error as HTTPError {
            let code =
                error.status == .notFound
                ? "not_found" : error.status == .methodNotAllowed ? "method_not_allowed" : "bad_request"
            let message =
                error.status == .notFound
                ? "no such API route: \(request.method) \(request.uri.path); see openapi.yaml"
                : (error.body ?? "\(error.status)")
            return JSONWire.response(
                ErrorBody(code: code, message: message, status: error.status.code),
                status: error.status
            )
        } catch {
            return JSONWire.error(error)
        }
    }
}
