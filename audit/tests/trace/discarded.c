/* Bug: the parent reads the socket with read(2), which has no control
 * buffer: the descriptors a child sends are closed by the kernel. The read
 * starts before the child sends (the tracer holds it until data arrives).
 * Twin: recvmsg with MSG_CMSG_CLOEXEC, and the descriptor is closed. */
#include "common.h"

int main(int argc, char **argv) {
    int sv[2], fds[4], fl;
    pair(SOCK_STREAM, sv);
    pid_t child = fork();
    if (child == 0) {
        usleep(100 * 1000);
        int f = open("/dev/null", O_RDONLY | O_CLOEXEC);
        _exit(send_fds(sv[0], f, 2, 4) == 4 ? 0 : 1);
    }
    if (twin(argc, argv)) {
        int n = recv_fds(sv[1], CMSG_SPACE(2 * sizeof(int)), MSG_CMSG_CLOEXEC, fds, 4, &fl);
        for (int i = 0; i < n; i++)
            close(fds[i]);
    } else {
        char buf[16];
        if (read(sv[1], buf, sizeof buf) < 0)
            die("read");
    }
    waitpid(child, NULL, 0);
    return 0;
}
