#!/usr/bin/env python3
"""An echo program for inflight-audit, in Python with the standard library only.

Speaks the echo protocol of audit/PROTOCOL.md: the auditor hands over a
connected Unix socket as descriptor INFLIGHT_ECHO_FD (3); every message that
arrives is sent back in one sendmsg with the same bytes and the same
descriptors, in order, and the received copies are closed.
"""
import os
import socket
import sys

MAX_FDS = 253
BUFSIZE = 65536


def main():
    fd = int(os.environ.get("INFLIGHT_ECHO_FD", "3"))
    kind = os.environ.get("INFLIGHT_ECHO_TYPE", "?")
    sock = socket.socket(fileno=fd)  # family and type are read from the descriptor
    while True:
        try:
            data, fds, flags, _addr = socket.recv_fds(sock, BUFSIZE, MAX_FDS)
        except InterruptedError:
            continue
        if flags & socket.MSG_CTRUNC:
            print(f"echo.py ({kind}): MSG_CTRUNC: descriptors were lost", file=sys.stderr)
            return 3
        if flags & socket.MSG_TRUNC:
            print(f"echo.py ({kind}): MSG_TRUNC: payload longer than {BUFSIZE}", file=sys.stderr)
            return 3
        if not data and not fds:
            return 0
        try:
            sent = socket.send_fds(sock, [data], fds)
            # A stream socket may take a large payload in several writes; the
            # descriptors travelled with the first.
            if sent < len(data):
                sock.sendall(data[sent:])
        finally:
            for f in fds:
                os.close(f)


if __name__ == "__main__":
    sys.exit(main())
