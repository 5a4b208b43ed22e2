#!/usr/bin/env python3
"""Writes the hand-made seeds of decode_cmsg and decode_differential.

Run from fuzz/: python3 seeds/make_decode_seeds.py. The structure-aware
targets' seeds are not made here: they are a minimised corpus from a
fuzzing run (see fuzz/README.md).
"""
import os
import struct

SOL_SOCKET, SCM_RIGHTS, SCM_CREDENTIALS, SCM_PIDFD = 1, 1, 2, 4


def align(n):
    return (n + 7) & ~7


def cmsg(level, kind, data, length=None, pad=True):
    ln = 16 + len(data) if length is None else length
    b = struct.pack("<QII", ln, level, kind) + data
    if pad:
        b += b"\0" * (align(len(b)) - len(b))
    return b


def fds(*nums):
    return b"".join(struct.pack("<i", n) for n in nums)


CREDS = struct.pack("<iII", 4242, 1000, 1000)

BUFFERS = {
    "empty": b"",
    "short_header": b"\x10\0\0\0\0\0\0",
    "one_fd": cmsg(SOL_SOCKET, SCM_RIGHTS, fds(3)),
    "three_fds": cmsg(SOL_SOCKET, SCM_RIGHTS, fds(3, 4, 5)),
    "empty_rights": cmsg(SOL_SOCKET, SCM_RIGHTS, b""),
    "creds": cmsg(SOL_SOCKET, SCM_CREDENTIALS, CREDS),
    "creds_rights_pidfd": cmsg(SOL_SOCKET, SCM_CREDENTIALS, CREDS)
    + cmsg(SOL_SOCKET, SCM_PIDFD, fds(9))
    + cmsg(SOL_SOCKET, SCM_RIGHTS, fds(3, 4)),
    "two_rights": cmsg(SOL_SOCKET, SCM_RIGHTS, fds(3)) + cmsg(SOL_SOCKET, SCM_RIGHTS, fds(4, 5)),
    "foreign_level": cmsg(41, 50, b"\x01\x02\x03") + cmsg(SOL_SOCKET, SCM_RIGHTS, fds(0)),
    "odd_rights": cmsg(SOL_SOCKET, SCM_RIGHTS, fds(3) + b"\xaa\xbb"),
    "len_below_header": cmsg(SOL_SOCKET, SCM_RIGHTS, fds(3)) + cmsg(SOL_SOCKET, SCM_RIGHTS, b"", length=8),
    "len_zero": cmsg(SOL_SOCKET, SCM_RIGHTS, b"", length=0),
    "len_past_end": cmsg(SOL_SOCKET, SCM_RIGHTS, fds(3, 4), length=200),
    "len_huge": cmsg(SOL_SOCKET, SCM_RIGHTS, fds(3), length=0xFFFFFFFFFFFFFFFF),
    "len_huge_second": cmsg(SOL_SOCKET, SCM_RIGHTS, fds(3)) + cmsg(1, 1, fds(4), length=0xFFFFFFFFFFFFFFF9),
    "unpadded_last": cmsg(SOL_SOCKET, SCM_RIGHTS, fds(3)) + cmsg(SOL_SOCKET, SCM_RIGHTS, fds(4), pad=False),
    "trailing_junk": cmsg(SOL_SOCKET, SCM_RIGHTS, fds(3)) + b"\x18\0\0\0\0\0",
    "creds_short": cmsg(SOL_SOCKET, SCM_CREDENTIALS, CREDS[:8]),
}

os.makedirs("seeds/decode_cmsg", exist_ok=True)
os.makedirs("seeds/decode_differential", exist_ok=True)
for name, buf in BUFFERS.items():
    with open(f"seeds/decode_differential/{name}", "wb") as f:
        f.write(buf)
    # decode_cmsg: 3 prefix bytes pick the claimed msg_controllen.
    with open(f"seeds/decode_cmsg/{name}", "wb") as f:
        f.write(b"\0\0\0" + buf)
for name, prefix in {
    "claim_small": b"\x01\x18\x00",
    "claim_less": b"\x02\x08\x00",
    "claim_huge": b"\x03\x00\x00",
}.items():
    with open(f"seeds/decode_cmsg/{name}", "wb") as f:
        f.write(prefix + BUFFERS["creds_rights_pidfd"])
