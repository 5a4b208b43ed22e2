"""CPython socket.recv_fds, then os.system while the received descriptors
are open (closed afterwards): recv_fds does not ask for MSG_CMSG_CLOEXEC, so
they go into the shell."""
import os
import socket

a, b = socket.socketpair()
r, w = os.pipe()
socket.send_fds(a, [b"fds"], [r, w])
os.close(r)
os.close(w)
msg, fds, flags, addr = socket.recv_fds(b, 16, 2)
os.system("true")
for fd in fds:
    os.close(fd)
