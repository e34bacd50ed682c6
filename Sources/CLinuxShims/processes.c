#include "CLinuxShimsProcesses.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

_Static_assert(sizeof(struct ucred) == sizeof(cshim_peer_credentials), "ucred layout");

const int cshim_SOL_SOCKET = SOL_SOCKET;
const int cshim_SO_PEERCRED = SO_PEERCRED;

int cshim_peer_credentials_of(int fd, cshim_peer_credentials *credentials) {
    struct ucred raw;
    socklen_t length = sizeof raw;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &raw, &length) != 0) return -1;
    credentials->pid = raw.pid;
    credentials->uid = raw.uid;
    credentials->gid = raw.gid;
    return 0;
}

int cshim_pidfd_open(int pid) {
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

int cshim_epoll_create(void) {
    return epoll_create1(EPOLL_CLOEXEC);
}

int cshim_epoll_add(int epoll, int fd, uint64_t cookie) {
    struct epoll_event event = {.events = EPOLLIN, .data.u64 = cookie};
    return epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event);
}

int cshim_epoll_delete(int epoll, int fd) {
    return epoll_ctl(epoll, EPOLL_CTL_DEL, fd, NULL);
}

int cshim_epoll_wait(int epoll, uint64_t *cookies, int capacity) {
    struct epoll_event events[64];
    if (capacity > 64) capacity = 64;
    int count = epoll_wait(epoll, events, capacity, -1);
    for (int index = 0; index < count; index++) cookies[index] = events[index].data.u64;
    return count;
}
