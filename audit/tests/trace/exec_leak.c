/* Bug: receives without MSG_CMSG_CLOEXEC, then fork+exec: the received
 * descriptor goes into the new program. Twin: MSG_CMSG_CLOEXEC. */
#include "common.h"

int main(int argc, char **argv) {
    int sv[2], fds[4], fl;
    pair(SOCK_STREAM, sv);
    int f = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (send_fds(sv[0], f, 1, 1) != 1)
        die("sendmsg");
    close(f);
    int flags = twin(argc, argv) ? MSG_CMSG_CLOEXEC : 0;
    if (recv_fds(sv[1], CMSG_SPACE(sizeof(int)), flags, fds, 4, &fl) != 1)
        die("recvmsg");
    pid_t child = fork();
    if (child == 0) {
        execl("/bin/sh", "sh", "-c", "exit 0", (char *)NULL);
        _exit(127);
    }
    waitpid(child, NULL, 0);
    close(fds[0]);
    return 0;
}
