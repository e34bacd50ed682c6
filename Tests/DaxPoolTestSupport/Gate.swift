import Foundation

/// A gate a fake's blocking call waits at until the test opens it, as a slow syscall would block: the waiting thread
/// sleeps on a condition and wakes when `open()` is called, with no polling. The test sees who is waiting.
public final class Gate: @unchecked Sendable {
    // SAFETY: every stored var is read and written only with `condition` locked.
    private let condition = NSCondition()
    private var isOpen: Bool
    private var waitingCount = 0
    private var enteredCount = 0

    /// A gate that starts open or closed.
    public init(open: Bool) {
        isOpen = open
    }

    /// Blocks the calling thread while the gate is closed; returns at once when it is open.
    public func pass() {
        condition.lock()
        defer { condition.unlock() }
        enteredCount += 1
        waitingCount += 1
        while !isOpen { condition.wait() }
        waitingCount -= 1
    }

    /// Opens the gate and wakes everyone waiting at it.
    public func open() {
        condition.lock()
        isOpen = true
        condition.broadcast()
        condition.unlock()
    }

    /// Closes the gate: later callers of `pass()` wait.
    public func close() {
        condition.lock()
        isOpen = false
        condition.unlock()
    }

    /// How many threads wait at the gate now.
    public var waiting: Int {
        condition.lock()
        defer { condition.unlock() }
        return waitingCount
    }

    /// How many calls reached the gate so far (waiting or passed).
    public var entered: Int {
        condition.lock()
        defer { condition.unlock() }
        return enteredCount
    }

    /// Whether the gate is closed.
    public var isClosed: Bool {
        condition.lock()
        defer { condition.unlock() }
        return !isOpen
    }
}
