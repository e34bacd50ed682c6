// Linux only.
import DaxPoolCore
import DaxPoolSystem
import SystemPackage

extension Scrubber {
    /// Zeroes every byte of the device file at `path` through a `MAP_SHARED` mapping, so the stores reach the
    /// file's own pages (tmpfs or hugetlbfs): the pages stay allocated and faulted, and read back as zero.
    /// - Returns: the bytes zeroed (the file's length).
    /// - Throws: `BackendError` with operation `scrub` when the file cannot be opened, sized or mapped, or holds
    ///   poisoned pages (everything else in it is zeroed then).
    /// The corresponding C functions are `open(2)`, `fstat(2)` and `mmap(2)`.
    @discardableResult
    public func scrubDeviceFile(
        path: String,
        threads: Int = 1,
        progress: ((Int, Int) -> Void)? = nil
    ) throws(BackendError) -> ByteCount {
        let filePath = FilePath(path)
        let file: OwnedDescriptor
        do throws(Errno) {
            file = try OwnedDescriptor.open(filePath, .readWrite, options: .noFollow)
        } catch {
            throw BackendError("scrub", filePath, error, "cannot open \(path) to scrub it: \(error)")
        }
        return try scrub(file, at: filePath, threads: threads, progress: progress)
    }

    /// Zeroes every byte of the open file `file` (named `path` in errors) that may hold data, through a
    /// `MAP_SHARED` mapping, and leaves every page of it allocated.
    ///
    /// Only the file's data ranges (`SEEK_DATA`/`SEEK_HOLE`) are mapped and stored to. Outside them a file holds no
    /// data and reads as zero: on tmpfs these are holes and pages `fallocate(2)` allocated that nobody has written
    /// or mapped yet, which the kernel clears before any mapping or read shows them; everything a tenant wrote,
    /// by any path, is in a data range (a swapped-out tmpfs page is data too). hugetlbfs reports its whole file as
    /// data, so a hugetlb file is zeroed whole, as before. A destroyed device whose memory was never touched is
    /// scrubbed without storing a byte, instead of having every page allocated, cleared and then zeroed again. A
    /// file with holes is zeroed whole, so that every page of it is allocated for its next owner.
    /// - Returns: the file's length.
    /// - Throws: `BackendError` with operation `scrub` when the file cannot be sized or mapped, or holds poisoned
    ///   pages (everything else in it is zeroed then).
    /// The corresponding C functions are `fstat(2)`, `lseek(2)`, `mmap(2)` and `madvise(2)`.
    func scrub(
        _ file: borrowing OwnedDescriptor,
        at path: FilePath,
        threads: Int,
        progress: ((Int, Int) -> Void)?
    ) throws(BackendError) -> ByteCount {
        let length: Int
        let allocated: Int64
        do throws(Errno) {
            let status = try file.status()
            guard status.isRegularFile, let exact = Int(exactly: status.size) else { throw Errno.invalidArgument }
            length = exact
            allocated = status.allocatedBytes
        } catch {
            throw BackendError("scrub", path, error, "cannot size \(path) to scrub it: \(error)")
        }
        guard length > 0 else { return .zero }
        // A file with holes (its owner punched them) is zeroed whole, every page faulted in, as a file that the
        // kernel cannot tell about is: allocating only the holes is not possible on tmpfs without clearing every
        // unwritten page as well (`fallocate` over a page it allocated earlier clears it).
        let ranges = Self.rangesToZero(of: file, length: length, allocatedBytes: allocated)
        guard !ranges.isEmpty else {
            progress?(length, length)
            return ByteCount(UInt64(length))
        }
        let mapping: MemoryMapping
        do throws(Errno) {
            mapping = try MemoryMapping(sharing: file, length: length)
        } catch {
            throw BackendError(
                "scrub", path, error,
                "cannot map \(path) (\(ByteCount(UInt64(length)).spelledOut)) to scrub it: \(error)"
            )
        }
        var poisoned = 0
        for range in ranges {
            // Every page of the range mapped writable in one call instead of one fault per page as the stores reach
            // it: a 2 MiB tmpfs file is zeroed in about half the time (0.5 ms instead of 0.95 ms here). Best effort:
            // on a kernel without it, or on a poisoned page (`EHWPOISON`), the stores fault the rest in as before.
            try? mapping.advise(.populateWrite, offset: range.lowerBound, count: range.count)
            // A poisoned page of the file raises SIGBUS inside `zero`, which skips it (see `ScrubJob.run`); such a
            // file must not be handed out again, so the scrub fails and the caller gives the file back to the
            // kernel, which never reuses poisoned pages.
            poisoned += mapping.withUnsafeMutableBytes { bytes in
                zero(UnsafeMutableRawBufferPointer(rebasing: bytes[range]), threads: threads) { zeroed, _ in
                    progress?(range.lowerBound + zeroed, length)
                }
            }
        }
        guard poisoned == 0 else {
            throw BackendError(
                "scrub", path, .ioError,
                "\(path) has \(poisoned) poisoned page(s) (memory failure): it was zeroed around them and must go "
                    + "back to the kernel")
        }
        progress?(length, length)
        return ByteCount(UInt64(length))
    }

    /// The byte ranges of `file` (`length` bytes long, `allocatedBytes` of memory) that `scrub` stores zeroes to:
    /// the whole file when it has holes, else its data ranges (`dataRanges`). None: the file holds nothing to zero.
    static func rangesToZero(of file: borrowing OwnedDescriptor, length: Int, allocatedBytes: Int64) -> [Range<Int>] {
        allocatedBytes < Int64(length) ? [0..<length] : dataRanges(of: file, length: length)
    }

    /// Whether `scrub` would store to `file`: `false` when it holds nothing to zero, as for a device whose memory was
    /// never written. The corresponding C functions are `fstat(2)` and `lseek(2)`.
    static func needsStores(_ file: borrowing OwnedDescriptor) -> Bool {
        guard let status = try? file.status(), status.isRegularFile, let length = Int(exactly: status.size) else {
            return true
        }
        return length > 0 && !rangesToZero(of: file, length: length, allocatedBytes: status.allocatedBytes).isEmpty
    }

    /// The byte ranges of the first `length` bytes of `file` that may hold data, in order: the file's data ranges
    /// (`SEEK_DATA`/`SEEK_HOLE`), or the whole file when the file system cannot tell.
    static func dataRanges(of file: borrowing OwnedDescriptor, length: Int) -> [Range<Int>] {
        let descriptor = file.descriptor.rawValue
        var ranges: [Range<Int>] = []
        var offset: Int64 = 0
        do throws(Errno) {
            while offset < Int64(length), let start = try Syscall.nextData(descriptor, from: offset) {
                guard start < Int64(length) else { break }
                let end = min(try Syscall.nextHole(descriptor, from: start), Int64(length))
                guard end > start else { return [0..<length] }
                ranges.append(Int(start)..<Int(end))
                offset = end
            }
        } catch {
            return [0..<length]
        }
        return ranges
    }
}
