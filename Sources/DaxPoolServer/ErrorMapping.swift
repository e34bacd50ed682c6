import DaxPoolAPI
import DaxPoolCore

/// The one place that says what an error means for the API: which `ErrorCode` it answers, and the one HTTP status
/// of each code. Core and backend errors say what went wrong; only this type knows HTTP.
enum ErrorMapping {
    /// The JSON error body for `error`: its code, its message, and the status of its code.
    static func body(for error: any Error) -> ErrorBody {
        let (code, message) = codeAndMessage(for: error)
        return body(code, message)
    }

    /// The JSON error body for `code` with `message`, and the status of `code`.
    static func body(_ code: ErrorCode, _ message: String) -> ErrorBody {
        ErrorBody(code: code, message: message, status: status(for: code))
    }

    /// The code `error` answers with, and the message of the body.
    static func codeAndMessage(for error: any Error) -> (code: ErrorCode, message: String) {
        switch error {
        case let error as PoolError:
            (code(for: error), error.description)
        case let error as AllocationError:
            (code(for: error), PoolError.allocation(error).description)
        case let error as BackendError:
            (code(for: error.errno), error.message)
        case let error as BackendRefusal:
            (code(for: error.reason), error.message)
        case let error as AccessDenied:
            (.forbidden, error.message)
        case let error as RequestError:
            (error.code, error.message)
        case let error as DecodingError:
            (.badRequest, "the request body is not valid: \(describe(error))")
        case let error as any StateStoreReportableError:
            (code(for: error.failureKind), error.description)
        default:
            (.internalError, "\(error)")
        }
    }

    /// The code of a pool refusal.
    static func code(for error: PoolError) -> ErrorCode {
        switch error {
        case .unknownRegion, .unknownDevice, .noLease: .notFound
        case .noRegion: .noRegion
        case .regionExists, .duplicateName, .duplicateUUID: .conflict
        case .regionPathConflict: .regionPathConflict
        case .regionNotEmpty, .scrubPending, .regionHoldsLostFiles: .regionBusy
        case .regionDegraded: .regionDegraded
        case .regionTailInUse: .rangeInUse
        case .alignmentTooSmall, .alignmentTooLarge: .invalidAlignment
        case .deviceEnabled: .deviceEnabled
        case .deviceBusy: .deviceBusy
        case .deviceLeased: .deviceLeased
        case .leaseExists: .leaseExists
        case .allocation(let allocation): code(for: allocation)
        case .invalidLayout, .invalidRequest: .badRequest
        }
    }

    /// The code of an allocator refusal.
    static func code(for error: AllocationError) -> ErrorCode {
        switch error {
        case .insufficientSpace: .insufficientSpace
        case .rangeInUse: .rangeInUse
        case .misaligned: .misaligned
        case .zeroSize, .outOfRegion: .badRequest
        }
    }

    /// The code of a backend failure, by the class of its error number.
    static func code(for number: SystemErrorNumber) -> ErrorCode {
        switch number {
        // The host lacks the memory or room.
        case .noSpace, .outOfMemory: .insufficientMemory
        // Something else is in the way.
        case .busy, .exists, .notEmpty: .busy
        // The backend refused what was asked (a path not on tmpfs, a wrong page size, ...).
        case .invalid: .badRequest
        // The daemon lacks the privilege (hugetlb and devdax need root).
        case .notPermitted, .accessDenied: .notPermitted
        default: .backendError
        }
    }

    /// The code of a backend's refusal of a request.
    static func code(for reason: BackendRefusal.Reason) -> ErrorCode {
        switch reason {
        case .noSuchDaxRegion: .noSuchDaxRegion
        case .noSuchNamespace: .noSuchNamespace
        case .invalidRequest: .badRequest
        case .vmemmapOptimizationOff: .hvoOff
        case .vmemmapOptimizationUnavailable: .hvoUnavailable
        }
    }

    /// The code of a state store failure the API reports.
    static func code(for kind: StateStoreFailureKind) -> ErrorCode {
        switch kind {
        case .areaFull: .labelAreaFull
        case .stateInDoubt: .stateInDoubt
        case .failed: .stateStoreFailed
        }
    }

    /// The code of an error Hummingbird's router raises itself (no route, wrong method, ...), by its status.
    static func code(forRouterStatus status: Int) -> ErrorCode {
        switch status {
        case 404: .notFound
        case 405: .methodNotAllowed
        case 413: .payloadTooLarge
        case 400..<500: .badRequest
        default: .internalError
        }
    }

    /// The one HTTP status of each code. Codes only the client library or the CLI raise never come from the daemon;
    /// should one ever reach this mapping, it is the daemon's own failure: 500.
    static func status(for code: ErrorCode) -> Int {
        switch code {
        case .badRequest, .unknownOwner, .invalidAlignment, .misaligned: 400
        case .forbidden, .notPermitted: 403
        case .notFound, .noSuchDaxRegion, .noSuchNamespace: 404
        case .methodNotAllowed: 405
        case .conflict, .noRegion, .regionPathConflict, .regionBusy, .regionDegraded, .rangeInUse, .deviceEnabled,
            .deviceBusy, .deviceLeased, .leaseExists, .insufficientSpace, .insufficientMemory, .busy, .hvoOff,
            .hvoUnavailable, .stateInDoubt, .liveUpdateUnavailable, .liveUpdateRefused:
            409
        case .payloadTooLarge: 413
        case .backendError, .stateStoreFailed, .liveUpdateFailed, .internalError: 500
        case .tooManyConnections: 503
        case .labelAreaFull: 507
        case .daemonUnreachable, .badResponse, .usage, .badInput, .badPath, .untrustedDirectory, .badConfig,
            .badLabelAreaSize, .alreadyRunning, .badState, .leasesUnavailable, .startFailed, .liveUpdateMismatch,
            .invalidLabels, .labelsValid, .ioError, .noPath, .deviceDisabled, .planFailed, .unreadable,
            .addressesHidden, .unsupported:
            500
        }
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

/// A request the server refuses before it reaches the pool (bad body, bad query, unknown owner, a live update it
/// cannot take): what is wrong as an `ErrorCode` and in words. `ErrorMapping` gives its HTTP status.
struct RequestError: Error {
    /// What is wrong.
    var code: ErrorCode
    /// What is wrong and what to do, in words.
    var message: String
}
