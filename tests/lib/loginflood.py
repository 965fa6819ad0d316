#!/usr/bin/python3
"""loginflood.py PORT MODE ... - many simultaneous RFC 1929 logins against
stp-serve at 127.0.0.1:PORT, for tests/sec-login.bats. All connections are
opened and greeted first, then every password is sent at once, so that the
server has them all before it has checked the first. Every socket operation
times out after 20 s (80 s under sanitizers).

  loginflood.py PORT race SRC USER WRONG RIGHT N
      N logins with password WRONG, then one with RIGHT, from source address
      SRC; prints "right ok|denied|closed" and "wrong ok=A denied=B closed=C"
  loginflood.py PORT flood SRC USER PASS N READYFILE
      N logins with PASS from SRC; creates READYFILE once all passwords are
      sent, then reads the answers; prints "ok=A denied=B closed=C"
  loginflood.py PORT abandon SRCBASE NADDR PER USER PASS
      PER logins with PASS from each of NADDR addresses SRCBASE+1,
      SRCBASE+2, ... (127.0.0.10 -> 127.0.0.11, ...); prints "sent N", then
      never reads: waits for stdin to close
"""
import ipaddress
import os
import socket
import sys

T = 20.0 * (4 if os.environ.get("STP_SANITIZE") else 1)


def recv_n(s, n):
    got = b""
    while len(got) < n:
        try:
            c = s.recv(n - len(got))
        except OSError:
            break
        if not c:
            break
        got += c
    return got


def greeted(port, src, n):
    """n connections from src, each past the method selection (USERPASS)."""
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.settimeout(T)
        s.bind((src, 0))
        s.connect(("127.0.0.1", port))
        s.sendall(b"\x05\x01\x02")
        socks.append(s)
    for s in socks:
        if recv_n(s, 2) != b"\x05\x02":
            print("greeting refused")
            sys.exit(1)
    return socks


def auth_msg(user, pw):
    u, p = user.encode(), pw.encode()
    return b"\x01" + bytes([len(u)]) + u + bytes([len(p)]) + p


def answer(s):
    r = recv_n(s, 2)
    s.close()
    if len(r) < 2:
        return "closed"
    return "ok" if r[1] == 0 else "denied"


def count(results):
    return " ".join("%s=%d" % (k, results.count(k)) for k in ("ok", "denied", "closed"))


def race(port, src, user, wrong, right, n):
    socks = greeted(port, src, n + 1)
    for s in socks[:-1]:
        s.sendall(auth_msg(user, wrong))
    socks[-1].sendall(auth_msg(user, right))
    got = [answer(s) for s in socks]
    print("right %s" % got[-1])
    print("wrong %s" % count(got[:-1]))


def flood(port, src, user, pw, n, ready):
    socks = greeted(port, src, n)
    msg = auth_msg(user, pw)
    for s in socks:
        s.sendall(msg)
    with open(ready, "w"):
        pass
    print(count([answer(s) for s in socks]))


def abandon(port, base, naddr, per, user, pw):
    socks = []
    msg = auth_msg(user, pw)
    for i in range(1, naddr + 1):
        src = str(ipaddress.IPv4Address(base) + i)
        socks += greeted(port, src, per)
    for s in socks:
        s.sendall(msg)
    print("sent %d" % len(socks), flush=True)
    sys.stdin.read()


def main():
    port, mode, a = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
    if mode == "race":
        race(port, a[0], a[1], a[2], a[3], int(a[4]))
    elif mode == "flood":
        flood(port, a[0], a[1], a[2], int(a[3]), a[4])
    elif mode == "abandon":
        abandon(port, a[0], int(a[1]), int(a[2]), a[3], a[4])


if __name__ == "__main__":
    main()
