// Linux only.
import Glibc

/// One leader at a time for work many threads wait on (a group commit's write and sync): a caller either leads or
/// waits until the leader is done, and every waiter is woken at once (`pthread_cond_broadcast`) to see whether the
/// leader's work covered it.
///
/// Waiting on a `Synchronization.Mutex` held across the work instead wakes the waiters one at a time, each after the
/// one before it released the lock: with many waiters that convoy delays the next leader's work by a context switch
/// per waiter.
final class LeaderGate: @unchecked Sendable {
    // SAFETY: `leading`, the mutex and the condition are only touched holding the mutex (pthread calls synchronise
    // them); the memory is allocated once and freed in deinit, when no thread can hold a reference.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>
    private var leading = false

    init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        condition = .allocate(capacity: 1)
        condition.initialize(to: pthread_cond_t())
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    /// Returns `false` as soon as `isDone()` says the caller's work is done (or throws what it throws); else `true`
    /// when the caller is to lead: it must do the work and call `endLeading()`. Meanwhile it waits for the leader.
    func lead<Failure: Error>(unless isDone: () throws(Failure) -> Bool) throws(Failure) -> Bool {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while true {
            if try isDone() { return false }
            if !leading {
                leading = true
                return true
            }
            pthread_cond_wait(condition, mutex)
        }
    }

    /// The leader is done: every waiter checks again, and one of them may lead next.
    func endLeading() {
        pthread_mutex_lock(mutex)
        leading = false
        pthread_cond_broadcast(condition)
        pthread_mutex_unlock(mutex)
    }
}
