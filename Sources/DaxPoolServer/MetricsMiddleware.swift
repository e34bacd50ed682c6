import Hummingbird

/// Counts every request and its latency in `MetricsRegistry`, by the route's template, method and status class.
/// Added before every other middleware, so that it sees the status the client gets (errors already turned into
/// their JSON answers) and the time the whole chain took.
struct MetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let registry: MetricsRegistry

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        let start = ContinuousClock.now
        do {
            let response = try await next(request, context)
            record(request, context, status: response.status.code, since: start)
            return response
        } catch let error as HTTPError {
            record(request, context, status: error.status.code, since: start)
            throw error
        } catch {
            record(
                request, context, status: ErrorMapping.status(for: ErrorMapping.codeAndMessage(for: error).code),
                since: start)
            throw error
        }
    }

    private func record(_ request: Request, _ context: Context, status: Int, since start: ContinuousClock.Instant) {
        let elapsed = start.duration(to: .now)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        // The template, never the path itself: a path names devices, and unmatched paths are unbounded. Hummingbird
        // names no route (or `NotFound`) when none matched.
        let route = context.endpointPath.flatMap { $0.hasPrefix("/") ? $0 : nil } ?? "unmatched"
        // A client may send any token as its method: others are counted as `other`, so that no client can grow
        // the registry without bound.
        let method = Self.knownMethods.contains(request.method.rawValue) ? request.method.rawValue : "other"
        registry.record(route: route, method: method, status: status, seconds: seconds)
    }

    /// The methods counted under their own name.
    static var knownMethods: Set<String> {
        ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    }
}
