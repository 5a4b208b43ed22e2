/* Bug: 254 descriptors in one message (the kernel's limit is 253). Twin:
 * 253. */
#include "common.h"

int main(int argc, char **argv) {
    int sv[2];
    pair(SOCK_DGRAM, sv);
    int f = open("/dev/null", O_RDONLY | O_CLOEXEC);
    ssize_t r = send_fds(sv[0], f, twin(argc, argv) ? 253 : 254, 1);
    printf("sendmsg returned %zd (%s)\n", r, r < 0 ? strerror(errno) : "ok");
    return 0;
}
