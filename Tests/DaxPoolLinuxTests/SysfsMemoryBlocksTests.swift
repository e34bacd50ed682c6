import DaxPoolCore
import DaxPoolLinux
import Foundation
import SystemPackage
import Testing

/// `/sys/devices/system/memory` read from a tree laid out like it: the block size, the blocks a dax device's ranges
/// span (kmem hot-adds only whole, aligned blocks), and the states a lend and a reclaim store.
@Suite("sysfs memory blocks", .timeLimit(.minutes(20)))
struct SysfsMemoryBlocksTests {
    static let block: UInt64 = 128 << 20

    @Test("block_size_bytes is hex without 0x, and the blocks of ranges are the whole aligned ones")
    func blockSizeAndCoverage() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let memory = root + "/devices/system/memory"
        try FileManager.default.createDirectory(atPath: memory + "/memory40", withIntermediateDirectories: true)
        try "8000000\n".write(toFile: memory + "/block_size_bytes", atomically: false, encoding: .utf8)
        try "offline\n".write(toFile: memory + "/auto_online_blocks", atomically: false, encoding: .utf8)
        try "offline\n".write(toFile: memory + "/memory40/state", atomically: false, encoding: .utf8)
        let blocks = SysfsMemoryBlocks(Sysfs(root: FilePath(root)))
        #expect(try blocks.blockSize() == Self.block)
        #expect(blocks.autoOnline() == "offline")
        #expect(blocks.exists(40) && !blocks.exists(41))
        #expect(try blocks.state(40) == "offline")
        try blocks.onlineMovable(40)
        #expect(try String(contentsOfFile: memory + "/memory40/state", encoding: .utf8) == "online_movable")
        // 0x140000000 is block 40; a range starting mid-block only counts its whole blocks.
        let ranges = [
            DevDaxRange(start: 0x1_4000_0000, last: 0x1_4000_0000 + 2 * Self.block - 1),
            DevDaxRange(start: 0x1_6200_0000, last: 0x1_7fff_ffff),
        ]
        #expect(SysfsMemoryBlocks.blocks(covering: ranges, blockSize: Self.block) == [40, 41, 45, 46, 47])
        #expect(SysfsMemoryBlocks.blocks(covering: ranges, blockSize: 0).isEmpty)
    }

    @Test("a tree without memory hot-plug has no block size and no auto-online policy")
    func noHotplug() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let blocks = SysfsMemoryBlocks(Sysfs(root: FilePath(root)))
        #expect(throws: SysfsError.self) { try blocks.blockSize() }
        #expect(blocks.autoOnline() == nil)
        #expect(!blocks.memmapOnMemory())
    }
}
