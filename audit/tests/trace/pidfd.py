"""SCM_PIDFD beside SCM_RIGHTS (SO_PASSPIDFD, Linux 6.5+; exits 77 without
it). argv[1]: `close` closes both; `keep-pidfd` leaves the pidfd open;
`bare` receives without MSG_CMSG_CLOEXEC (the pidfd gets close-on-exec
anyway, the rights do not)."""
import array
import os
import socket
import sys

SO_PASSPIDFD = 76
a, b = socket.socketpair()
try:
    b.setsockopt(socket.SOL_SOCKET, SO_PASSPIDFD, 1)
except OSError:
    sys.exit(77)
f = os.open("/dev/null", os.O_RDONLY)
socket.send_fds(a, [b"x"], [f])
mode = sys.argv[1]
_, anc, _, _ = b.recvmsg(1, 256, 0 if mode == "bare" else socket.MSG_CMSG_CLOEXEC)
rights, pidfds = [], []
for level, kind, data in anc:
    fds = array.array("i", data[: len(data) - len(data) % 4]).tolist()
    (pidfds if kind == 4 else rights).extend(fds)
for fd in rights + ([] if mode == "keep-pidfd" else pidfds):
    os.close(fd)
