// Scrubbing (zeroing memory with non-temporal stores, chosen at run time) and the NUMA memory policy calls that
// place the memory being scrubbed or committed.
//
// No feature macros here: `_GNU_SOURCE` comes from `cSettings` in Package.swift.
#pragma once

#include <stddef.h>

/// The zeroing implementations, fastest first. The values are what `cshim_scrub_zero` takes.
/// `CSHIM_SCRUB_MEMSET` is the C library's `memset` (temporal stores): the portable fallback and the baseline.
enum {
    CSHIM_SCRUB_MEMSET = 0,
    CSHIM_SCRUB_SSE2 = 1,
    CSHIM_SCRUB_AVX2 = 2,
    CSHIM_SCRUB_AVX512 = 3,
};

/// Whether this CPU (and the kernel, which must save the wider registers) can run implementation `kind`:
/// `__builtin_cpu_supports("sse2" | "avx2" | "avx512f")`. Returns 1 or 0; `CSHIM_SCRUB_MEMSET` is always 1.
int cshim_scrub_supports(int kind);

/// Zeroes `count` bytes at `start` with implementation `kind`: `memset` up to the first 64-byte boundary,
/// non-temporal stores (`movntdq` / `vmovntdq`) for the aligned body, `memset` for the tail, then `sfence`
/// so the stores are globally visible before this returns. An unsupported `kind` falls back to `memset`.
void cshim_scrub_zero(int kind, void *start, size_t count);

/// The offset of the first non-zero byte in `count` bytes at `start`, or `count` when every byte is zero.
size_t cshim_scrub_first_nonzero(const void *start, size_t count);

/// `get_mempolicy(2)` through `syscall(2)` (glibc has no wrapper): the calling thread's policy into `*mode`
/// and `nodemask` (`maxnode` bits). Returns 0, or -1 with `errno` set.
long cshim_get_mempolicy(int *mode, unsigned long *nodemask, unsigned long maxnode);

/// The NUMA node holding the page at `address` (`get_mempolicy(2)` with `MPOL_F_NODE | MPOL_F_ADDR`) into
/// `*node`. The page must be present. Returns 0, or -1 with `errno` set.
long cshim_get_mempolicy_node_of_address(int *node, void *address);

/// `set_mempolicy(2)` through `syscall(2)`: sets the calling thread's policy. `maxnode` is the kernel's
/// (historically one too many) bit count. Returns 0, or -1 with `errno` set.
long cshim_set_mempolicy(int mode, const unsigned long *nodemask, unsigned long maxnode);

/// `F_SETLEASE` from `<fcntl.h>` (a GNU extension): a write lease (`F_WRLCK`) is granted only while no other
/// open file description, including one kept alive by a mapping, refers to the file. `ScrubPool` uses it to learn
/// that nobody still holds a destroyed device's memory before that memory goes to a new owner.
extern const int cshim_F_SETLEASE;
/// `F_GETLEASE`: the lease held on a descriptor, or the type a lease is being broken to.
extern const int cshim_F_GETLEASE;

/// `SEEK_DATA` and `SEEK_HOLE` from `<unistd.h>` (GNU extensions): a scrub stores only to the ranges of a file
/// that may hold data.
extern const int cshim_SEEK_DATA;
extern const int cshim_SEEK_HOLE;

/// `MPOL_DEFAULT` from `<linux/mempolicy.h>`.
extern const int cshim_MPOL_DEFAULT;
/// `MPOL_BIND` from `<linux/mempolicy.h>`: allocate only on the nodes in the mask.
extern const int cshim_MPOL_BIND;
