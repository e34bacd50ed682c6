#ifndef _GNU_SOURCE
#error You must define _GNU_SOURCE (Package.swift sets it with cSettings)
#endif

#include "CLinuxShimsScrub.h"

#include <fcntl.h>
#include <linux/mempolicy.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CSHIM_SCRUB_X86 1
#endif

// ---------------------------------------------------------------------------------------------------------------
// Zeroing. Each implementation writes the aligned body with non-temporal stores, which bypass the caches: a scrub
// of gigabytes neither evicts the daemon's working set nor pays for reading lines it is about to overwrite
// (measured here: 2x the bandwidth of memset / rep stosb, reference/limits.md section 1).
//
// SIGBUS hook: a hardware-poisoned page raises a synchronous SIGBUS (BUS_MCEERR_AR) inside these store loops. The
// memory-error issue installs a handler that records si_addr and siglongjmps back to the Swift caller of
// cshim_scrub_zero (Scrubber.zero), which maps the address to a region offset and quarantines it. Nothing here
// may hold a lock or allocate, so that jumping out of a loop is safe.
// ---------------------------------------------------------------------------------------------------------------

enum { SCRUB_LINE = 64, SCRUB_BLOCK = 256 };

#ifdef CSHIM_SCRUB_X86

static void zero_body_sse2(char *body, size_t count) {
    const __m128i zero = _mm_setzero_si128();
    for (size_t offset = 0; offset < count; offset += SCRUB_LINE) {
        _mm_stream_si128((__m128i *)(body + offset), zero);
        _mm_stream_si128((__m128i *)(body + offset + 16), zero);
        _mm_stream_si128((__m128i *)(body + offset + 32), zero);
        _mm_stream_si128((__m128i *)(body + offset + 48), zero);
    }
}

__attribute__((target("avx2"))) static void zero_body_avx2(char *body, size_t count) {
    const __m256i zero = _mm256_setzero_si256();
    size_t offset = 0;
    for (; offset + SCRUB_BLOCK <= count; offset += SCRUB_BLOCK) {
        _mm256_stream_si256((__m256i *)(body + offset), zero);
        _mm256_stream_si256((__m256i *)(body + offset + 32), zero);
        _mm256_stream_si256((__m256i *)(body + offset + 64), zero);
        _mm256_stream_si256((__m256i *)(body + offset + 96), zero);
        _mm256_stream_si256((__m256i *)(body + offset + 128), zero);
        _mm256_stream_si256((__m256i *)(body + offset + 160), zero);
        _mm256_stream_si256((__m256i *)(body + offset + 192), zero);
        _mm256_stream_si256((__m256i *)(body + offset + 224), zero);
    }
    for (; offset < count; offset += SCRUB_LINE) {
        _mm256_stream_si256((__m256i *)(body + offset), zero);
        _mm256_stream_si256((__m256i *)(body + offset + 32), zero);
    }
}

__attribute__((target("avx512f"))) static void zero_body_avx512(char *body, size_t count) {
    const __m512i zero = _mm512_setzero_si512();
    size_t offset = 0;
    for (; offset + SCRUB_BLOCK <= count; offset += SCRUB_BLOCK) {
        _mm512_stream_si512((__m512i *)(body + offset), zero);
        _mm512_stream_si512((__m512i *)(body + offset + 64), zero);
        _mm512_stream_si512((__m512i *)(body + offset + 128), zero);
        _mm512_stream_si512((__m512i *)(body + offset + 192), zero);
    }
    for (; offset < count; offset += SCRUB_LINE) {
        _mm512_stream_si512((__m512i *)(body + offset), zero);
    }
}

#endif

int cshim_scrub_supports(int kind) {
    switch (kind) {
    case CSHIM_SCRUB_MEMSET:
        return 1;
#ifdef CSHIM_SCRUB_X86
    case CSHIM_SCRUB_SSE2:
        __builtin_cpu_init();
        return __builtin_cpu_supports("sse2") ? 1 : 0;
    case CSHIM_SCRUB_AVX2:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") ? 1 : 0;
    case CSHIM_SCRUB_AVX512:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f") ? 1 : 0;
#endif
    default:
        return 0;
    }
}

void cshim_scrub_zero(int kind, void *start, size_t count) {
    char *bytes = start;
    if (kind == CSHIM_SCRUB_MEMSET || !cshim_scrub_supports(kind) || count < 2 * SCRUB_LINE) {
        memset(bytes, 0, count);
        return;
    }
#ifdef CSHIM_SCRUB_X86
    // Head up to the first line boundary, aligned body, tail: non-temporal stores need aligned addresses.
    size_t head = (size_t)(-(uintptr_t)bytes & (SCRUB_LINE - 1));
    size_t body = (count - head) & ~(size_t)(SCRUB_LINE - 1);
    size_t tail = count - head - body;
    memset(bytes, 0, head);
    switch (kind) {
    case CSHIM_SCRUB_AVX512:
        zero_body_avx512(bytes + head, body);
        break;
    case CSHIM_SCRUB_AVX2:
        zero_body_avx2(bytes + head, body);
        break;
    default:
        zero_body_sse2(bytes + head, body);
        break;
    }
    memset(bytes + head + body, 0, tail);
    // Non-temporal stores are weakly ordered: fence them before anyone is told the memory is clean.
    _mm_sfence();
#endif
}

size_t cshim_scrub_first_nonzero(const void *start, size_t count) {
    const unsigned char *bytes = start;
    size_t offset = 0;
    // Byte steps to an 8-byte boundary, then 64 bytes at a time (the compiler vectorises the OR), then bytes.
    while (offset < count && ((uintptr_t)(bytes + offset) & 7) != 0) {
        if (bytes[offset] != 0) return offset;
        offset++;
    }
    while (offset + SCRUB_LINE <= count) {
        const uint64_t *words = (const uint64_t *)(bytes + offset);
        uint64_t any = 0;
        for (int index = 0; index < SCRUB_LINE / 8; index++) any |= words[index];
        if (any != 0) break;
        offset += SCRUB_LINE;
    }
    while (offset < count) {
        if (bytes[offset] != 0) return offset;
        offset++;
    }
    return count;
}

// ---------------------------------------------------------------------------------------------------------------
// NUMA memory policy: glibc has no wrappers for these system calls (libnuma does), so they go through syscall(2).
// ---------------------------------------------------------------------------------------------------------------

long cshim_get_mempolicy(int *mode, unsigned long *nodemask, unsigned long maxnode) {
    return syscall(SYS_get_mempolicy, mode, nodemask, maxnode, NULL, 0UL);
}

long cshim_get_mempolicy_node_of_address(int *node, void *address) {
    return syscall(SYS_get_mempolicy, node, NULL, 0UL, address, (unsigned long)(MPOL_F_NODE | MPOL_F_ADDR));
}

long cshim_set_mempolicy(int mode, const unsigned long *nodemask, unsigned long maxnode) {
    return syscall(SYS_set_mempolicy, mode, nodemask, maxnode);
}

const int cshim_F_SETLEASE = F_SETLEASE;
const int cshim_F_GETLEASE = F_GETLEASE;

const int cshim_SEEK_DATA = SEEK_DATA;
const int cshim_SEEK_HOLE = SEEK_HOLE;

const int cshim_MPOL_DEFAULT = MPOL_DEFAULT;
const int cshim_MPOL_BIND = MPOL_BIND;
