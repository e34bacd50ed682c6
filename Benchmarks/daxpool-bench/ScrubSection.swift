// Linux only.
import DaxPoolLinux
import Foundation
import Glibc
import Synchronization
import _Builtin_intrinsics.intel

/// Scrub rows: `Scrubber` against glibc `memset` and a plain streaming-store loop, 1 thread and all threads, on the
/// same pre-faulted buffer in the same run.
enum ScrubSection {
    static func run(quick: Bool, log: @escaping @Sendable (String) -> Void) -> [Row] {
        let bytes = quick ? 256 << 20 : 1 << 30
        let repetitions = quick ? 3 : 7
        let buffer: Mapping
        do {
            buffer = try Mapping.anonymous(bytes)
            try? buffer.advise(hugePageAdvice)
            try buffer.advise(populateWriteAdvice)
        } catch {
            return [
                Row(section: "scrub", name: "scrub", daxpool: "not measured", verdict: "not measured", note: "\(error)")
            ]
        }
        defer { buffer.unmap() }
        let threads = onlineProcessors()
        let scrubber = Scrubber()
        var rows: [Row] = []
        for threadCount in Set([1, threads]).sorted() {
            log("scrub: \(threadCount) thread(s)")
            // Interleave the three so that all see the same load: scrubber, NT loop, memset, repeated.
            var ours = Samples()
            var stream = Samples()
            var libc = Samples()
            for _ in 0..<repetitions {
                ours.append(
                    timeZeroing(buffer) {
                        scrubber.zero(
                            UnsafeMutableRawBufferPointer(start: buffer.base, count: buffer.length),
                            threads: threadCount)
                    })
                stream.append(timeZeroing(buffer) { split(buffer, threadCount) { streamZero($0, $1) } })
                libc.append(timeZeroing(buffer) { split(buffer, threadCount) { memset($0, 0, $1) } })
            }
            let gigabytes = Double(bytes) / 1e9
            let oursRate = gigabytes / (ours.median / 1e9)
            let streamRate = gigabytes / (stream.median / 1e9)
            let libcRate = gigabytes / (libc.median / 1e9)
            let fraction = oursRate / streamRate
            rows.append(
                Row(
                    section: "scrub",
                    name: "scrub, \(threadCount) thread\(threadCount == 1 ? "" : "s") (`Scrubber`, \(scrubber.kind))",
                    daxpool: "\(format(oursRate, digits: 1)) GB/s",
                    baseline:
                        "streaming-store loop \(format(streamRate, digits: 1)) GB/s; memset \(format(libcRate, digits: 1)) GB/s",
                    ratio: formatRatio(fraction) + " of streaming; " + formatRatio(oursRate / libcRate) + " of memset",
                    target: "≥ 90 % of streaming stores",
                    verdict: Verdict.atLeast(fraction, 0.9),
                    metrics: [
                        "gb_per_s": oursRate, "stream_gb_per_s": streamRate, "memset_gb_per_s": libcRate,
                        "threads": Double(threadCount), "bytes": Double(bytes),
                    ],
                    note: threadCount == 1
                        ? "Scrub rows: zeroing a \(formatBytes(Double(bytes))) anonymous buffer (MADV_HUGEPAGE, "
                            + "pre-faulted with MADV_POPULATE_WRITE, re-dirtied before every repetition, untimed); median "
                            + "of \(repetitions) interleaved repetitions. `Scrubber` picks \(scrubber.kind) on this CPU. "
                            + "The streaming-store loop is the bench's own: 16-byte `movntps` stores (SSE2), four per "
                            + "iteration, then a fence; with several threads, each takes one contiguous slice."
                        : ""
                )
            )
        }
        return rows
    }

    /// Dirties `buffer` (untimed), then times `body`.
    static func timeZeroing(_ buffer: Mapping, _ body: () -> Void) -> Double {
        memset(buffer.base, 0x5A, buffer.length)
        let clock = ContinuousClock()
        let start = clock.now
        body()
        return (clock.now - start).nanoseconds
    }

    /// Runs `body(start, count)` on `threads` contiguous slices of `buffer`, one thread each.
    static func split(
        _ buffer: Mapping, _ threads: Int, _ body: @escaping @Sendable (UnsafeMutableRawPointer, Int) -> Void
    ) {
        let slice = (buffer.length / threads) & ~4095
        inParallel(threads) { index in
            let start = index * slice
            let count = index == threads - 1 ? buffer.length - start : slice
            body(buffer.base + start, count)
        }
    }

    /// The plain streaming-store loop: 16-byte non-temporal stores over the 64-byte-aligned body, `memset` for the
    /// edges, then a full fence so the stores are globally visible.
    static func streamZero(_ start: UnsafeMutableRawPointer, _ count: Int) {
        let address = Int(bitPattern: start)
        let alignedStart = (address + 63) & ~63
        let alignedEnd = (address + count) & ~63
        guard alignedEnd > alignedStart else {
            memset(start, 0, count)
            return
        }
        memset(start, 0, alignedStart - address)
        let zero = _mm_setzero_si128()
        guard var line = UnsafeMutablePointer<__m128i>(bitPattern: alignedStart),
            let end = UnsafeMutablePointer<__m128i>(bitPattern: alignedEnd)
        else { return }
        while line < end {
            _mm_stream_si128(line, zero)
            _mm_stream_si128(line + 1, zero)
            _mm_stream_si128(line + 2, zero)
            _mm_stream_si128(line + 3, zero)
            line += 4
        }
        memset(UnsafeMutableRawPointer(end), 0, address + count - alignedEnd)
        atomicMemoryFence(ordering: .sequentiallyConsistent)
    }
}
