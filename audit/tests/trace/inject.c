/* A target for --inject: a child sends three descriptors after 100 ms while
 * the parent blocks in recvmsg. What the parent does on EINTR or
 * MSG_CTRUNC depends on argv[1]:
 *   careful  retry on EINTR; on MSG_CTRUNC close what arrived, say so on
 *            stderr and exit 1
 *   leak     on MSG_CTRUNC return 0 with what arrived still open
 *   abort    abort() on EINTR or MSG_CTRUNC
 *   hang     pause() forever on EINTR or MSG_CTRUNC */
#include <signal.h>
#include "common.h"

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "careful";
    int sv[2], fds[4], fl = 0;
    pair(SOCK_STREAM, sv);
    pid_t child = fork();
    if (child == 0) {
        usleep(100 * 1000);
        int f = open("/dev/null", O_RDONLY | O_CLOEXEC);
        _exit(send_fds(sv[0], f, 3, 4) == 4 ? 0 : 1);
    }
    close(sv[0]);
    int n;
    for (;;) {
        n = recv_fds(sv[1], CMSG_SPACE(3 * sizeof(int)), MSG_CMSG_CLOEXEC, fds, 4, &fl);
        if (n >= 0 || errno != EINTR)
            break;
        if (strcmp(mode, "abort") == 0)
            abort();
        if (strcmp(mode, "hang") == 0)
            pause();
        if (strcmp(mode, "leak") == 0) {
            fprintf(stderr, "recvmsg: %s\n", strerror(errno));
            return 1;
        }
    }
    if (n < 0)
        die("recvmsg");
    waitpid(child, NULL, 0);
    if (fl & MSG_CTRUNC) {
        if (strcmp(mode, "abort") == 0)
            abort();
        if (strcmp(mode, "hang") == 0)
            pause();
        if (strcmp(mode, "leak") == 0)
            return 0;
        for (int i = 0; i < n; i++)
            close(fds[i]);
        fprintf(stderr, "descriptors lost in transit (MSG_CTRUNC): closed the %d that arrived\n", n);
        return 1;
    }
    for (int i = 0; i < n; i++)
        close(fds[i]);
    return 0;
}
