#ifndef _GNU_SOURCE
#error You must define _GNU_SOURCE (Package.swift sets it with cSettings)
#endif

#include "CLinuxShims.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/vfs.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

int cshim_fallocate(int fd, int mode, off_t offset, off_t length) {
    return fallocate(fd, mode, offset, length);
}

int cshim_memfd_create(const char *name, unsigned int flags) {
    return memfd_create(name, flags);
}

int cshim_statfs_type(const char *path, long *type) {
    struct statfs info;
    int result = statfs(path, &info);
    if (result == 0) {
        *type = (long)info.f_type;
    }
    return result;
}

const int cshim_FALLOC_FL_KEEP_SIZE = FALLOC_FL_KEEP_SIZE;
const int cshim_FALLOC_FL_PUNCH_HOLE = FALLOC_FL_PUNCH_HOLE;

const unsigned int cshim_MFD_CLOEXEC = MFD_CLOEXEC;
const unsigned int cshim_MFD_ALLOW_SEALING = MFD_ALLOW_SEALING;
const unsigned int cshim_MFD_HUGETLB = MFD_HUGETLB;

const int cshim_MADV_DONTNEED = MADV_DONTNEED;
const int cshim_MADV_REMOVE = MADV_REMOVE;
const int cshim_MADV_HUGEPAGE = MADV_HUGEPAGE;
const int cshim_MADV_POPULATE_WRITE = MADV_POPULATE_WRITE;

const long cshim_TMPFS_MAGIC = TMPFS_MAGIC;
const long cshim_HUGETLBFS_MAGIC = HUGETLBFS_MAGIC;
