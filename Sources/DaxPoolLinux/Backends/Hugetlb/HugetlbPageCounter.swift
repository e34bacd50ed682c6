// Linux only.
import DaxPoolCore
import SystemPackage

/// The persistent huge page pool of one page size on one NUMA node: the kernel's
/// `/sys/devices/system/node/node<N>/hugepages/hugepages-<kB>kB/nr_hugepages`. `HugetlbSysfsPageCounter` is the
/// kernel's; tests use a fake whose kernel gives out fewer pages than asked.
public protocol HugetlbPageCounter: Sendable {
    /// The node's current number of huge pages of `pageSize` (free and in use).
    func count(node: Int, pageSize: Alignment) throws(BackendError) -> Int

    /// Asks the kernel for `count` pages of `pageSize` on `node`. The kernel may give fewer without an error:
    /// read `count` back to learn what it gave.
    func setCount(_ count: Int, node: Int, pageSize: Alignment) throws(BackendError)
}

extension HugetlbPageCounter {
    /// Adds `pages` huge pages to the node's pool, on top of whatever other users keep there, and checks that
    /// the kernel gave all of them.
    /// - Returns: the pages added, exactly `pages`.
    /// - Throws: `BackendError` (`ENOMEM`) saying how many were asked and how many the kernel gave, after giving
    ///   back the ones it did give; or the error of reading or writing the count.
    public func reserve(_ pages: Int, node: Int, pageSize: Alignment) throws(BackendError) -> Int {
        let before = try count(node: node, pageSize: pageSize)
        guard pages > 0 else { return 0 }
        let (wanted, overflow) = before.addingReportingOverflow(pages)
        guard !overflow else {
            throw BackendError(
                operation: "reserve-hugepages", path: "node\(node)", errno: SystemErrorNumber(Errno.invalidArgument),
                message: "\(pages) pages of \(pageSize) is not a page count: ask for a smaller region"
            )
        }
        try setCount(wanted, node: node, pageSize: pageSize)
        let after = try count(node: node, pageSize: pageSize)
        if after >= wanted { return pages }
        let got = max(0, after - before)
        // Give back what this call added: back to the count found before it.
        var givenBack = "they were given back"
        do throws(BackendError) {
            try setCount(before, node: node, pageSize: pageSize)
        } catch {
            givenBack = "giving them back failed (\(error.message)), so write \(before) to nr_hugepages by hand"
        }
        throw BackendError(
            operation: "reserve-hugepages", path: "node\(node)/hugepages-\(pageSize.rawValue >> 10)kB",
            errno: SystemErrorNumber(Errno.noMemory),
            message: "asked the kernel for \(pages) pages of \(pageSize) on NUMA node \(node) (on top of the "
                + "\(before) already there) and got \(got); \(givenBack). Free memory on that node, ask for "
                + "a smaller region, or reserve the pages at boot (hugepagesz=\(pageSize) hugepages=N on the kernel "
                + "command line)"
        )
    }

    /// Gives back `pages` huge pages that a `reserve` added. Never goes below zero; pages other users still
    /// hold stay in use (the kernel frees only free pages and turns the rest into surplus pages).
    /// - Returns: the node's count afterwards.
    @discardableResult
    public func release(_ pages: Int, node: Int, pageSize: Alignment) throws(BackendError) -> Int {
        guard pages > 0 else { return try count(node: node, pageSize: pageSize) }
        let current = try count(node: node, pageSize: pageSize)
        try setCount(max(0, current - pages), node: node, pageSize: pageSize)
        return try count(node: node, pageSize: pageSize)
    }
}
