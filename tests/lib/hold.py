#!/usr/bin/python3
"""hold.py PORT ECHOPORT N GOFILE - opens N SOCKS5 sessions through the proxy
at PORT to the echo server, one round trip each, and prints
"established E refused R" (flushed). Then waits until GOFILE exists, does a
second round trip on every established session and prints "alive A".
Bounded: every socket operation times out after 10 s, the wait after 60 s."""
import os
import socket
import struct
import sys
import time

port, echo, n, gofile = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
T = 10.0 * (4 if os.environ.get("STP_SANITIZE") else 1)


def session():
    s = socket.create_connection(("127.0.0.1", port), timeout=T)
    s.sendall(b"\x05\x01\x00")
    if s.recv(2) != b"\x05\x00":
        raise OSError("greeting refused")
    s.sendall(b"\x05\x01\x00\x01" + socket.inet_aton("127.0.0.1") + struct.pack("!H", echo))
    rep = b""
    while len(rep) < 10:
        c = s.recv(10 - len(rep))
        if not c:
            raise OSError("closed")
        rep += c
    if rep[1] != 0:
        raise OSError("reply %d" % rep[1])
    return s


def roundtrip(s, msg):
    s.sendall(msg)
    got = b""
    while len(got) < len(msg):
        c = s.recv(len(msg) - len(got))
        if not c:
            return False
        got += c
    return got == msg


held, refused = [], 0
for i in range(n):
    try:
        s = session()
        if roundtrip(s, b"one %d\n" % i):
            held.append(s)
        else:
            refused += 1
    except OSError:
        refused += 1
print("established %d refused %d" % (len(held), refused), flush=True)
deadline = time.time() + 60
while not os.path.exists(gofile) and time.time() < deadline:
    time.sleep(0.05)
alive = sum(1 for i, s in enumerate(held) if roundtrip(s, b"two %d\n" % i))
print("alive %d" % alive, flush=True)
