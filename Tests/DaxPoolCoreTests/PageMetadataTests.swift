import DaxPoolCore
import Testing

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

@Suite("page metadata", .timeLimit(.minutes(20)))
struct PageMetadataTests {
    static let gib = ByteCount.gibibytes(1)
    static let tib = ByteCount(1 << 40)

    @Test("without HVO the host keeps 64 bytes per 4 KiB page whatever the page size: 16 GiB per TiB")
    func plainStructPages() {
        for pageSize in Alignment.all {
            for optimized in [false, true] where !(optimized && pageSize > .page4K) {
                let metadata = PageMetadata(memory: Self.gib, pageSize: pageSize, vmemmapOptimized: optimized)
                #expect(metadata.bytes == .mebibytes(16))
                #expect(metadata.bytesPerTebibyte == .gibibytes(16))
                #expect(metadata.savedBytes == .zero)
            }
        }
    }

    @Test("HVO on 2 MiB pages keeps one 4 KiB vmemmap page of eight: 4 KiB per page, 2 GiB per TiB")
    func hvo2M() {
        let metadata = PageMetadata(memory: Self.gib, pageSize: .page2M, vmemmapOptimized: true)
        #expect(metadata.vmemmapBytesPerPage == 32 << 10)
        #expect(metadata.bytesPerPage == 4096)
        #expect(metadata.pageCount == 512)
        #expect(metadata.bytes == .mebibytes(2))
        #expect(metadata.savedBytes == .mebibytes(14), "28 KiB freed per 2 MiB page, 14 MiB per GiB (limits.md)")
        #expect(metadata.bytesPerTebibyte == .gibibytes(2))
    }

    @Test("HVO on 1 GiB pages keeps one 4 KiB page of 4096: 4 KiB per GiB, 4 MiB per TiB")
    func hvo1G() {
        let metadata = PageMetadata(memory: .gibibytes(4), pageSize: .page1G, vmemmapOptimized: true)
        #expect(metadata.vmemmapBytesPerPage == 16 << 20)
        #expect(metadata.bytes == .kibibytes(16))
        #expect(metadata.savedBytes == .kibibytes(65_520), "16,380 KiB freed per 1 GiB page (limits.md)")
        #expect(metadata.bytesPerTebibyte == .mebibytes(4))
    }

    @Test("HVO does nothing for 4 KiB pages")
    func hvoIgnoredFor4K() {
        let metadata = PageMetadata(memory: Self.gib, pageSize: .page4K, vmemmapOptimized: true)
        #expect(!metadata.vmemmapOptimized)
        #expect(metadata.bytes == .mebibytes(16))
    }

    @Test("a partial page counts as a whole page", arguments: [Alignment.page4K, .page2M, .page1G])
    func roundsUp(pageSize: Alignment) {
        let metadata = PageMetadata(
            memory: ByteCount(pageSize.rawValue + 1), pageSize: pageSize, vmemmapOptimized: true)
        #expect(metadata.pageCount == 2)
        #expect(metadata.memory == ByteCount(2 * pageSize.rawValue))
        #expect(PageMetadata(memory: .zero, pageSize: pageSize, vmemmapOptimized: false).bytes == .zero)
    }

    @Test("the figures never overflow, even for 2^64 - 1 bytes")
    func noOverflow() {
        for pageSize in Alignment.all {
            for optimized in [false, true] {
                let metadata = PageMetadata(
                    memory: ByteCount(UInt64.max), pageSize: pageSize, vmemmapOptimized: optimized)
                #expect(metadata.bytes.rawValue <= UInt64.max / 64 + 64)
                #expect(metadata.memory.rawValue % pageSize.rawValue == 0)
            }
        }
    }

    @Test("it encodes with the sizes as bare integers and decodes back")
    func codable() throws {
        let metadata = PageMetadata(memory: Self.tib, pageSize: .page1G, vmemmapOptimized: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let text = String(decoding: try encoder.encode(metadata), as: UTF8.self)
        #expect(
            text
                == #"{"bytes":4194304,"bytes_per_tib":4194304,"memory":1099511627776,"page_size":1073741824,"vmemmap_optimized":true}"#
        )
        #expect(try JSONDecoder().decode(PageMetadata.self, from: Data(text.utf8)) == metadata)
    }
}
