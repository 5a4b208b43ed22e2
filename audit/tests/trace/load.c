/* Load for the tracer: 4 threads, two senders and two receivers on two
 * SOCK_SEQPACKET pairs, 10,000 transfers in all (1 to 4 descriptors each,
 * received with MSG_CMSG_CLOEXEC and closed). Prints its own counts:
 * "sent M messages with F descriptors, received M messages with F
 * descriptors". Usage: load [TRANSFERS] */
#include <pthread.h>
#include "common.h"

static int transfers = 10000;
static int pairs[2][2];
static long sent_fds[2], recv_msgs[2], got_fds[2];

static void *sender(void *arg) {
    long i = (long)arg;
    int f = open("/dev/null", O_RDONLY | O_CLOEXEC);
    for (int k = i; k < transfers; k += 2) {
        int n = 1 + k % 4;
        if (send_fds(pairs[i][0], f, n, 1) != 1)
            die("sendmsg");
        sent_fds[i] += n;
    }
    close(f);
    shutdown(pairs[i][0], SHUT_WR);
    return NULL;
}

static void *receiver(void *arg) {
    long i = (long)arg;
    int fds[8], fl;
    for (;;) {
        int n = recv_fds(pairs[i][1], CMSG_SPACE(4 * sizeof(int)), MSG_CMSG_CLOEXEC, fds, 8, &fl);
        if (n < 0)
            die("recvmsg");
        if (n == 0)
            break; /* end of stream: the sender shut down */
        recv_msgs[i]++;
        got_fds[i] += n;
        for (int k = 0; k < n; k++)
            close(fds[k]);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc > 1)
        transfers = atoi(argv[1]);
    pthread_t t[4];
    for (long i = 0; i < 2; i++) {
        pair(SOCK_SEQPACKET, pairs[i]);
        pthread_create(&t[2 * i], NULL, receiver, (void *)i);
        pthread_create(&t[2 * i + 1], NULL, sender, (void *)i);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    printf("sent %d messages with %ld descriptors, received %ld messages with %ld descriptors\n",
           transfers, sent_fds[0] + sent_fds[1], recv_msgs[0] + recv_msgs[1], got_fds[0] + got_fds[1]);
    return 0;
}
