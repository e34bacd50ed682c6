import DaxPoolAPI
import DaxPoolCore
import Foundation
import Testing

@testable import DaxPoolServer

/// `ErrorMapping` is the one place that turns an error into an API code and a code into its HTTP status; the
/// OpenAPI document lists exactly the codes `ErrorCode` has.
@Suite("Error mapping", .timeLimit(.minutes(20)))
struct ErrorMappingTests {
    /// The HTTP status each code answers with: one entry per code (a duplicate key would trap).
    static let statuses: [ErrorCode: Int] = [
        .badRequest: 400, .notFound: 404, .methodNotAllowed: 405, .payloadTooLarge: 413, .forbidden: 403,
        .unknownOwner: 400, .tooManyConnections: 503, .conflict: 409, .noRegion: 409, .regionPathConflict: 409,
        .regionBusy: 409, .regionDegraded: 409, .rangeInUse: 409, .invalidAlignment: 400, .misaligned: 400,
        .deviceEnabled: 409, .deviceBusy: 409, .deviceLeased: 409, .leaseExists: 409, .insufficientSpace: 409,
        .insufficientMemory: 409, .busy: 409, .notPermitted: 403, .backendError: 500, .noSuchDaxRegion: 404,
        .noSuchNamespace: 404, .hvoOff: 409, .hvoUnavailable: 409, .labelAreaFull: 507, .stateInDoubt: 409,
        .stateStoreFailed: 500, .liveUpdateUnavailable: 409, .liveUpdateRefused: 409, .liveUpdateFailed: 500,
        .internalError: 500,
        // Raised by the client library or the CLI only: the daemon never answers them.
        .daemonUnreachable: 500, .badResponse: 500, .usage: 500, .badInput: 500, .badPath: 500,
        .untrustedDirectory: 500, .badConfig: 500, .badLabelAreaSize: 500, .alreadyRunning: 500, .badState: 500,
        .leasesUnavailable: 500, .startFailed: 500, .liveUpdateMismatch: 500, .invalidLabels: 500, .labelsValid: 500,
        .ioError: 500, .noPath: 500, .deviceDisabled: 500, .planFailed: 500, .unreadable: 500,
        .addressesHidden: 500, .unsupported: 500,
    ]

    /// The code and status expected for each pool refusal: a new case does not compile until it has one.
    static func expected(_ error: PoolError) -> (code: String, status: Int) {
        switch error {
        case .unknownRegion, .unknownDevice, .noLease: ("not_found", 404)
        case .noRegion: ("no_region", 409)
        case .regionExists, .duplicateName, .duplicateUUID: ("conflict", 409)
        case .regionPathConflict: ("region_path_conflict", 409)
        case .regionNotEmpty, .scrubPending, .regionHoldsLostFiles: ("region_busy", 409)
        case .regionDegraded: ("region_degraded", 409)
        case .regionTailInUse: ("range_in_use", 409)
        case .alignmentTooSmall, .alignmentTooLarge: ("invalid_alignment", 400)
        case .deviceEnabled: ("device_enabled", 409)
        case .deviceBusy: ("device_busy", 409)
        case .deviceLeased: ("device_leased", 409)
        case .leaseExists: ("lease_exists", 409)
        case .allocation(let allocation): expected(allocation)
        case .invalidLayout, .invalidRequest: ("bad_request", 400)
        }
    }

    /// The code and status expected for each allocator refusal.
    static func expected(_ error: AllocationError) -> (code: String, status: Int) {
        switch error {
        case .insufficientSpace: ("insufficient_space", 409)
        case .rangeInUse: ("range_in_use", 409)
        case .misaligned: ("misaligned", 400)
        case .zeroSize, .outOfRegion: ("bad_request", 400)
        }
    }

    static let device = DeviceID(region: 0, instance: 1)
    static let extent = Extent(start: RegionOffset(0), length: .mebibytes(2))

    /// One of every allocator refusal.
    static let allocationErrors: [AllocationError] = [
        .insufficientSpace(requested: .mebibytes(4), available: .mebibytes(2), largestFreeExtent: .mebibytes(2)),
        .misaligned(what: "size", value: 4097, alignment: .page4K),
        .zeroSize,
        .rangeInUse(extent, owner: .device(1)),
        .outOfRegion(extent, regionSize: .mebibytes(1)),
    ]

