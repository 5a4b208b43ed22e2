/* Bug: the control buffer has room for one descriptor but four are sent
 * (the kernel installs what fits and sets MSG_CTRUNC; the program closes
 * them). Twin: room for four. */
#include "common.h"

int main(int argc, char **argv) {
    int sv[2], fds[8], fl;
    pair(SOCK_STREAM, sv);
    int f = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (send_fds(sv[0], f, 4, 1) != 1)
        die("sendmsg");
    close(f);
    size_t space = CMSG_SPACE(sizeof(int) * (twin(argc, argv) ? 4 : 1));
    int n = recv_fds(sv[1], space, MSG_CMSG_CLOEXEC, fds, 8, &fl);
    if (n < 0)
        die("recvmsg");
    for (int i = 0; i < n; i++)
        close(fds[i]);
    return 0;
}
