// C shims for Linux calls and constants that `import Glibc` does not bring into Swift.
//
// No feature macros here: `_GNU_SOURCE` comes from `cSettings` in Package.swift. Defining it in this
// header breaks the module against swift-system's CSystem.
#pragma once

#include <sys/types.h>
#include "CLinuxShimsMemoryErrors.h"
#include "CLinuxShimsProcesses.h"
#if __has_include("CLinuxShimsScrub.h")
#include "CLinuxShimsScrub.h"
#endif

/// `fallocate(2)`: allocates (or, with `cshim_FALLOC_FL_PUNCH_HOLE`, frees) the byte range of a file.
/// Returns 0, or -1 with `errno` set.
int cshim_fallocate(int fd, int mode, off_t offset, off_t length);

/// `memfd_create(2)`: an anonymous file in memory. Returns the descriptor, or -1 with `errno` set.
int cshim_memfd_create(const char *name, unsigned int flags);

/// `statfs(2)`: stores the filesystem magic number (`f_type`) of the filesystem holding `path` into `*type`.
/// Returns 0, or -1 with `errno` set.
int cshim_statfs_type(const char *path, long *type);

/// `FALLOC_FL_KEEP_SIZE` from `<linux/falloc.h>`.
extern const int cshim_FALLOC_FL_KEEP_SIZE;
/// `FALLOC_FL_PUNCH_HOLE` from `<linux/falloc.h>` (must be combined with `FALLOC_FL_KEEP_SIZE`).
extern const int cshim_FALLOC_FL_PUNCH_HOLE;

/// `MFD_CLOEXEC` from `<sys/mman.h>`.
extern const unsigned int cshim_MFD_CLOEXEC;
/// `MFD_ALLOW_SEALING` from `<sys/mman.h>`.
extern const unsigned int cshim_MFD_ALLOW_SEALING;
/// `MFD_HUGETLB` from `<sys/mman.h>`.
extern const unsigned int cshim_MFD_HUGETLB;

/// `MADV_DONTNEED` for `madvise(2)`.
extern const int cshim_MADV_DONTNEED;
/// `MADV_REMOVE` for `madvise(2)`: frees the backing store of a shared file mapping.
extern const int cshim_MADV_REMOVE;
/// `MADV_HUGEPAGE` for `madvise(2)`.
extern const int cshim_MADV_HUGEPAGE;
/// `MADV_POPULATE_WRITE` for `madvise(2)` (Linux 5.14; 23 when the C library headers predate it).
extern const int cshim_MADV_POPULATE_WRITE;

/// `TMPFS_MAGIC` from `<linux/magic.h>`.
extern const long cshim_TMPFS_MAGIC;
/// `HUGETLBFS_MAGIC` from `<linux/magic.h>`.
extern const long cshim_HUGETLBFS_MAGIC;
