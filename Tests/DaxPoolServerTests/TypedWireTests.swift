import DaxPoolAPI
import DaxPoolClient
import DaxPoolCore
import DaxPoolServer
import Foundation
import Hummingbird
import Logging
import Testing

/// Request bodies carry typed values (`ByteCount`, `Alignment`, `DeviceName`, `LabelUUID`, `DeviceReference`):
/// each is checked once, as the body is decoded, and a refusal names the field and says what to write.
@Suite("typed wire values", .timeLimit(.minutes(20)))
struct TypedWireTests {
    /// The message of the `DecodingError` decoding `json` as a `Value` throws, or `nil` when it decodes.
    static func refusal<Value: Decodable>(_ type: Value.Type, _ json: String) -> String? {
        do {
            _ = try JSONDecoder().decode(Value.self, from: Data(json.utf8))
            return nil
        } catch DecodingError.dataCorrupted(let context) {
            return context.debugDescription
        } catch {
            return "not a dataCorrupted refusal: \(error)"
        }
    }

    static func decode<Value: Decodable>(_ type: Value.Type, _ json: String) throws -> Value {
        try JSONDecoder().decode(Value.self, from: Data(json.utf8))
    }

    @Test("a size decodes from a byte integer and from every form of the one size grammar")
    func goodSizes() throws {
        for size in ["8388608", #""8388608""#, #""8M""#, #""8m""#, #""8192k""#, #""0x800000""#, #""0x8M""#] {
            #expect(try Self.decode(ResizeRegionRequest.self, #"{"size":\#(size)}"#).size == .mebibytes(8), "\(size)")
        }
        #expect(try Self.decode(ResizeRegionRequest.self, #"{"size":"16T"}"#).size == ByteCount(16 << 40))
        #expect(
            try Self.decode(ResizeRegionRequest.self, #"{"size":18446744073709551615}"#).size == ByteCount(.max))
        let inject = try Self.decode(
            InjectErrorRequest.self, #"{"region":0,"region_offset":"0x2100000","length":"4K","granule":"2M"}"#)
        #expect(inject.regionOffset == RegionOffset(0x210_0000))
        #expect(inject.length == .kibibytes(4))
        #expect(inject.granule == .page2M)
        let pool = try Self.decode(SetPoolRequest.self, #"{"pool":["2M",4194304,"0x200000"]}"#)
        #expect(pool.pool == [.mebibytes(2), .mebibytes(4), .mebibytes(2)])
    }

    @Test(
        "a size outside the grammar (fraction, sign, empty, past 64 bits, huge, not a size) is refused naming the field",
        arguments: [
            (#""1.5G""#, "is not valid: give a number of bytes"),
            (#""2 M""#, "is not valid: give a number of bytes"),
            (#""-1""#, "is not valid: give a number of bytes"),
            ("-1", "-1 is negative: give a number of bytes"),
            (#""""#, "size is empty: give a number of bytes"),
            ("18446744073709551616", "does not fit in 64 bits: give a number of bytes"),
            (#""18446744073709551616""#, "does not fit in 64 bits: give at most 18446744073709551615 bytes"),
            (#""16777216T""#, "does not fit in 64 bits: give at most 18446744073709551615 bytes"),
            ("true", "neither a number nor a string: give a number of bytes"),
            (#"{"bytes":1}"#, "neither a number nor a string: give a number of bytes"),
        ])
    func badSizes(size: String, expected: String) throws {
        let message = try #require(
            Self.refusal(InjectErrorRequest.self, #"{"region":0,"region_offset":0,"length":\#(size)}"#))
        #expect(message.hasPrefix("length: "), "\(message.prefix(300))")
        #expect(message.contains(expected), "\(message.prefix(300))")
        #expect(message.utf8.count < 400, "the message quotes at most a short prefix of what was sent")
        let resize = try #require(Self.refusal(ResizeRegionRequest.self, #"{"size":\#(size)}"#))
        #expect(resize.hasPrefix("size: "), "\(resize.prefix(300))")
        let pool = try #require(Self.refusal(SetPoolRequest.self, #"{"pool":["8M",\#(size)]}"#))
        #expect(pool.hasPrefix("pool[1]: "), "\(pool.prefix(300))")
    }

    @Test("a huge size string or number is refused naming the field, quoting only a short prefix of it")
    func hugeSizes() throws {
        for (size, expected) in [
            ("\"" + String(repeating: "9", count: 100_000) + "\"", "does not fit in 64 bits"),
            ("\"" + String(repeating: "x", count: 100_000) + "\"", "...' is not valid: give a number of bytes"),
            (String(repeating: "9", count: 1000), "does not fit in 64 bits: give a number of bytes"),
        ] {
            let message = try #require(Self.refusal(ResizeRegionRequest.self, #"{"size":\#(size)}"#))
            #expect(message.hasPrefix("size: "), "\(message.prefix(300))")
            #expect(message.contains(expected), "\(message.prefix(300))")
            #expect(message.utf8.count < 400, "the message quotes at most a short prefix of what was sent")
        }
    }

    @Test("every size field of every request names itself when refused")
    func everySizeFieldNamesItself() throws {
        let cases: [(any Decodable.Type, String, String)] = [
            (CreateRegionRequest.self, #"{"backend":"shm","size":"1.5G"}"#, "size: "),
            (CreateRegionRequest.self, #"{"backend":"shm","size":"8M","pool":["1.5G"]}"#, "pool[0]: "),
            (CreateDeviceRequest.self, #"{"size":"1.5G"}"#, "size: "),
            (ReconfigureDeviceRequest.self, #"{"size":"1.5G"}"#, "size: "),
            (InjectErrorRequest.self, #"{"device":"vm","offset":"1.5G","length":4096}"#, "offset: "),
            (InjectErrorRequest.self, #"{"region":0,"region_offset":"1.5G","length":4096}"#, "region_offset: "),
            (ClearErrorsRequest.self, #"{"region":0,"region_offset":-4096,"length":4096}"#, "region_offset: "),
            (ClearErrorsRequest.self, #"{"region":0,"region_offset":0,"length":"4KB"}"#, "length: "),
            (LendRequest.self, #"{"region":0,"size":"128MB"}"#, "size: "),
            (ReclaimRequest.self, #"{"region":0,"size":"-128M"}"#, "size: "),
        ]
        for (type, json, field) in cases {
            guard let message = Self.refusal(type, json) else {
                Issue.record("\(json) decoded")
                continue
            }
            #expect(message.hasPrefix(field), "\(json): \(message)")
            #expect(message.contains("give"), "\(json): \(message)")
        }
    }

    @Test("an alignment decodes from 4K, 2M or 1G in any size form, and anything else is refused naming the field")
    func alignments() throws {
        for align in [#""2M""#, "2097152", #""2097152""#, #""0x200000""#, #""2048K""#] {
            #expect(try Self.decode(CreateDeviceRequest.self, #"{"align":\#(align)}"#).align == .page2M, "\(align)")
        }
        #expect(try Self.decode(ReconfigureDeviceRequest.self, #"{"align":"1G"}"#).align == .page1G)
        let refused: [(any Decodable.Type, String, String)] = [
            (CreateDeviceRequest.self, #"{"align":"3M"}"#, "align: alignment '3M' is not supported: use 4K, 2M or 1G"),
            (CreateDeviceRequest.self, #"{"align":8192}"#, "align: alignment '8192' is not supported: use 4K"),
            (CreateDeviceRequest.self, #"{"align":2097153}"#, "align: alignment '2097153' is not supported"),
            (CreateDeviceRequest.self, #"{"align":"1.5G"}"#, "align: alignment '1.5G' is not supported"),
            (CreateDeviceRequest.self, #"{"align":0}"#, "align: alignment '0' is not supported"),
            (CreateDeviceRequest.self, #"{"align":-4096}"#, "align: -4096 is negative: give 4K, 2M or 1G"),
            (ReconfigureDeviceRequest.self, #"{"align":"8K"}"#, "align: alignment '8K' is not supported"),
            (InjectErrorRequest.self, #"{"region":0,"region_offset":0,"length":1,"granule":"64K"}"#, "granule: "),
            (
                CreateRegionRequest.self, #"{"backend":"hugetlb","size":"1G","page_size":"3M"}"#,
                "page_size: alignment '3M' is not supported: use 4K, 2M or 1G"
            ),
            (
                CreateRegionRequest.self, #"{"backend":"hugetlb","size":"1G","page_size":2097152}"#,
                #"page_size: expected a string: "4K", "2M" or "1G""#
            ),
        ]
        for (type, json, expected) in refused {
            guard let message = Self.refusal(type, json) else {
                Issue.record("\(json) decoded")
                continue
            }
            #expect(message.hasPrefix(expected), "\(json): \(message)")
        }
        let region = try Self.decode(CreateRegionRequest.self, #"{"backend":"hugetlb","size":"1G","page_size":"1G"}"#)
        #expect(region.pageSize == .page1G)
    }

    @Test("names, device references and uuids are checked at decoding and a refusal names the field")
    func namesAndIDs() throws {
        let longName = String(repeating: "n", count: 64)
        let refused: [(any Decodable.Type, String, String)] = [
            (CreateDeviceRequest.self, #"{"name":""}"#, "name: name is empty"),
            (CreateDeviceRequest.self, #"{"name":"a/b"}"#, "name: name contains /"),
            (CreateDeviceRequest.self, #"{"name":"dax0.1"}"#, "name: name 'dax0.1' has the form of a device id"),
            (CreateDeviceRequest.self, #"{"name":"evil\u202Egpj"}"#, "name: name contains U+202E"),
            (CreateDeviceRequest.self, #"{"name":"\#(longName)"}"#, "name: name is 64 bytes long"),
            (CreateDeviceRequest.self, #"{"name":7}"#, "name: expected a string"),
            (LendRequest.self, #"{"region":0,"size":"128M","name":".."}"#, "name: name '..' is reserved"),
            (CreateDeviceRequest.self, #"{"uuid":"xyz"}"#, "uuid: 'xyz' is not a UUID: use the 8-4-4-4-12 hex form"),
            (
                CreateDeviceRequest.self, #"{"uuid":"00000000-0000-0000-0000-000000000000"}"#,
                "uuid: uuid 00000000-0000-0000-0000-000000000000 is the all-zero uuid"
            ),
            (InjectErrorRequest.self, #"{"device":"","length":1}"#, "device: neither a device id such as dax0.1"),
            (InjectErrorRequest.self, #"{"device":"../x","length":1}"#, "device: neither a device id such as dax0.1"),
            (ReclaimRequest.self, #"{"device":"\#(longName)"}"#, "device: neither a device id such as dax0.1"),
            (ReclaimRequest.self, #"{"device":0}"#, "device: expected a device id"),
        ]
        for (type, json, expected) in refused {
            guard let message = Self.refusal(type, json) else {
                Issue.record("\(json) decoded")
                continue
            }
            #expect(message.hasPrefix(expected), "\(json): \(message)")
        }
        let named = try Self.decode(
            CreateDeviceRequest.self, #"{"name":"vm1","uuid":"5B405E8D-700E-4499-9E09-1967D5637178"}"#)
        #expect(named.name == (try DeviceName(validating: "vm1")))
        #expect(named.uuid == LabelUUID("5b405e8d-700e-4499-9e09-1967d5637178"))
        #expect(
            try Self.decode(InjectErrorRequest.self, #"{"device":"dax1.2","length":1}"#).device?.id
                == DeviceID(region: 1, instance: 2))
        let byName = try Self.decode(ReclaimRequest.self, #"{"device":"lent-1"}"#)
        #expect(byName.device?.text == "lent-1" && byName.device?.id == nil)
    }

    @Test("every request encodes as the wire takes it and decodes back equal")
    func roundTrip() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        func again<Value: Codable & Equatable>(_ value: Value) throws -> String {
            let data = try encoder.encode(value)
            #expect(try JSONDecoder().decode(Value.self, from: data) == value, "\(value)")
            return String(decoding: data, as: UTF8.self)
        }
        let region = CreateRegionRequest(
            backend: .hugetlb, size: .gibibytes(8), path: "/run/x", pageSize: .page1G, node: 0,
            pool: [.gibibytes(2), .gibibytes(2)], hvo: "on")
        #expect(
            try again(region)
                == #"{"backend":"hugetlb","hvo":"on","node":0,"page_size":"1G","path":"\/run\/x","pool":[2147483648,2147483648],"size":8589934592}"#
        )
        let device = CreateDeviceRequest(
            region: 1, size: .mebibytes(8), align: .page2M, name: try DeviceName(validating: "vm1"),
            uuid: LabelUUID("5b405e8d-700e-4499-9e09-1967d5637178"),
            mappings: [
                MappingRequest(
                    pageOffset: 0, start: 0x1_0000_0000, end: 0x1_007f_ffff, size: .mebibytes(8), offset: .zero)
            ], owner: 4343)
        #expect(
            try again(device)
                == #"{"align":2097152,"mappings":[{"end":4303355903,"offset":0,"page_offset":0,"size":8388608,"start":4294967296}],"name":"vm1","owner":4343,"region":1,"size":8388608,"uuid":"5b405e8d-700e-4499-9e09-1967d5637178"}"#
        )
        #expect(try again(CreateDeviceRequest()) == "{}")
        #expect(try again(ReconfigureDeviceRequest(size: .mebibytes(16), align: .page4K, force: true)) != "")
        #expect(
            try again(
                InjectErrorRequest(
                    device: DeviceReference(DeviceID(region: 0, instance: 1)), offset: .mebibytes(1),
                    length: .kibibytes(4), granule: .page4K))
                == #"{"device":"dax0.1","granule":4096,"length":4096,"offset":1048576}"#)
        #expect(
            try again(InjectErrorRequest(region: 0, regionOffset: RegionOffset(0x210_0000), length: .kibibytes(4)))
                == #"{"length":4096,"region":0,"region_offset":34603008}"#)
        #expect(try again(ClearErrorsRequest(region: 0, regionOffset: .zero, length: .gibibytes(1))) != "")
        #expect(try again(SetPoolRequest(pool: [])) == #"{"pool":[]}"#)
        #expect(try again(ResizeRegionRequest(size: .mebibytes(128))) == #"{"size":134217728}"#)
        #expect(
            try again(LendRequest(region: 0, size: .mebibytes(128), name: try DeviceName(validating: "lent")))
                == #"{"name":"lent","region":0,"size":134217728}"#)
        #expect(
            try again(ReclaimRequest(device: try DeviceReference(parsing: "lent"), timeLimitMilliseconds: 500))
                == #"{"device":"lent","time_limit_ms":500}"#)
        #expect(try again(ReclaimRequest(region: 0, size: .mebibytes(256))) == #"{"region":0,"size":268435456}"#)
    }

    // MARK: - Mappings from list -M, through the router

    /// A devdax backend whose region starts at physical address 4 GiB, so that `list -M` shows physical addresses
    /// in `start`/`end` and the region offset in `offset`.
    final class PhysicalBaseBackendFake: MemoryBackend {
        static let base: UInt64 = 1 << 32
        let kind: BackendKind = .devdax
        func createRegion(_ request: RegionConfig) throws -> RegionConfig {
            var config = request
            config.base = Self.base
            config.size = .mebibytes(64)
            config.align = .page2M
            config.pageSize = .page2M
            return config
        }
        func destroyRegion(_ config: RegionConfig) throws {}
        func devicePath(_ device: DeviceID, in region: RegionConfig) -> String? { nil }
        func provisionDevice(_ device: DeviceID, size: ByteCount, extents: [Extent], in region: RegionConfig) throws {}
        func setDeviceEnabled(_ device: DeviceID, enabled: Bool, in region: RegionConfig) throws {}
        func destroyDevice(_ device: DeviceID, in region: RegionConfig) throws {}
        func reconcile(_ region: RegionConfig, devices: [(record: DeviceRecord, extents: [Extent])]) throws {}
    }

    /// Runs `body` against the real router on a fresh socket, with devdax region 0 at physical address 4 GiB.
    func withDevDaxServer(_ body: (DaxPoolClient, PoolService) async throws -> Void) async throws {
        let socket = "/tmp/daxpool-typed-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
        let service = try await PoolService(
            backends: [PhysicalBaseBackendFake()],
            store: InMemoryStateStoreFake(),
            settings: PoolSettings(defaultRegionSize: nil, shmRoot: "/fake", hugetlbRoot: "/fake"),
            logger: Logger(label: "test")
        )
        _ = try await service.createRegion(CreateRegionRequest(backend: .devdax, daxRegion: 0))
        let app = buildApplication(service: service, socketPath: socket, logger: Logger(label: "test"))
        try await RouterCalls.serving(app, socket: socket) { client in
            try await body(client, service)
        }
    }

    @Test("a devdax device's list -M mappings, offset and size included, POSTed back as they are make the same layout")
    func listMappingsPostBack() async throws {
        try await withDevDaxServer { client, service in
            let made = try await service.createDevice(CreateDeviceRequest(size: .mebibytes(8)))
            let mappings = try #require(made.mappings)
            #expect(mappings.first?.offset == 0 && mappings.first?.start == PhysicalBaseBackendFake.base)
            let mappingsJSON = String(decoding: try JSONEncoder().encode(mappings), as: UTF8.self)
            #expect(mappingsJSON.contains(#""offset""#) && mappingsJSON.contains(#""size""#), "\(mappingsJSON)")
            try await service.destroyDevice(made.chardev, force: true)
            let (status, error) = try await RouterCalls.send(
                client, "POST", "/v1/devices", #"{"mappings":\#(mappingsJSON)}"#)
            #expect(status == 201, "\(String(describing: error))")
            let rebuilt = await service.devices()
            #expect(rebuilt.count == 1 && rebuilt.first?.mappings == mappings, "\(rebuilt)")
        }
    }

    @Test("a mapping whose offset or size does not match its range is refused, naming both, and nothing is made")
    func mismatchedMappingRefused() async throws {
        try await withDevDaxServer { client, service in
            let before = await service.snapshot
            let base = PhysicalBaseBackendFake.base
            let end = base + (8 << 20) - 1
            let bodies = [
                (
                    #"{"mappings":[{"page_offset":0,"start":\#(base),"end":\#(end),"offset":2097152}]}"#,
                    "has offset 2097152, but in this region"
                ),
                (
                    #"{"mappings":[{"page_offset":0,"start":\#(base),"end":\#(end),"offset":\#(base)}]}"#,
                    "has offset \(base), but in this region"
                ),
                (
                    #"{"mappings":[{"page_offset":0,"start":\#(base),"end":\#(end),"size":4194304}]}"#,
                    "holds 8388608 bytes, but its size says 4194304"
                ),
                (#"{"mappings":[{"start":\#(base),"end":\#(end),"offset":-1}]}"#, "the request body is not valid"),
            ]
            for (body, expected) in bodies {
                let (status, error) = try await RouterCalls.send(client, "POST", "/v1/devices", body)
                #expect(status == 400, "\(body): \(status)")
                #expect(error?.message.contains(expected) == true, "\(body): \(String(describing: error))")
            }
            #expect(await service.snapshot == before, "a refused mapping changed the state")
            let (created, error) = try await RouterCalls.send(
                client, "POST", "/v1/devices",
                #"{"mappings":[{"page_offset":0,"start":\#(base),"end":\#(end),"size":8388608,"offset":0}]}"#)
            #expect(created == 201, "\(String(describing: error))")
        }
    }

    @Test("a size refused at decoding answers 400 through the router naming the field, and nothing is made")
    func routerNamesTheField() async throws {
        try await withDevDaxServer { client, service in
            let before = await service.snapshot
            for (method, path, body, field) in [
                ("POST", "/v1/devices", #"{"size":"1.5G"}"#, "size: size '1.5G' is not valid"),
                ("POST", "/v1/devices", #"{"size":"8M","align":"3M"}"#, "align: alignment '3M' is not supported"),
                ("POST", "/v1/devices", #"{"size":"8M","name":"dax0.9"}"#, "name: name 'dax0.9' has the form"),
                ("POST", "/v1/errors", #"{"region":0,"region_offset":"1.5G","length":4096}"#, "region_offset: "),
                ("PATCH", "/v1/regions/0", #"{"size":-1}"#, "size: -1 is negative"),
            ] {
                let (status, error) = try await RouterCalls.send(client, method, path, body)
                #expect(status == 400, "\(body): \(status)")
                #expect(error?.code == "bad_request", "\(body): \(String(describing: error))")
                #expect(error?.message.contains(field) == true, "\(body): \(String(describing: error))")
            }
            #expect(await service.snapshot == before)
        }
    }
}
