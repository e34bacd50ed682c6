public import DaxPoolAPI

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension DaxPoolClient {
    /// `POST /v1/lend`.
    public func lend(_ request: LendRequest) throws(ErrorBody) -> DeviceInfo {
        try exchangeJSON("POST", "/v1/lend", request)
    }

    /// `POST /v1/reclaim`.
    public func reclaim(_ request: ReclaimRequest) throws(ErrorBody) -> ReclaimResponse {
        try exchangeJSON("POST", "/v1/reclaim", request)
    }

    private func exchangeJSON<Value: Decodable, Body: Encodable>(_ method: String, _ path: String, _ body: Body)
        throws(ErrorBody) -> Value
    {
        let bytes: [UInt8]
        do {
            bytes = Array(try JSONEncoder().encode(body))
        } catch {
            throw ErrorBody(code: .badRequest, message: "cannot encode the request: \(error)")
        }
        let (status, answer) = try raw(method: method, path: path, body: bytes)
        guard (200..<300).contains(status) else {
            if let error = try? JSONDecoder().decode(ErrorBody.self, from: Data(answer)) { throw error }
            throw ErrorBody(
                code: .badResponse,
                message: "the daemon answered \(status): \(String(decoding: answer, as: UTF8.self))", status: status)
        }
        do {
            return try JSONDecoder().decode(Value.self, from: Data(answer))
        } catch {
            throw ErrorBody(code: .badResponse, message: "cannot decode the daemon's answer: \(error)")
        }
    }
}
