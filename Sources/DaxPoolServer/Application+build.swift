import DaxPoolAPI
import DaxPoolCore
import Hummingbird
import Logging
import NIOPosix
import ServiceLifecycle

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The one event loop thread that does the API's socket work (accept, read and parse requests, write answers) for
/// every connection. That work is a small part of a request's cost (about a fifth, measured); the handlers run on
/// Swift's cooperative pool, one thread per core. NIO's default of one loop per core only set a second loop thread
/// against the handlers for the same cores, with more wake-ups between threads: on 2 cores, one loop served 16
/// clients about 5 % more round trips per second at 5–15 % less CPU per round trip (BENCHMARKS.md, stop 20), and one
/// client alike. Like NIO's own singleton group, it lives as long as the process.
let apiEventLoopGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)

/// Builds the daemon's HTTP application on a Unix socket; used by `daxpool serve` and by the tests. Every
/// connection passes a `ConnectionLimiter` first (per-uid and total limits under `limits`), and one that sends
/// nothing for `limits.idleTimeout` is closed by Hummingbird's connection state handler. Every application's
/// sockets are served by `apiEventLoopGroup`.
public func buildApplication(
    service: PoolService,
    socketPath: String,
    logger: Logger,
    limits: ConnectionLimits = ConnectionLimits(),
    userExists: @escaping @Sendable (UInt32) -> Bool = UserLookup.exists,
    services: [any Service] = [],
    onServerRunning: @escaping @Sendable () async -> Void = {}
) -> some ApplicationProtocol {
    let metrics = MetricsRegistry()
    MetricsScrubTally.attach(hub: service.progress, registry: metrics)
    let router = buildRouter(service: service, userExists: userExists, metrics: metrics)
    return Application(
        router: router,
        server: ConnectionLimiter.http1(limits: limits, policy: service.policy, logger: logger),
        configuration: .init(address: .unixDomainSocket(path: socketPath), serverName: "daxpool"),
        services: [
            ScrubService(service: service, logger: logger)
        ] + services,
        onServerRunning: { _ in await onServerRunning() },
        eventLoopGroupProvider: .shared(apiEventLoopGroup),
        logger: logger
    )
}

/// The API's routes, one controller per resource; `openapi/daxpool.yaml` documents exactly these. `userExists`
/// says whether a uid names a user on this host (an `owner` must); tests pass their own. `metrics` counts the
/// requests for `GET /metrics` (`MetricsMiddleware`, first so that it sees every answer).
public func buildRouter(
    service: PoolService,
    userExists: @escaping @Sendable (UInt32) -> Bool = UserLookup.exists,
    metrics: MetricsRegistry = MetricsRegistry()
) -> Router<DaxPoolRequestContext> {
    let router = Router(context: DaxPoolRequestContext.self)
    router.middlewares.add(MetricsMiddleware(registry: metrics))
    router.middlewares.add(JSONErrorMiddleware())
    router.middlewares.add(CallerMiddleware(policy: service.policy))
    HealthController().register(on: router)
    RegionController(service: service).register(on: router)
    DeviceController(service: service, userExists: userExists).register(on: router)
    ErrorController(service: service).register(on: router)
    ProgressController(service: service).register(on: router)
    LiveUpdateController(service: service).register(on: router)
    LendController(service: service).register(on: router)
    MetricsController(service: service, registry: metrics).register(on: router)
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

    /// The error body for `error`. A 413 says `Connection: close`, and `context` (when given) has the connection
    /// closed once the answer is written: the rest of the oversized body is never read, so the connection cannot
    /// carry another request, and a client waiting for the close is not left waiting for the idle timeout.
    static func error(_ error: any Error, context: DaxPoolRequestContext? = nil) -> Response {
        let body = ErrorMapping.body(for: error)
        let status = ErrorMapping.status(for: body.knownCode ?? .internalError)
        var response = response(body, status: HTTPResponse.Status(code: status))
        if status == 413 {
            response.headers[.connection] = "close"
            context?.closeConnectionAfterResponse()
        }
        return response
    }

    /// The request's body, at most `maximumBodySize` bytes (413 `payload_too_large` beyond).
    static func body(of request: Request) async throws -> [UInt8] {
        var request = request
        do {
            return Array(try await request.collectBody(upTo: maximumBodySize).readableBytesView)
        } catch {
            throw RequestError(
                code: .payloadTooLarge,
                message: "the request body is larger than \(maximumBodySize) bytes"
            )
        }
    }

    /// Reads the request's body as a `Value`: strict JSON (`JSONStrictness`: no duplicate or unknown key, no
    /// nesting deeper than 32 levels), then decoded.
    static func decode<Value: KeyedRequestBody>(_ type: Value.Type, from request: Request) async throws -> Value {
        let bytes = try await body(of: request)
        guard !bytes.isEmpty else {
            throw RequestError(code: .badRequest, message: "the request needs a JSON body")
        }
        return try decode(type, from: bytes)
    }

    /// Decodes `bytes` as a `Value` after `JSONStrictness` has checked them.
    static func decode<Value: KeyedRequestBody>(_ type: Value.Type, from bytes: [UInt8]) throws -> Value {
        try JSONStrictness.check(bytes, keys: Value.requestKeys)
        do {
            return try JSONDecoder().decode(Value.self, from: Data(bytes))
        } catch let error as DecodingError {
            throw error
        } catch {
            throw RequestError(code: .badRequest, message: "the request body is not JSON: \(error)")
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
            let code = ErrorMapping.code(forRouterStatus: error.status.code)
            let message =
                error.status == .notFound
                ? "no such API route: \(request.method) \(request.uri.path); see openapi.yaml"
                : (error.body ?? "\(error.status)")
            let body = ErrorMapping.body(code, message)
            return JSONWire.response(body, status: HTTPResponse.Status(code: ErrorMapping.status(for: code)))
        } catch {
            return JSONWire.error(error, context: context as? DaxPoolRequestContext)
        }
    }
}
