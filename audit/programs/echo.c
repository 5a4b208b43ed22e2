/*
 * An echo program for inflight-audit in C with plain libc (see PROTOCOL.md).
 *
 * The auditor hands over a connected Unix socket as descriptor
 * INFLIGHT_ECHO_FD (3). Every message that arrives is sent back in one
 * sendmsg with the same bytes and the same descriptors, in order; then the
 * received copies are closed. A message of 0 bytes without descriptors (or
 * end of stream) ends the loop with status 0; MSG_CTRUNC or MSG_TRUNC ends
 * it with status 3.
 *
 * Build: cc -O2 -Wall -Wextra -o echo echo.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_FDS 253
#define BUFSIZE 65536

union control {
    char buf[CMSG_SPACE(MAX_FDS * sizeof(int))];
    struct cmsghdr align;
};

static char data[BUFSIZE];

static int echo(int sock, size_t len, const int *fds, size_t nfds)
{
    union control ctl;
    size_t off = 0;
    memset(&ctl, 0, sizeof ctl);
    do {
        struct iovec iov = { .iov_base = data + off, .iov_len = len - off };
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
        if (off == 0 && nfds > 0) {
            msg.msg_control = ctl.buf;
            msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
            struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
            c->cmsg_level = SOL_SOCKET;
            c->cmsg_type = SCM_RIGHTS;
            c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
            memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
        }
        ssize_t n = sendmsg(sock, &msg, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("echo: sendmsg");
            return -1;
        }
        off += (size_t)n;
    } while (off < len); /* stream sockets may take a large payload in pieces */
    return 0;
}

int main(void)
{
    const char *env = getenv("INFLIGHT_ECHO_FD");
    const char *kind = getenv("INFLIGHT_ECHO_TYPE");
    int sock = env ? atoi(env) : 3;
    if (!kind)
        kind = "?";
    for (;;) {
        union control ctl;
        struct iovec iov = { .iov_base = data, .iov_len = sizeof data };
        struct msghdr msg = {
            .msg_iov = &iov,
            .msg_iovlen = 1,
            .msg_control = ctl.buf,
            .msg_controllen = sizeof ctl.buf,
        };
        ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("echo: recvmsg");
            return 1;
        }
        int fds[MAX_FDS];
        size_t nfds = 0;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                continue;
            size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < k && nfds < MAX_FDS; i++)
                memcpy(&fds[nfds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        }
        if (msg.msg_flags & (MSG_CTRUNC | MSG_TRUNC)) {
            fprintf(stderr, "echo (%s): %s\n", kind,
                    msg.msg_flags & MSG_CTRUNC ? "MSG_CTRUNC: descriptors were lost"
                                               : "MSG_TRUNC: payload too long");
            return 3;
        }
        if (n == 0 && nfds == 0)
            return 0;
        int rc = echo(sock, (size_t)n, fds, nfds);
        for (size_t i = 0; i < nfds; i++)
            close(fds[i]);
        if (rc != 0)
            return 1;
    }
}
