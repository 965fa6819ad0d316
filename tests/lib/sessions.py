#!/usr/bin/python3
"""sessions.py PORT MODE ... - SOCKS5 sessions against stp-serve at
127.0.0.1:PORT for the limits and login tests. Every socket operation times
out after 10 s (40 s under sanitizers).

  sessions.py PORT login SRC USER PASSWORD
      greeting + RFC 1929 from source address SRC; prints "ok", "denied"
      (status != 0) or "closed", and the time it took: "denied 0.003"
  sessions.py PORT hold SRC N
      opens N no-auth sessions from SRC and keeps them; for each prints
      "open" (the greeting was answered) or "closed" (closed at once), then
      "done", and waits for stdin to close
"""
import os
import socket
import sys
import time

T = 10.0 * (4 if os.environ.get("STP_SANITIZE") else 1)


def connect(port, src):
    s = socket.socket()
    s.settimeout(T)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    return s


def recv_n(s, n):
    got = b""
    while len(got) < n:
        c = s.recv(n - len(got))
        if not c:
            break
        got += c
    return got


def login(port, src, user, pw):
    t0 = time.time()
    s = connect(port, src)
    s.sendall(b"\x05\x01\x02")
    if recv_n(s, 2) != b"\x05\x02":
        print("closed %.3f" % (time.time() - t0))
        return
    u, p = user.encode(), pw.encode()
    s.sendall(b"\x01" + bytes([len(u)]) + u + bytes([len(p)]) + p)
    r = recv_n(s, 2)
    dt = time.time() - t0
    if len(r) < 2:
        print("closed %.3f" % dt)
    else:
        print("%s %.3f" % ("ok" if r[1] == 0 else "denied", dt))
    s.close()


def hold(port, src, n):
    socks = []
    for _ in range(n):
        s = connect(port, src)
        try:
            s.sendall(b"\x05\x01\x00")
            r = recv_n(s, 2)
        except OSError:
            r = b""
        print("open" if r == b"\x05\x00" else "closed", flush=True)
        socks.append(s)
    print("done", flush=True)
    sys.stdin.read()


def main():
    port, mode = int(sys.argv[1]), sys.argv[2]
    if mode == "login":
        login(port, sys.argv[3], sys.argv[4], sys.argv[5])
    elif mode == "hold":
        hold(port, sys.argv[3], int(sys.argv[4]))


if __name__ == "__main__":
    main()
