"""CPython multiprocessing.reduction.sendfds / recvfds between a parent
and a child process; the received descriptors are closed."""
import os
import socket
from multiprocessing import reduction

a, b = socket.socketpair()
pid = os.fork()
if pid == 0:
    r, w = os.pipe()
    reduction.sendfds(a, [r, w])
    os._exit(0)
fds = reduction.recvfds(b, 2)
print("received", fds, "inheritable:", [os.get_inheritable(fd) for fd in fds])
for fd in fds:
    os.close(fd)
os.waitpid(pid, 0)
