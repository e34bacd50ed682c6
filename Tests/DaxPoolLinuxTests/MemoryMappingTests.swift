import DaxPoolCore
import DaxPoolLinux
import DaxPoolSystem
import Glibc
import SystemPackage
import Testing

@Suite("memory mapping", .timeLimit(.minutes(20)))
struct MemoryMappingTests {
    @Test("a shared mapping of a device file sees bytes stored through another mapping")
    func mappingsShareMemory() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let backend = ShmBackend()
        let region = try backend.createRegion(Scratch.region(root))
        let device = DaxPoolCore.DeviceID(region: 0, instance: 0)
        let size = 4 << 20
        try backend.provisionDevice(device, size: ByteCount(UInt64(size)), extents: [], in: region)
        let path = FilePath(try #require(backend.devicePath(device, in: region)))

        let writerFile = try OwnedDescriptor.open(path, .readWrite)
        let readerFile = try OwnedDescriptor.open(path, .readOnly)
        let writer = try MemoryMapping(sharing: writerFile, length: size)
        let reader = try MemoryMapping(sharing: readerFile, length: size, protection: .read)
        try writer.advise(.populateWrite)

        writer.withUnsafeMutableBytes { bytes in
            for index in stride(from: 0, to: bytes.count, by: 4096) {
                bytes[index] = UInt8(truncatingIfNeeded: index >> 12)
            }
            bytes[bytes.count - 1] = 0xA5
        }
        reader.withUnsafeMutableBytes { bytes in
            #expect(bytes[0] == 0)
            #expect(bytes[4096 * 7] == 7)
            #expect(bytes[4096 * 300] == UInt8(truncatingIfNeeded: 300))
            #expect(bytes[bytes.count - 1] == 0xA5)
        }
        #expect(Scratch.read(1, from: path.string, at: 4096 * 9) == [9], "the stores reach the file itself")
        try writer.unmap()
        try writerFile.close()
    }

    @Test("a mapping of a memfd commits pages and a punched hole frees them")
    func memoryFileHolePunch() throws {
        let file = try OwnedDescriptor.memoryFile(named: "daxpool-test")
        try file.allocate(offset: 0, length: 4 << 20)
        #expect(try file.status().size == 4 << 20)
        #expect(try file.status().allocatedBytes >= 4 << 20)
        try file.allocate(offset: 1 << 20, length: 1 << 20, mode: [.keepSize, .punchHole])
        #expect(try file.status().allocatedBytes == 3 << 20)
        #expect(try file.status().size == 4 << 20)

        let mapping = try MemoryMapping(sharing: file, length: 4 << 20)
        mapping.withUnsafeMutableBytes { $0[2 << 20] = 1 }
        try mapping.advise(.remove, offset: 2 << 20, count: 1 << 20)
        #expect(try file.status().allocatedBytes == 2 << 20)
        mapping.withUnsafeMutableBytes { bytes in #expect(bytes[2 << 20] == 0) }
    }

    @Test("mapping zero bytes or advising outside the mapping fails with EINVAL")
    func invalidArguments() throws {
        let file = try OwnedDescriptor.memoryFile(named: "daxpool-test")
        try file.resize(to: 8192)
        #expect(throws: Errno.invalidArgument) { _ = try MemoryMapping(sharing: file, length: 0) }
        let mapping = try MemoryMapping(sharing: file, length: 8192)
        #expect(throws: Errno.invalidArgument) { try mapping.advise(.dontNeed, offset: 4096, count: 8192) }
    }
}
