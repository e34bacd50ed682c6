import DaxPoolCore
import Testing

@Suite("insufficient space suggests a size that works", .timeLimit(.minutes(20)))
struct InsufficientSpaceSuggestionTests {
    /// A 64 MiB region with a 4 KiB device at 2 MiB: 64 MiB - 4 KiB free, 62 MiB of it usable at 2 MiB.
    private func fragmentedRegion() throws -> RegionAllocator {
        var allocator = RegionAllocator(size: .mebibytes(64))
        try allocator.claim(
            device: 1, extent: Extent(start: RegionOffset(2 << 20), length: .kibibytes(4)), alignment: .page4K)
        return allocator
    }

    /// The size the error's message tells the user to ask for, checked against the error's field.
    private func suggestion(in error: AllocationError) throws -> ByteCount {
        guard case .insufficientSpace(_, let available, _, _) = error else {
            Issue.record("expected insufficient space, got \(error)")
            return .zero
        }
        #expect(error.description.contains("ask for at most \(available.rawValue) bytes"))
        return available
    }

    @Test("a create that does not fit suggests a multiple of its alignment, and asking for that succeeds")
    func createSuggestionSucceeds() throws {
        var allocator = try fragmentedRegion()
        let error = try #require(
            #expect(throws: AllocationError.self) {
                try allocator.resize(device: 2, to: .mebibytes(64), alignment: .page2M)
            })
        let suggested = try suggestion(in: error)
        #expect(suggested.isAligned(to: .page2M))
        #expect(suggested == .mebibytes(62))
        try allocator.resize(device: 2, to: suggested, alignment: .page2M)
        #expect(allocator.size(of: 2) == suggested)
    }

    @Test("a grow that does not fit suggests a device size that works, not the missing bytes")
    func growSuggestionSucceeds() throws {
        var allocator = try fragmentedRegion()
        try allocator.resize(device: 2, to: .mebibytes(2), alignment: .page2M)
        let error = try #require(
            #expect(throws: AllocationError.self) {
                try allocator.resize(device: 2, to: .mebibytes(64), alignment: .page2M)
            })
        let suggested = try suggestion(in: error)
        #expect(suggested == .mebibytes(62))
        try allocator.resize(device: 2, to: suggested, alignment: .page2M)
        #expect(allocator.size(of: 2) == suggested)
    }

    @Test("a region with nothing usable at the alignment says to free memory and suggests no size")
    func nothingUsableSuggestsNoSize() throws {
        var allocator = RegionAllocator(size: .mebibytes(4))
        try allocator.claim(
            device: 1, extent: Extent(start: RegionOffset(2 << 20), length: .kibibytes(4)), alignment: .page4K)
        try allocator.resize(device: 3, to: .mebibytes(2), alignment: .page2M)
        let error = try #require(
            #expect(throws: AllocationError.self) {
                try allocator.resize(device: 2, to: .mebibytes(2), alignment: .page2M)
            })
        #expect(error == .insufficientSpace(requested: .mebibytes(2), available: .zero, largestFreeExtent: .zero))
        #expect(!error.description.contains("ask for at most"))
        #expect(error.description.hasSuffix("free memory first"))
    }
}