    /// One of every pool refusal.
    static let poolErrors: [PoolError] =
        [
            .unknownRegion(7), .unknownDevice("nope"), .noRegion, .regionExists(0),
            .regionPathConflict(path: "/a/b", overlap: .inside, region: 0, regionPath: "/a"),
            .regionNotEmpty(0, devices: [device]), .scrubPending(0, bytes: .mebibytes(2)),
            .regionDegraded(0, reasons: ["a copy is damaged"], action: "allocate"),
            .regionHoldsLostFiles(0, names: ["orphan"]),
            .regionTailInUse(0, size: .mebibytes(2), holders: ["dax0.1"], smallest: .mebibytes(4)),
            .duplicateName("vm1", holder: device), .duplicateUUID(LabelUUID(high: 1, low: 2), holder: device),
            .alignmentTooSmall(.page4K, pageSize: .page2M), .alignmentTooLarge(.page1G, regionAlign: .page2M),
            .deviceEnabled(device, operation: "destroy"), .deviceBusy(device),
            .deviceLeased(device, holders: [Lease(pid: 42, uid: 0, startTime: 1)], operation: "destroy"),
            .leaseExists(device, pid: 42), .noLease(device, pid: 42), .invalidLayout("overlap"),
            .invalidRequest("size must be given"),
        ] + allocationErrors.map(PoolError.allocation)

    @Test("every error code has exactly one HTTP status, a 4xx or 5xx")
    func everyCodeHasOneStatus() {
        #expect(Set(Self.statuses.keys) == Set(ErrorCode.allCases), "the table names every code once")
        for code in ErrorCode.allCases {
            let status = ErrorMapping.status(for: code)
            #expect(status == Self.statuses[code], "\(code.rawValue)")
            #expect((400..<600).contains(status), "\(code.rawValue)")
            #expect(ErrorMapping.body(code, "m") == ErrorBody(code: code, message: "m", status: status))
        }
        #expect(Set(ErrorCode.allCases.map(\.rawValue)).count == ErrorCode.allCases.count, "wire codes are unique")
    }

    @Test("every pool and allocator refusal maps to its code and status, with its description as the message")
    func poolErrorsMap() {
        #expect(Self.poolErrors.count == 26)
        for error in Self.poolErrors {
            let body = ErrorMapping.body(for: error)
            let (code, status) = Self.expected(error)
            #expect(body.code == code && body.status == status, "\(error)")
            #expect(body.message == error.description)
        }
        for error in Self.allocationErrors {
            let body = ErrorMapping.body(for: error)
            let (code, status) = Self.expected(error)
            #expect(body.code == code && body.status == status, "\(error)")
            #expect(body.message == PoolError.allocation(error).description)
        }
    }

