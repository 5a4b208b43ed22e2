"""Bug: a descriptor sent with 0 payload bytes on a stream socket (the
kernel drops it). Twin: one payload byte."""
import os
import socket
import sys

a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
f = os.open("/dev/null", os.O_RDONLY)
payload = [b"x"] if sys.argv[1:] == ["twin"] else []
print("sendmsg returned", socket.send_fds(a, payload, [f]))
