import DaxPoolAPI
import DaxPoolCore

/// The one place that turns any error into an HTTP status and the JSON error body.
enum ErrorMapping {
    static func body(for error: any Error) -> ErrorBody {
        switch error {
        case let error as PoolError:
            return body(for: error)
        case let error as AllocationError:
            return body(for: PoolError.allocation(error))
        case let error as BackendError:
            if error.errno == 28 || error.errno == 12 {  // ENOSPC, ENOMEM
                return ErrorBody(code: "insufficient_memory", message: error.message, status: 409)
            }
            switch error.errno {
            case 16, 17, 39:  // EBUSY, EEXIST, ENOTEMPTY: something else is in the way
                return ErrorBody(code: "busy", message: error.message, status: 409)
            case 22:  // EINVAL: the backend refused what was asked (a path not on tmpfs, a wrong page size, ...)
                return ErrorBody(code: "bad_request", message: error.message, status: 400)
            case 1, 13:  // EPERM, EACCES: the daemon lacks the privilege (hugetlb and devdax need root)
                return ErrorBody(code: "not_permitted", message: error.message, status: 403)
            default:
                return ErrorBody(code: "backend_error", message: error.message, status: 500)
            }
        case let error as BackendRefusal:
            let status =
                switch error.reason {
                case .noSuchDaxRegion, .noSuchNamespace: 404
                case .invalidRequest: 400
                case .vmemmapOptimizationOff, .vmemmapOptimizationUnavailable: 409
                }
            return ErrorBody(code: error.code, message: error.message, status: status)
        case let error as AccessDenied:
            return ErrorBody(code: "forbidden", message: error.message, status: 403)
        case let error as RequestError:
            return ErrorBody(code: error.code, message: error.message, status: error.status)
        case let error as DecodingError:
            return ErrorBody(
                code: "bad_request", message: "the request body is not valid: \(describe(error))", status: 400)
        case let error as any StateStoreReportableError:
            return ErrorBody(code: error.code, message: error.description, status: error.status)
        default:
            return ErrorBody(code: "internal_error", message: "\(error)", status: 500)
        }
    }

    static func body(for error: PoolError) -> ErrorBody {
        let (code, status): (String, Int) =
            switch error {
            case .unknownRegion, .unknownDevice: ("not_found", 404)
            case .noRegion: ("no_region", 409)
            case .regionExists: ("conflict", 409)
            case .regionPathConflict: ("region_path_conflict", 409)
            case .regionNotEmpty, .scrubPending: ("region_busy", 409)
            case .regionDegraded: ("region_degraded", 409)
            case .regionHoldsLostFiles: ("region_busy", 409)
            case .regionTailInUse: ("range_in_use", 409)
            case .duplicateName, .duplicateUUID: ("conflict", 409)
            case .alignmentTooSmall, .alignmentTooLarge: ("invalid_alignment", 400)
            case .deviceEnabled: ("device_enabled", 409)
            case .deviceBusy: ("device_busy", 409)
            case .deviceLeased: ("device_leased", 409)
            case .leaseExists: ("lease_exists", 409)
            case .noLease: ("not_found", 404)
            case .allocation(let allocation):
                switch allocation {
                case .insufficientSpace: ("insufficient_space", 409)
                case .rangeInUse: ("range_in_use", 409)
                case .misaligned: ("misaligned", 400)
                case .zeroSize, .outOfRegion: ("bad_request", 400)
                }
            case .invalidLayout, .invalidRequest: ("bad_request", 400)
            }
        return ErrorBody(code: code, message: error.description, status: status)
    }

    private static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let keys = context.codingPath.map(\.stringValue).filter { !$0.isEmpty }
            return keys.isEmpty ? "" : " at '\(keys.joined(separator: "."))'"
        }
        switch error {
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return "wrong type\(path(context)): \(context.debugDescription)"
        case .keyNotFound(let key, let context):
            return "missing field '\(key.stringValue)'\(path(context))"
        case .dataCorrupted(let context):
            return "\(context.debugDescription)\(path(context))"
        @unknown default:
            return "\(error)"
        }
    }
}

/// A request the server refuses before it reaches the pool (bad body, unknown route, bad method).
struct RequestError: Error {
    var code: String
    var message: String
    var status: Int
}
