"""Bug: socket.recv_fds receives without MSG_CMSG_CLOEXEC (the descriptor is
inheritable until closed). Twin: recvmsg with MSG_CMSG_CLOEXEC."""
import array
import os
import socket
import sys

a, b = socket.socketpair()
f = os.open("/dev/null", os.O_RDONLY)
socket.send_fds(a, [b"x"], [f])
os.close(f)
if sys.argv[1:] == ["twin"]:
    _, anc, _, _ = b.recvmsg(1, socket.CMSG_SPACE(4), socket.MSG_CMSG_CLOEXEC)
    fds = array.array("i", anc[0][2]).tolist()
else:
    _, fds, _, _ = socket.recv_fds(b, 1, 1)
for fd in fds:
    os.close(fd)
