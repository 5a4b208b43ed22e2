/* A read(2) on a socket that nothing is ever sent to, woken by a signal
 * (handler without SA_RESTART): read fails with EINTR and the program exits
 * 0. Under trace the read is held at its entry for a peek; the tracer must
 * let it go when the signal comes, or the program would hang. */
#include <signal.h>
#include "common.h"

static void on_usr1(int sig) {
    (void)sig;
}

int main(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    int sv[2];
    pair(SOCK_STREAM, sv);
    pid_t parent = getpid();
    pid_t child = fork();
    if (child == 0) {
        usleep(200 * 1000);
        kill(parent, SIGUSR1);
        _exit(0);
    }
    char buf[8];
    ssize_t r = read(sv[1], buf, sizeof buf);
    int e = errno;
    waitpid(child, NULL, 0);
    printf("read returned %zd (%s)\n", r, r < 0 ? strerror(e) : "data");
    return r < 0 && e == EINTR ? 0 : 1;
}
