#!/usr/bin/python3
"""udpburst.py - bursts through a SOCKS5 UDP relay, for tests/perf-udp.bats.

  udpburst.py PROXYPORT SERVERPID N TARGETS

Makes TARGETS UDP targets on 127.0.0.1 and one UDP ASSOCIATE (no
authentication) at 127.0.0.1:PROXYPORT; one datagram to each target and
its answer first (so each is a known peer). Then, with the server stopped
(SIGSTOP to SERVERPID, a stp-serve the test started), N datagrams round
robin over the targets, so that the relay finds them all waiting when it
runs on (SIGCONT); the targets collect them all, and answer them all
while the server is stopped again. The client must get back exactly what
it sent. Prints "ok sent=N echoed=N" on stdout; exits 1 with the reason
on stderr. Every wait is bounded (10 s).
"""
import os
import signal
import socket
import struct
import sys
import time


def fail(msg):
    print("udpburst: " + msg, file=sys.stderr, flush=True)
    sys.exit(1)


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        k = s.recv(n - len(b))
        if not k:
            fail("control connection closed")
        b += k
    return b


def associate(port):
    c = socket.create_connection(("127.0.0.1", port), timeout=10)
    c.sendall(b"\x05\x01\x00")
    if recv_exact(c, 2) != b"\x05\x00":
        fail("no no-auth method")
    c.sendall(b"\x05\x03\x00\x01\x00\x00\x00\x00\x00\x00")
    r = recv_exact(c, 10)
    if r[1] != 0 or r[3] != 1:
        fail("UDP ASSOCIATE refused: %r" % r)
    host = socket.inet_ntoa(r[4:8])
    return c, ("127.0.0.1" if host == "0.0.0.0" else host, struct.unpack("!H", r[8:10])[0])


def header(addr):
    return b"\x00\x00\x00\x01" + socket.inet_aton(addr[0]) + struct.pack("!H", addr[1])


def collect(s, want, what):
    """want datagrams from s, within 10 s: [(data, from)]."""
    got, end = [], time.monotonic() + 10
    while len(got) < want:
        left = end - time.monotonic()
        if left <= 0:
            fail("%s: %d of %d datagrams within 10 s" % (what, len(got), want))
        s.settimeout(left)
        try:
            got.append(s.recvfrom(65535))
        except socket.timeout:
            continue
    return got


def main():
    if len(sys.argv) != 5:
        fail("usage: udpburst.py PROXYPORT SERVERPID N TARGETS")
    pport, spid, n, k = (int(a) for a in sys.argv[1:])
    targets = []
    for _ in range(k):
        t = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        t.bind(("127.0.0.1", 0))
        targets.append(t)
    ctl, relay = associate(pport)
    cl = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    cl.bind(("127.0.0.1", 0))
    hdrs = [header(t.getsockname()) for t in targets]
    # each target a known peer: one datagram there and its answer back
    for i, t in enumerate(targets):
        cl.sendto(hdrs[i] + b"hello", relay)
        (data, frm), = collect(t, 1, "warm-up at target %d" % i)
        t.sendto(data, frm)
        (back, _), = collect(cl, 1, "warm-up answer %d" % i)
        if back != hdrs[i] + b"hello":
            fail("warm-up answer %d: %r" % (i, back))
    sent = [b"burst %05d" % j for j in range(n)]
    stopped = False
    try:
        os.kill(spid, signal.SIGSTOP)
        stopped = True
        for j, d in enumerate(sent):
            cl.sendto(hdrs[j % k] + d, relay)
        os.kill(spid, signal.SIGCONT)
        stopped = False
        held = [collect(t, len(range(i, n, k)), "burst at target %d" % i)
                for i, t in enumerate(targets)]
        for i, got in enumerate(held):
            if [d for d, _ in got] != sent[i::k]:
                fail("target %d got the burst out of order or changed" % i)
        os.kill(spid, signal.SIGSTOP)
        stopped = True
        for t, got in zip(targets, held):
            for d, frm in got:
                t.sendto(d, frm)
        os.kill(spid, signal.SIGCONT)
        stopped = False
    finally:
        if stopped:
            os.kill(spid, signal.SIGCONT)
    back = collect(cl, n, "answers")
    want = sorted(hdrs[j % k] + d for j, d in enumerate(sent))
    if sorted(d for d, _ in back) != want:
        fail("the answers are not what was sent")
    ctl.close()
    print("ok sent=%d echoed=%d" % (n, len(back)), flush=True)


if __name__ == "__main__":
    main()
