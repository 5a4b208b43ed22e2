/* Bug: a receive truncated at the receiver's descriptor limit (MSG_CTRUNC)
 * is not handled: the one descriptor the kernel did install stays open.
 * Twin: on MSG_CTRUNC it closes what arrived. */
#include "common.h"

int main(int argc, char **argv) {
    int sv[2], fds[4], fl;
    pair(SOCK_STREAM, sv);
    int f = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (send_fds(sv[0], f, 3, 1) != 1)
        die("sendmsg");
    close(f);
    /* Room for exactly one more descriptor: the lowest free number. */
    int lowest = dup(0);
    close(lowest);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = lowest + 1;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        die("setrlimit");
    int n = recv_fds(sv[1], CMSG_SPACE(3 * sizeof(int)), MSG_CMSG_CLOEXEC, fds, 4, &fl);
    if (n < 0)
        die("recvmsg");
    if ((fl & MSG_CTRUNC) && twin(argc, argv)) {
        for (int i = 0; i < n; i++)
            close(fds[i]);
        fprintf(stderr, "descriptors lost in transit (MSG_CTRUNC); closed %d\n", n);
    }
    return 0;
}
