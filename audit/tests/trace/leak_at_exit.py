"""Bug: the received descriptor is never closed. Twin: it is."""
import array
import os
import socket
import sys

a, b = socket.socketpair()
f = os.open("/dev/null", os.O_RDONLY)
socket.send_fds(a, [b"x"], [f])
os.close(f)
_, anc, _, _ = b.recvmsg(1, socket.CMSG_SPACE(4), socket.MSG_CMSG_CLOEXEC)
fds = array.array("i", anc[0][2]).tolist()
if sys.argv[1:] == ["twin"]:
    for fd in fds:
        os.close(fd)
