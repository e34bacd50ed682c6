// Linux only.
import CLinuxShims
import Glibc
import Synchronization

/// Zeroes memory at memory bandwidth: non-temporal stores (AVX-512, else AVX2, else SSE2, chosen at run time),
/// split across threads, with an `sfence` before it returns. This is how daxpool clears a tenant's memory before
/// the next tenant can see it.
///
/// The work is cut into `chunkSize` pieces that `threads` workers take in turn: the calling thread is one of
/// them and is the only one that calls `progress`, so progress reports arrive in order on the caller's thread.
public struct Scrubber: Sendable, CustomStringConvertible {
    /// The implementation this scrubber runs.
    public let kind: ScrubKind

    /// The piece of work a thread takes at a time (8 MiB): small enough for even progress, large enough that
    /// taking a piece costs nothing next to zeroing it.
    public static let chunkSize = 8 << 20

    /// Below this many bytes per thread, extra threads cost more to start than they save.
    public static let minimumBytesPerThread = 16 << 20

    /// The fastest implementation this CPU supports (`ScrubKind.best`).
    public init() {
        kind = .best
    }

    /// A scrubber that runs `kind`, or `nil` when this CPU does not support it.
    public init?(kind: ScrubKind) {
        guard kind.isSupported else { return nil }
        self.kind = kind
    }

    /// The number of online CPUs (`sysconf(_SC_NPROCESSORS_ONLN)`), at least 1.
    public static var onlineProcessorCount: Int { max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN))) }

    /// Zeroes every byte of `buffer`.
    /// - Parameters:
    ///   - threads: how many threads share the work, the calling thread included; fewer are used for small
    ///     buffers (`minimumBytesPerThread`), and one when a thread cannot be started.
    ///   - progress: called on the calling thread with (bytes zeroed so far, total bytes) after each piece it
    ///     zeroes, and once with (total, total) at the end.
    ///
    /// A hardware-poisoned page raises a synchronous SIGBUS inside the store loop; with the memory-error handler
    /// installed (`MemoryErrorMonitor`) the loop jumps back, skips that page's granule and goes on.
    ///
    /// - Returns: how many poisoned pages were met and skipped (their memory was not zeroed).
    @discardableResult
    public func zero(
        _ buffer: UnsafeMutableRawBufferPointer,
        threads: Int = 1,
        progress: ((Int, Int) -> Void)? = nil
    ) -> Int {
        guard let base = buffer.baseAddress, buffer.count > 0 else {
            progress?(0, 0)
            return 0
        }
        let job = ScrubJob(kind: kind, base: base, count: buffer.count)
        let wanted = min(max(threads, 1), max(1, buffer.count / Self.minimumBytesPerThread))
        // The caller takes the first piece before any helper starts, so that progress always hears of a piece done
        // before the end, however the threads are scheduled.
        job.run(report: progress, pieces: 1)
        var helpers: [pthread_t] = []
        helpers.reserveCapacity(wanted - 1)
        for _ in 1..<max(wanted, 1) {
            let context = Unmanaged.passRetained(job).toOpaque()
            var thread = pthread_t()
            let started = pthread_create(
                &thread, nil,
                { context in
                    guard let context else { return nil }
                    Unmanaged<ScrubJob>.fromOpaque(context).takeRetainedValue().run(report: nil)
                    return nil
                }, context)
            if started == 0 {
                helpers.append(thread)
            } else {
                Unmanaged<ScrubJob>.fromOpaque(context).release()
                break
            }
        }
        job.run(report: progress)
        for thread in helpers {
            pthread_join(thread, nil)
        }
        progress?(buffer.count, buffer.count)
        return job.faultCount.load(ordering: .relaxed)
    }

    /// The offset of the first non-zero byte of `buffer`, or `nil` when every byte is zero.
    public func firstNonZeroOffset(in buffer: UnsafeRawBufferPointer) -> Int? {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return nil }
        let offset = cshim_scrub_first_nonzero(base, buffer.count)
        return offset < buffer.count ? offset : nil
    }

    /// Whether every byte of `buffer` is zero.
    public func verifyZero(_ buffer: UnsafeRawBufferPointer) -> Bool {
        firstNonZeroOffset(in: buffer) == nil
    }

    /// `scrubber(KIND)`, naming the zeroing implementation in use.
    public var description: String { "scrubber(\(kind))" }
}

/// One `Scrubber.zero` call shared by its threads: the buffer, the next piece to take, the bytes done.
final class ScrubJob: Sendable {
    let kind: ScrubKind
    private let address: Int
    let count: Int
    private let nextChunk = Atomic<Int>(0)
    private let zeroedBytes = Atomic<Int>(0)
    /// Synchronous `SIGBUS`es (poisoned pages) met and skipped.
    let faultCount = Atomic<Int>(0)

    init(kind: ScrubKind, base: UnsafeMutableRawPointer, count: Int) {
        self.kind = kind
        // Kept as an address so the job is plainly Sendable; every thread writes only the pieces it took.
        address = Int(bitPattern: base)
        self.count = count
    }

    /// Takes pieces until none are left (or `pieces` are done), zeroing each; `report`, if any, hears of each piece
    /// this thread zeroes.
    func run(report: ((Int, Int) -> Void)?, pieces: Int = .max) {
        for _ in 0..<pieces {
            let index = nextChunk.wrappingAdd(1, ordering: .relaxed).oldValue
            let (start, overflow) = index.multipliedReportingOverflow(by: Scrubber.chunkSize)
            guard !overflow, start < count, let pointer = UnsafeMutableRawPointer(bitPattern: address + start) else {
                return
            }
            let length = min(Scrubber.chunkSize, count - start)
            // A poisoned page raises a synchronous SIGBUS in the store loop: the guard jumps back here, the rest of
            // its granule is skipped (it cannot be written) and zeroing goes on after it.
            var offset = 0
            while offset < length {
                var fault = cshim_memory_error()
                guard cshim_guarded_scrub(kind.shimValue, pointer + offset, length - offset, &fault) != 0 else {
                    break
                }
                faultCount.wrappingAdd(1, ordering: .relaxed)
                let granule = 1 << max(12, min(Int(fault.addressLSB), 30))
                let resume = (Int(bitPattern: UInt(fault.address)) / granule + 1) * granule - (address + start)
                offset = resume > offset ? min(resume, length) : length
            }
            let done = zeroedBytes.wrappingAdd(length, ordering: .relaxed).newValue
            report?(done, count)
        }
    }
}
