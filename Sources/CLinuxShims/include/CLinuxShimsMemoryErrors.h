#pragma once
#include <stddef.h>
#include <stdint.h>

/// One memory-error signal as the kernel delivered it: `si_code` (BUS_MCEERR_AO = 5, BUS_MCEERR_AR = 4),
/// `si_addr` and `si_addr_lsb` (log2 of the poisoned granule).
typedef struct {
    int code;
    uintptr_t address;
    int addressLSB;
} cshim_memory_error;

/// Installs the process-wide SIGBUS handler (sigaction SA_SIGINFO|SA_ONSTACK) and, with `early_kill`,
/// asks for early notification (prctl PR_MCE_KILL, PR_MCE_KILL_SET, PR_MCE_KILL_EARLY). Memory-error
/// signals outside a guarded region are queued and one byte is written to `notify_fd`. Returns 0 or -1
/// with errno set.
int cshim_memory_errors_install(int notify_fd, int early_kill);

/// Pops the oldest queued memory error; returns 1 if one was popped, 0 if the queue is empty.
int cshim_memory_errors_next(cshim_memory_error *out);

/// `cshim_scrub_zero(kind, start, length)` with a SIGBUS guard: a synchronous SIGBUS inside the range (a poisoned
/// page) stops the zeroing and comes back in `fault` instead of killing the process; returns 1 then, 0 when all was
/// zeroed.
int cshim_guarded_scrub(int kind, void *start, size_t length, cshim_memory_error *fault);

/// Sends this thread a SIGBUS with the given si_code, si_addr and si_addr_lsb (rt_tgsigqueueinfo to self),
/// as the kernel would for a memory error: for tests.
int cshim_raise_memory_error(int code, void *address, int address_lsb);
