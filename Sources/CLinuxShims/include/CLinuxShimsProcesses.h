// C shims for process identity: peer credentials of a Unix socket and process file descriptors.
#pragma once

#include <stdint.h>

/// The layout of `struct ucred` (`SO_PEERCRED`), which `<sys/socket.h>` only declares with `_GNU_SOURCE`.
typedef struct cshim_peer_credentials {
    int32_t pid;
    uint32_t uid;
    uint32_t gid;
} cshim_peer_credentials;

/// `SOL_SOCKET` and `SO_PEERCRED` for `getsockopt(2)`.
extern const int cshim_SOL_SOCKET;
extern const int cshim_SO_PEERCRED;

/// `getsockopt(fd, SOL_SOCKET, SO_PEERCRED)`: the credentials of the process that connected a Unix socket.
/// Returns 0, or -1 with `errno` set.
int cshim_peer_credentials_of(int fd, cshim_peer_credentials *credentials);

/// `pidfd_open(2)` (Linux 5.3) through `syscall(2)`: a descriptor that becomes readable when `pid` exits.
/// `PIDFD_NONBLOCK` is not used. Returns the descriptor (close-on-exec), or -1 with `errno` set.
int cshim_pidfd_open(int pid);

/// `epoll_create1(EPOLL_CLOEXEC)`. Returns the descriptor, or -1 with `errno` set.
int cshim_epoll_create(void);

/// `epoll_ctl(EPOLL_CTL_ADD)`: waits for `fd` to become readable, reporting `cookie`. Returns 0, or -1 with `errno`.
int cshim_epoll_add(int epoll, int fd, uint64_t cookie);

/// `epoll_ctl(EPOLL_CTL_DEL)`. Returns 0, or -1 with `errno` set.
int cshim_epoll_delete(int epoll, int fd);

/// `epoll_wait(2)` without a timeout: stores the cookies of up to `capacity` ready descriptors.
/// Returns how many, or -1 with `errno` set.
int cshim_epoll_wait(int epoll, uint64_t *cookies, int capacity);
