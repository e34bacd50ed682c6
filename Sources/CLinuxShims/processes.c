#include "CLinuxShimsProcesses.h"

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
