// Linux only.
import CLinuxShims
import SystemPackage

/// The calling thread's memory policy bound to one NUMA node (`MPOL_BIND`) for as long as this value lives; the
/// policy the thread had before is put back by `restore()` or when the value goes away.
///
/// Allocations the kernel makes for this thread, such as the huge pages `fallocate(2)` on hugetlbfs takes from
/// the pool (it honours the task policy when the file has no shared policy), come only from that node. The
/// policy belongs to the thread, so create, use and drop the value in synchronous code with no `await` between.
public struct NUMABinding: ~Copyable {
    /// Bits in the node masks passed to the kernel: `MAX_NUMNODES` is at most 1024, so 4096 is plenty.
    public static let maskBits = 4096
    private static let maskWords = maskBits / (8 * MemoryLayout<UInt>.size)

    /// The node the thread is bound to.
    public let node: Int
    private let previousMode: CInt
    /// The previous node mask, `maskWords` words this value owns (a pointer, so that `restore` can `discard`).
    private let previousMask: UnsafeMutablePointer<UInt>

    /// Binds the calling thread's allocations to `node`.
    /// - Throws: `EINVAL` for a node outside the mask or not online; the `Errno` of the system calls otherwise.
    /// The corresponding C functions are `get_mempolicy(2)` and `set_mempolicy(2)`.
    public init(node: Int) throws(Errno) {
        guard node >= 0, node < Self.maskBits else { throw Errno.invalidArgument }
        var mode: CInt = 0
        let mask = UnsafeMutablePointer<UInt>.allocate(capacity: Self.maskWords)
        mask.initialize(repeating: 0, count: Self.maskWords)
        var bound = [UInt](repeating: 0, count: Self.maskWords)
        let wordBits = 8 * MemoryLayout<UInt>.size
        bound[node / wordBits] = 1 << UInt(node % wordBits)
        do throws(Errno) {
            _ = try Syscall.valueOrErrno(.memoryPolicy(ofAddress: false)) {
                cshim_get_mempolicy(&mode, mask, UInt(Self.maskBits + 1))
            }.get()
            try bound.withUnsafeBufferPointer { buffer throws(Errno) in
                try Self.set(mode: cshim_MPOL_BIND, mask: buffer.baseAddress, node: node)
            }
        } catch {
            mask.deallocate()
            throw error
        }
        self.node = node
        previousMode = mode
        previousMask = mask
    }

    /// Puts the previous policy back now and reports a failure.
    public consuming func restore() throws(Errno) {
        let mode = previousMode
        let mask = previousMask
        discard self
        defer { mask.deallocate() }
        try Self.set(mode: mode, mask: mask, node: nil)
    }

    deinit {
        try? Self.set(mode: previousMode, mask: previousMask, node: nil)
        previousMask.deallocate()
    }

    /// `set_mempolicy(mode, mask, maskBits + 1)`; `MPOL_DEFAULT` takes no mask. `node` is the one node of `mask`
    /// when it names one, for the call's description.
    private static func set(mode: CInt, mask: UnsafePointer<UInt>?, node: Int?) throws(Errno) {
        _ = try Syscall.valueOrErrno(.setMemoryPolicy(mode: mode, node: node)) {
            mode == cshim_MPOL_DEFAULT
                ? cshim_set_mempolicy(mode, nil, 0) : cshim_set_mempolicy(mode, mask, UInt(maskBits + 1))
        }.get()
    }
}
