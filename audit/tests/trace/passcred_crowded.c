/* Bug: SO_PASSCRED is on and the control buffer is sized for the rights
 * alone: the credentials come first and leave no room. Twin: room for
 * both. */
#include "common.h"

int main(int argc, char **argv) {
    int sv[2], fds[4], fl, on = 1;
    pair(SOCK_STREAM, sv);
    if (setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &on, sizeof on) != 0)
        die("setsockopt");
    int f = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (send_fds(sv[0], f, 2, 1) != 1)
        die("sendmsg");
    close(f);
    size_t space = CMSG_SPACE(2 * sizeof(int));
    if (twin(argc, argv))
        space += CMSG_SPACE(sizeof(struct ucred));
    int n = recv_fds(sv[1], space, MSG_CMSG_CLOEXEC, fds, 4, &fl);
    if (n < 0)
        die("recvmsg");
    for (int i = 0; i < n; i++)
        close(fds[i]);
    return 0;
}
