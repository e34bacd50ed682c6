public import DaxPoolAPI
public import DaxPoolCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Typed calls to the daxpool API. Any failure comes back as the one JSON `ErrorBody`.
public final class DaxPoolClient {
    private let http: UnixHTTPClient

    /// A client of the daemon listening at `socketPath`; it connects on the first call.
    public init(socketPath: String) {
        http = UnixHTTPClient(socketPath: socketPath)
    }

    /// The Unix socket path the client talks to.
    public var socketPath: String { http.socketPath }

    /// `GET /v1/health`: whether the daemon answers, its pid and version.
    public func health() throws(ErrorBody) -> HealthResponse { try call("GET", "/v1/health") }

    /// `GET /v1/regions`: every region, as `list -R` prints them.
    public func regions() throws(ErrorBody) -> [RegionInfo] { try call("GET", "/v1/regions") }

    /// `GET /v1/regions/{id}`: region `id`.
    public func region(_ id: Int) throws(ErrorBody) -> RegionInfo { try call("GET", "/v1/regions/\(id)") }

    /// `POST /v1/regions`: creates (or, for devdax, adopts) a region and returns it.
    public func createRegion(_ request: CreateRegionRequest) throws(ErrorBody) -> RegionInfo {
        try call("POST", "/v1/regions", body: request)
    }

    /// `DELETE /v1/regions/{id}`: destroys an empty region and releases its memory.
    public func destroyRegion(_ id: Int) throws(ErrorBody) { try callEmpty("DELETE", "/v1/regions/\(id)") }

    /// `PUT /v1/regions/{id}/pool`: sets the ready-file sizes the region's pool keeps and returns the region.
    public func setPool(_ id: Int, _ request: SetPoolRequest) throws(ErrorBody) -> RegionInfo {
        try call("PUT", "/v1/regions/\(id)/pool", body: request)
    }

    /// `PATCH /v1/regions/{id}`: grows or shrinks the region.
    public func resizeRegion(_ id: Int, _ request: ResizeRegionRequest) throws(ErrorBody) -> RegionInfo {
        try call("PATCH", "/v1/regions/\(id)", body: request)
    }

    /// `GET /v1/devices`: every device the caller may see.
    public func devices() throws(ErrorBody) -> [DeviceInfo] { try call("GET", "/v1/devices") }

    /// `GET /v1/devices/{name}`: the device named by `name` (`daxR.N` or its name).
    public func device(_ name: String) throws(ErrorBody) -> DeviceInfo {
        try call("GET", "/v1/devices/\(Self.escape(name))")
    }

    /// `POST /v1/devices`: creates a device and returns it, its memory ready.
    public func createDevice(_ request: CreateDeviceRequest) throws(ErrorBody) -> DeviceInfo {
        try call("POST", "/v1/devices", body: request)
    }

    /// `PATCH /v1/devices/{name}`: resizes or realigns the device and returns it.
    public func reconfigureDevice(_ name: String, _ request: ReconfigureDeviceRequest) throws(ErrorBody) -> DeviceInfo {
        try call("PATCH", "/v1/devices/\(Self.escape(name))", body: request)
    }

    /// `DELETE /v1/devices/{name}`: destroys the device; `force` also destroys one that is enabled or leased.
    public func destroyDevice(_ name: String, force: Bool) throws(ErrorBody) {
        try callEmpty("DELETE", "/v1/devices/\(Self.escape(name))" + (force ? "?force=true" : ""))
    }

    /// `POST /v1/devices/{name}/enable` or `/disable`; `force` disables a leased device too.
    public func setDeviceEnabled(_ name: String, _ enabled: Bool, force: Bool = false) throws(ErrorBody) -> DeviceInfo {
        try call(
            "POST", "/v1/devices/\(Self.escape(name))/\(enabled ? "enable" : "disable")" + (force ? "?force=true" : ""))
    }

    /// Takes a lease on a device for `pid` (`nil`: the calling process).
    public func attach(_ name: String, pid: Int32?) throws(ErrorBody) -> DeviceInfo {
        try call("POST", "/v1/devices/\(Self.escape(name))/leases", body: LeaseRequest(pid: pid))
    }

    /// Ends `pid`'s lease on a device.
    public func detach(_ name: String, pid: Int32) throws(ErrorBody) {
        try callEmpty("DELETE", "/v1/devices/\(Self.escape(name))/leases/\(pid)")
    }

    /// `POST /v1/errors`: reports a memory error and returns the events it produced.
    public func injectError(_ request: InjectErrorRequest) throws(ErrorBody) -> [MemoryErrorEvent] {
        try call("POST", "/v1/errors", body: request)
    }

    /// Shows (or with `apply`, performs) the rebuild of degraded regions from what survives.
    public func recover(_ request: RecoverRequest) throws(ErrorBody) -> RecoverResponse {
        try call("POST", "/v1/recover", body: request)
    }

    /// Prepares a kexec: every devdax region's layout is persisted in the state directory and in its memory.
    public func prepareLiveUpdate(_ request: LiveUpdatePrepareRequest) throws(ErrorBody) -> LiveUpdateReport {
        try call("POST", "/v1/live-update/prepare", body: request)
    }

    /// What the last live-update prepare or restore did.
    public func liveUpdateStatus() throws(ErrorBody) -> LiveUpdateReport {
        try call("GET", "/v1/live-update")
    }

