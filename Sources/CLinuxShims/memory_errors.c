#ifndef _GNU_SOURCE
#error You must define _GNU_SOURCE
#endif
#include "CLinuxShims.h"
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef BUS_MCEERR_AR
#define BUS_MCEERR_AR 4
#endif
#ifndef BUS_MCEERR_AO
#define BUS_MCEERR_AO 5
#endif

#define QUEUE_SLOTS 1024

static cshim_memory_error queue[QUEUE_SLOTS];
static atomic_uint queue_head;   // next slot to write (producers: signal handlers)
static atomic_uint queue_ready;  // slots published
static atomic_uint queue_tail;   // next slot to read (one consumer)
static int notify_descriptor = -1;

static __thread sigjmp_buf *guard_jump;
static __thread uintptr_t guard_start;
static __thread uintptr_t guard_end;
static __thread cshim_memory_error guard_fault;

static void memory_error_handler(int signal_number, siginfo_t *info, void *context) {
    (void)context;
    uintptr_t address = (uintptr_t)info->si_addr;
    int code = info->si_code;
    int lsb = (code == BUS_MCEERR_AO || code == BUS_MCEERR_AR) ? (int)info->si_addr_lsb : 12;
    if (guard_jump != NULL && address >= guard_start && address < guard_end) {
        guard_fault.code = code;
        guard_fault.address = address;
        guard_fault.addressLSB = lsb;
        siglongjmp(*guard_jump, 1);
    }
    if (code == BUS_MCEERR_AO || code == BUS_MCEERR_AR) {
        unsigned slot = atomic_fetch_add(&queue_head, 1);
        if (slot - atomic_load(&queue_tail) < QUEUE_SLOTS) {
            queue[slot % QUEUE_SLOTS].code = code;
            queue[slot % QUEUE_SLOTS].address = address;
            queue[slot % QUEUE_SLOTS].addressLSB = lsb;
        }
        atomic_fetch_add(&queue_ready, 1);
        if (notify_descriptor >= 0) {
            int saved = errno;
            char byte = 1;
            ssize_t ignored = write(notify_descriptor, &byte, 1);
            (void)ignored;
            errno = saved;
        }
        // Action optional: the memory is not being touched; carry on. Action required outside a guard:
        // the access cannot complete, so fall through to the default action below.
        if (code == BUS_MCEERR_AO) return;
    }
    struct sigaction fallback;
    memset(&fallback, 0, sizeof fallback);
    fallback.sa_handler = SIG_DFL;
    sigaction(signal_number, &fallback, NULL);
    raise(signal_number);
}

int cshim_memory_errors_install(int notify_fd, int early_kill) {
    notify_descriptor = notify_fd;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = memory_error_handler;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigemptyset(&action.sa_mask);
    if (sigaction(SIGBUS, &action, NULL) != 0) return -1;
    if (early_kill && prctl(PR_MCE_KILL, PR_MCE_KILL_SET, PR_MCE_KILL_EARLY, 0, 0) != 0) return -1;
    return 0;
}

int cshim_memory_errors_next(cshim_memory_error *out) {
    unsigned tail = atomic_load(&queue_tail);
    if (tail == atomic_load(&queue_ready)) return 0;
    *out = queue[tail % QUEUE_SLOTS];
    atomic_store(&queue_tail, tail + 1);
    return 1;
}

int cshim_guarded_scrub(int kind, void *start, size_t length, cshim_memory_error *fault) {
    sigjmp_buf jump;
    if (sigsetjmp(jump, 1) != 0) {
        guard_jump = NULL;
        *fault = guard_fault;
        return 1;
    }
    guard_start = (uintptr_t)start;
    guard_end = (uintptr_t)start + length;
    guard_jump = &jump;
    // An external call: the compiler cannot move its stores out of the guard.
    cshim_scrub_zero(kind, start, length);
    guard_jump = NULL;
    return 0;
}

int cshim_raise_memory_error(int code, void *address, int address_lsb) {
    siginfo_t info;
    memset(&info, 0, sizeof info);
    info.si_signo = SIGBUS;
    info.si_code = code;
    info.si_addr = address;
    info.si_addr_lsb = (short)address_lsb;
    return (int)syscall(SYS_rt_tgsigqueueinfo, getpid(), (pid_t)syscall(SYS_gettid), SIGBUS, &info);
}
