#!/usr/bin/python3
"""Hand-made BIND_MULTI / ATTACH clients for tests/bind.bats. Each scenario
prints result lines on stdout; socket operations time out after 10 s.

  bindtest.py tickets PORT [USER PASS [USER2 PASS2]]
      BIND_MULTI; a peer connects; then ATTACH with: a wrong ticket, the
      right ticket as USER2 (when given), the right ticket, the same ticket
      again. Prints "wrong REP", "foreign REP", "right REP DATA", "reuse REP".
  bindtest.py expiry PORT
      BIND_MULTI with EXPIRY 1; a peer connects; ATTACH after 2.5 s.
      Prints "expired REP".
  bindtest.py restrict PORT
      BIND_MULTI for peer 127.0.0.2 only; peers from 127.0.0.1 and
      127.0.0.2 connect; prints "notice 127.0.0.2" for each notice seen
      within 1 s, and "stranger closed" when 127.0.0.1 got an EOF.
  bindtest.py ctlclose PORT
      BIND_MULTI; two peers connect; the control channel closes before
      any ATTACH; prints "peers closed N" (how many got EOF within 5 s)
      and "listener gone" if connecting to the bound port is refused.
"""
import os
import socket
import struct
import sys
import time

T = 10.0 * (4 if os.environ.get("STP_SANITIZE") else 1)


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError("closed after %d bytes" % len(b))
        b += c
    return b


def hello(port, user=None, pw=None):
    s = socket.create_connection(("127.0.0.1", port), timeout=T)
    if user:
        s.sendall(b"\x05\x01\x02")
        assert recv_exact(s, 2) == b"\x05\x02"
        u, p = user.encode(), pw.encode()
        s.sendall(bytes([1, len(u)]) + u + bytes([len(p)]) + p)
        assert recv_exact(s, 2) == b"\x01\x00", "auth failed"
    else:
        s.sendall(b"\x05\x01\x00")
        assert recv_exact(s, 2) == b"\x05\x00"
    return s


def opts(*items):
    body = b"".join(struct.pack("!HH", k, len(v)) + v for k, v in items)
    return struct.pack("!H", len(body)) + body


def read_reply(s):
    """A reply with an options block; returns (rep, addr, port, {kind: value})."""
    h = recv_exact(s, 4)
    atyp = h[3]
    if atyp == 1:
        a = socket.inet_ntoa(recv_exact(s, 4))
    elif atyp == 4:
        a = socket.inet_ntop(socket.AF_INET6, recv_exact(s, 16))
    else:
        a = recv_exact(s, recv_exact(s, 1)[0]).decode()
    port = struct.unpack("!H", recv_exact(s, 2))[0]
    olen = struct.unpack("!H", recv_exact(s, 2))[0]
    body, o = recv_exact(s, olen), {}
    while body:
        k, n = struct.unpack("!HH", body[:4])
        o[k] = body[4:4 + n]
        body = body[4 + n:]
    return h[1], a, port, o


def bind_multi(port, dst=b"\x00\x00\x00\x00", extra=(), user=None, pw=None):
    s = hello(port, user, pw)
    s.sendall(b"\x05\xd1\x00\x01" + dst + b"\x00\x00" + opts(*extra))
    rep, a, p, _ = read_reply(s)
    assert rep == 0, "BIND_MULTI refused: %d" % rep
    return s, a, p


def attach(port, ticket, user=None, pw=None):
    s = hello(port, user, pw)
    s.sendall(b"\x05\xd2\x00\x01\x00\x00\x00\x00\x00\x00" + opts((1, ticket)))
    try:
        rep, _, _, _ = read_reply(s)
    except EOFError:
        return None, s
    return rep, s


def main():
    what, port = sys.argv[1], int(sys.argv[2])
    creds = sys.argv[3:]
    u1, p1 = (creds[0], creds[1]) if len(creds) >= 2 else (None, None)
    u2, p2 = (creds[2], creds[3]) if len(creds) >= 4 else (None, None)
    if what == "tickets":
        ctl, a, p = bind_multi(port, user=u1, pw=p1)
        peer = socket.create_connection((a, p), timeout=T)
        _, _, _, o = read_reply(ctl)
        ticket = o[1]
        rep, _ = attach(port, bytes(16), u1, p1)
        print("wrong", rep)
        if u2:
            rep, _ = attach(port, ticket, u2, p2)
            print("foreign", rep)
        rep, s = attach(port, ticket, u1, p1)
        peer.sendall(b"hello")
        print("right", rep, recv_exact(s, 5).decode())
        rep, _ = attach(port, ticket, u1, p1)
        print("reuse", rep)
    elif what == "expiry":
        ctl, a, p = bind_multi(port, extra=((7, struct.pack("!H", 1)),))
        peer = socket.create_connection((a, p), timeout=T)
        _, _, _, o = read_reply(ctl)
        # the behaviour under test: the ticket's 1 s lifetime has passed
        # (only time passing makes it so; 2.5 s leaves room for a slow start)
        time.sleep(2.5)
        rep, _ = attach(port, o[1])
        print("expired", rep)
    elif what == "restrict":
        ctl, a, p = bind_multi(port, dst=socket.inet_aton("127.0.0.2"))
        stranger = socket.create_connection((a, p), timeout=T, source_address=("127.0.0.1", 0))
        friend = socket.create_connection((a, p), timeout=T, source_address=("127.0.0.2", 0))
        ctl.settimeout(1.0)
        try:
            while True:
                _, peer, _, _ = read_reply(ctl)
                print("notice", peer)
        except (socket.timeout, EOFError):
            pass
        stranger.settimeout(3)
        try:
            if stranger.recv(1) == b"":
                print("stranger closed")
        except ConnectionResetError:
            print("stranger closed")
    elif what == "ctlclose":
        ctl, a, p = bind_multi(port)
        peers = [socket.create_connection((a, p), timeout=T) for _ in range(2)]
        for _ in peers:
            read_reply(ctl)
        ctl.close()
        closed = 0
        for s in peers:
            s.settimeout(5)
            try:
                if s.recv(1) == b"":
                    closed += 1
            except ConnectionResetError:
                closed += 1
        print("peers closed", closed)
        # the listener goes with the control channel: poll until a connect
        # is refused, for at most 5 s
        deadline = time.monotonic() + 5
        while True:
            try:
                socket.create_connection((a, p), timeout=2).close()
            except ConnectionRefusedError:
                print("listener gone")
                break
            if time.monotonic() > deadline:
                print("listener still there")
                break
            time.sleep(0.05)
    else:
        sys.exit("unknown scenario " + what)


main()