    /// `POST /v1/errors/clear`: forgets bad blocks in a scrubbed and verified range.
    public func clearErrors(_ request: ClearErrorsRequest) throws(ErrorBody) -> ClearErrorsResponse {
        try call("POST", "/v1/errors/clear", body: request)
    }

    /// `GET /v1/events?since=`: the retained events after `sequence`, oldest first, without following the stream.
    public func events(after sequence: UInt64) throws(ErrorBody) -> [MemoryErrorEvent] {
        let bytes = try exchange("GET", "/v1/events?since=\(sequence)", body: nil)
        return try String(decoding: bytes, as: UTF8.self).split(separator: "\n").map { line throws(ErrorBody) in
            try decode(Array(line.utf8))
        }
    }

    /// Follows the event stream: calls `onEvent` for each event after `sequence` until it returns false.
    public func followEvents(after sequence: UInt64, onEvent: (MemoryErrorEvent) -> Bool) throws(ErrorBody) {
        try follow("/v1/events?since=\(sequence)&follow=true", onEvent: onEvent)
    }

    /// Reads an NDJSON stream at `path`, one decoded value per line, until `onEvent` returns false or the stream
    /// ends.
    private func follow<Event: Decodable>(_ path: String, onEvent: (Event) -> Bool) throws(ErrorBody) {
        var failure: ErrorBody?
        let status: Int
        do {
            status = try http.streamLines(path: path) { line in
                guard !line.isEmpty else { return true }
                do {
                    let event: Event = try decode(Array(line.utf8))
                    return onEvent(event)
                } catch {
                    failure = error as? ErrorBody ?? ErrorBody(code: .badResponse, message: "\(error)")
                    return false
                }
            }
        } catch {
            throw ErrorBody(code: .daemonUnreachable, message: error.description)
        }
        if let failure { throw failure }
        guard (200..<300).contains(status) else {
            throw ErrorBody(code: .badResponse, message: "the daemon answered \(status)", status: status)
        }
    }

    /// The latest progress event of every running and recently finished scrub or prefault (of `device`, by id,
    /// name or uuid, when given).
    public func progress(device: String? = nil) throws(ErrorBody) -> [ProgressEvent] {
        let query = device.map { "?device=\(Self.escape($0))" } ?? ""
        let bytes = try exchange("GET", "/v1/progress" + query, body: nil)
        return try String(decoding: bytes, as: UTF8.self).split(separator: "\n").map { line throws(ErrorBody) in
            try decode(Array(line.utf8))
        }
    }

    /// Follows the progress stream (of `device`, of `operation`): calls `onEvent` for each event until it returns
    /// false or, with `operation`, until that operation has ended.
    public func followProgress(
        device: String? = nil,
        operation: UInt64? = nil,
        onEvent: (ProgressEvent) -> Bool
    ) throws(ErrorBody) {
        var query = "/v1/progress?follow=true"
        if let device { query += "&device=\(Self.escape(device))" }
        if let operation { query += "&operation=\(operation)" }
        try follow(query, onEvent: onEvent)
    }

    /// Sends raw bytes; for tests that probe bad input.
    public func raw(method: String, path: String, body: [UInt8]?) throws(ErrorBody) -> (status: Int, body: [UInt8]) {
        do {
            let response = try http.send(method: method, path: path, body: body)
            return (response.status, response.body)
        } catch {
            throw ErrorBody(code: .daemonUnreachable, message: error.description)
        }
    }

    // MARK: - Plumbing

    private func call<Value: Decodable>(_ method: String, _ path: String) throws(ErrorBody) -> Value {
        try decode(try exchange(method, path, body: nil))
    }

    private func call<Value: Decodable, Body: Encodable>(_ method: String, _ path: String, body: Body) throws(ErrorBody)
        -> Value
    {
        let bytes: [UInt8]
        do {
            bytes = Array(try JSONEncoder().encode(body))
        } catch {
            throw ErrorBody(code: .badRequest, message: "cannot encode the request: \(error)")
        }
        return try decode(try exchange(method, path, body: bytes))
    }

    private func callEmpty(_ method: String, _ path: String) throws(ErrorBody) {
        _ = try exchange(method, path, body: nil)
    }

    private func exchange(_ method: String, _ path: String, body: [UInt8]?) throws(ErrorBody) -> [UInt8] {
        let (status, bytes) = try raw(method: method, path: path, body: body)
        guard (200..<300).contains(status) else {
            if let error = try? JSONDecoder().decode(ErrorBody.self, from: Data(bytes)) { throw error }
            throw ErrorBody(
                code: .badResponse,
                message: "the daemon answered \(status): \(String(decoding: bytes, as: UTF8.self))",
                status: status
            )
        }
        return bytes
    }

    private func decode<Value: Decodable>(_ bytes: [UInt8]) throws(ErrorBody) -> Value {
        do {
            return try JSONDecoder().decode(Value.self, from: Data(bytes))
        } catch {
            throw ErrorBody(code: .badResponse, message: "cannot decode the daemon's answer: \(error)")
        }
    }

    /// Percent-escapes a path segment.
    static func escape(_ segment: String) -> String {
        var out = ""
        for byte in segment.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                out.append(Character(Unicode.Scalar(byte)))
            default:
                let hex = String(byte, radix: 16, uppercase: true)
                out += "%" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        return out
    }
}