    @Test("every backend refusal maps to its code and a 4xx status, with its message")
    func backendRefusalsMap() {
        let expected: [(BackendRefusal.Reason, String, Int)] = [
            (.noSuchDaxRegion, "no_such_dax_region", 404), (.noSuchNamespace, "no_such_namespace", 404),
            (.invalidRequest, "bad_request", 400), (.vmemmapOptimizationOff, "hvo_off", 409),
            (.vmemmapOptimizationUnavailable, "hvo_unavailable", 409),
        ]
        #expect(expected.map(\.0) == BackendRefusal.Reason.allCases)
        for (reason, code, status) in expected {
            let body = ErrorMapping.body(for: BackendRefusal(reason, "what to ask for instead"))
            #expect(
                body
                    == ErrorBody(
                        code: ErrorCode(rawValue: code) ?? .internalError, message: "what to ask for instead",
                        status: status))
            #expect(body.code == code)
        }
    }

    @Test("a backend failure maps by the class of its error number, unknown numbers to 500 backend_error")
    func errorNumbersMap() {
        let expected: [(SystemErrorNumber, String, Int)] = [
            (.noSpace, "insufficient_memory", 409), (.outOfMemory, "insufficient_memory", 409),
            (.busy, "busy", 409), (.exists, "busy", 409), (.notEmpty, "busy", 409),
            (.invalid, "bad_request", 400),
            (.notPermitted, "not_permitted", 403), (.accessDenied, "not_permitted", 403),
            (.ioError, "backend_error", 500), (.noSuchFileOrDirectory, "backend_error", 500),
            (.noSuchDeviceOrAddress, "backend_error", 500), (.noSuchDevice, "backend_error", 500),
            (.notSupported, "backend_error", 500), (.timedOut, "backend_error", 500),
            (.canceled, "backend_error", 500), (SystemErrorNumber(rawValue: 4242), "backend_error", 500),
        ]
        for (number, code, status) in expected {
            let error = BackendError(operation: "write", path: "/x", errno: number, message: "write /x failed")
            let body = ErrorMapping.body(for: error)
            #expect(body.code == code && body.status == status, "\(number)")
            #expect(body.message == "write /x failed")
        }
    }

    @Test("a state store's failure kinds map to label_area_full 507, state_in_doubt 409 and state_store_failed 500")
    func stateStoreFailuresMap() {
        struct StoreFailure: StateStoreReportableError {
            var failureKind: StateStoreFailureKind
            var description: String { "the store says \(failureKind)" }
        }
        let expected: [StateStoreFailureKind: (String, Int)] = [
            .areaFull: ("label_area_full", 507), .stateInDoubt: ("state_in_doubt", 409),
            .failed: ("state_store_failed", 500),
        ]
        #expect(Set(expected.keys) == Set(StateStoreFailureKind.allCases))
        for kind in StateStoreFailureKind.allCases {
            let body = ErrorMapping.body(for: StoreFailure(failureKind: kind))
            #expect(body.code == expected[kind]?.0 && body.status == expected[kind]?.1, "\(kind)")
            #expect(body.message == "the store says \(kind)")
        }
    }

    @Test("the server's own refusals take the status of their code")
    func serverErrorsMap() throws {
        #expect(
            ErrorMapping.body(for: AccessDenied("not yours"))
                == ErrorBody(code: .forbidden, message: "not yours", status: 403))
        #expect(
            ErrorMapping.body(for: RequestError(code: .unknownOwner, message: "no such uid"))
                == ErrorBody(code: .unknownOwner, message: "no such uid", status: 400))
        #expect(ErrorMapping.body(for: RequestError(code: .payloadTooLarge, message: "big")).status == 413)
        #expect(ErrorMapping.body(for: RequestError(code: .liveUpdateFailed, message: "disk")).status == 500)
        struct Body: Decodable { var size: Int }
        let decoding = try #require(throws: DecodingError.self) {
            try JSONDecoder().decode(Body.self, from: Data(#"{"size":"x"}"#.utf8))
        }
        let body = ErrorMapping.body(for: decoding)
        #expect(body.code == "bad_request" && body.status == 400 && body.message.contains("at 'size'"))
        let router: [(Int, String)] = [
            (404, "not_found"), (405, "method_not_allowed"), (413, "payload_too_large"), (431, "bad_request"),
            (500, "internal_error"),
        ]
        for (status, code) in router {
            #expect(ErrorMapping.code(forRouterStatus: status).rawValue == code, "\(status)")
        }
    }

    @Test("an error the mapping does not know answers 500 internal_error with its description")
    func unknownErrorsAreInternal() {
        struct Surprise: Error, CustomStringConvertible {
            var description: String { "something unforeseen" }
        }
        #expect(
            ErrorMapping.body(for: Surprise())
                == ErrorBody(code: .internalError, message: "something unforeseen", status: 500))
        // A wire-format error object thrown inside the daemon is not trusted to choose its own status.
        #expect(ErrorMapping.body(for: ErrorBody(code: .notFound, message: "m", status: 200)).status == 500)
    }

    @Test("the OpenAPI document lists exactly the codes of ErrorCode, in both directions")
    func documentListsEveryCode() throws {
        let text = try String(contentsOfFile: OpenAPIContractTests.specPath, encoding: .utf8)
        let documented = Self.documentedCodes(text)
        let known = ErrorCode.allCases.map(\.rawValue)
        #expect(!documented.isEmpty)
        #expect(documented.count == Set(documented).count, "no code is listed twice: \(documented)")
        #expect(Set(known).subtracting(documented).isEmpty, "not documented: \(Set(known).subtracting(documented))")
        #expect(Set(documented).subtracting(known).isEmpty, "not in ErrorCode: \(Set(documented).subtracting(known))")
    }

    @Test("a client reads an error object with a code it does not know, and one without a status")
    func decodingIsTolerant() throws {
        let newer = try JSONDecoder().decode(
            ErrorBody.self, from: Data(#"{"code":"from_the_future","message":"m","status":418}"#.utf8))
        #expect(newer.code == "from_the_future" && newer.knownCode == nil && newer.status == 418)
        let local = try JSONDecoder().decode(ErrorBody.self, from: Data(#"{"code":"usage","message":"m"}"#.utf8))
        #expect(local.knownCode == .usage && local.status == nil)
        let encoded = try JSONEncoder().encode(ErrorBody(code: .usage, message: "m"))
        #expect(!String(decoding: encoded, as: UTF8.self).contains("status"), "no fake status on the wire")
    }

    /// The `enum` list of `components.schemas.Error.properties.code` in the YAML.
    static func documentedCodes(_ text: String) -> [String] {
        var codes: [String] = []
        var section = -1
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            switch section {
            case -1 where line == "  schemas:": section = 0
            case 0 where line == "    Error:": section = 1
            case 1 where line == "        code:": section = 2
            case 2 where line == "          enum:": section = 3
            case 3:
                guard line.hasPrefix("            - ") else { return codes }
                codes.append(String(line.dropFirst("            - ".count)))
            default:
                if section > 0, line.hasPrefix("    "), !line.hasPrefix("     ") { return codes }
            }
        }
        return codes
    }
}
