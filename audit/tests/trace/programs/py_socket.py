"""CPython socket.send_fds / socket.recv_fds over a socketpair, the way
its documentation shows; the received descriptors are closed."""
import os
import socket

a, b = socket.socketpair()
r, w = os.pipe()
socket.send_fds(a, [b"fds"], [r, w])
os.close(r)
os.close(w)
msg, fds, flags, addr = socket.recv_fds(b, 16, 2)
print("received", msg, fds, "inheritable:", [os.get_inheritable(fd) for fd in fds])
for fd in fds:
    os.close(fd)
