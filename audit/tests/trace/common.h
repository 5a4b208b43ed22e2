/* Helpers shared by the trace test programs: each program has exactly one
 * bug, and `twin` as its first argument runs the corrected version. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

static inline void die(const char *what) {
    perror(what);
    exit(2);
}

static inline int twin(int argc, char **argv) {
    return argc > 1 && strcmp(argv[1], "twin") == 0;
}

/* A socketpair of `type`; sv[0] sends, sv[1] receives. */
static inline void pair(int type, int sv[2]) {
    if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv) != 0)
        die("socketpair");
}

/* Sends `n` copies of descriptor `fd` with `len` payload bytes. */
static inline ssize_t send_fds(int sock, int fd, int n, size_t len) {
    char payload[16] = "payload";
    struct iovec iov = {payload, len};
    size_t space = CMSG_SPACE(sizeof(int) * n);
    char *ctl = calloc(1, space);
    struct msghdr m = {0};
    m.msg_iov = &iov;
    m.msg_iovlen = len ? 1 : 0;
    m.msg_control = ctl;
    m.msg_controllen = space;
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * n);
    for (int i = 0; i < n; i++)
        memcpy(CMSG_DATA(c) + i * sizeof(int), &fd, sizeof(int));
    ssize_t r = sendmsg(sock, &m, 0);
    free(ctl);
    return r;
}

/* Receives into a control buffer of `space` bytes with `flags`; stores up
 * to `max` descriptors in `fds` and returns how many arrived (-1 on error);
 * `*msg_flags` gets msg_flags. */
static inline int recv_fds(int sock, size_t space, int flags, int *fds, int max, int *msg_flags) {
    char data[64];
    struct iovec iov = {data, sizeof data};
    char *ctl = calloc(1, space ? space : 1);
    struct msghdr m = {0};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = space ? ctl : NULL;
    m.msg_controllen = space;
    if (recvmsg(sock, &m, flags) < 0) {
        free(ctl);
        return -1;
    }
    int n = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k && n < max; i++)
            memcpy(&fds[n++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
    }
    *msg_flags = m.msg_flags;
    free(ctl);
    return n;
}
