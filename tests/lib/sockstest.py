#!/usr/bin/python3
"""Hand-made SOCKS clients for the bats suites: byte-exact requests, odd
timing, and PySocks. Every scenario prints one result line on stdout and
exits 0 when it could run; protocol surprises are printed, not raised, so
the test asserts them. Exit 3 when the proxy cannot be reached at all.

  sockstest.py reply PORT CMD ATYP HOST TPORT [USER PASS]
        SOCKS5 greeting (+ RFC 1929), then a request with the given CMD and
        ATYP (numbers; HOST is an address for ATYP 1/4, a name for 3, hex
        bytes for any other ATYP); prints "reply REP" (or "closed" when the
        server closes before replying).
  sockstest.py garbage PORT NBYTES
        sends NBYTES random bytes; prints "closed" once the server has
        closed (within 5 s), or "open" if it did not.
  sockstest.py short-greeting PORT
        sends half a greeting and closes; prints "sent".
  sockstest.py slow PORT HOST TPORT DELAY_MS
        sends greeting and CONNECT request one byte at a time, DELAY_MS
        between bytes, then "ping" through the tunnel; prints
        "reply REP echo DATA".
  sockstest.py stall PORT
        sends one byte of greeting and waits; prints "eof after SECS" when
        the server closes, "open after 10" if it never does.
  sockstest.py long-auth PORT ULEN PLEN HOST TPORT
        user "u"*ULEN with password "p"*PLEN (the users file must match);
        prints "auth STATUS reply REP echo DATA".
  sockstest.py session PORT TPORT GOFILE
        SOCKS5 CONNECT to 127.0.0.1:TPORT (an echo server), one round trip,
        prints "established" (flushed); waits until GOFILE exists, sends
        another round trip, prints "echo two" (or what happened), closes.
  sockstest.py pysocks PORT HOST TPORT [USER PASS]
        PySocks SOCKS5 with rdns=True; sends 64 KiB, prints "ok N" when the
        same bytes came back.
"""
import os
import socket
import struct
import sys
import time

TIMEOUT = 10.0 * (4 if os.environ.get("STP_SANITIZE") else 1)


def conn(port):
    try:
        s = socket.create_connection(("127.0.0.1", int(port)), timeout=TIMEOUT)
    except OSError as e:
        print("cannot connect: %s" % e)
        sys.exit(3)
    s.settimeout(TIMEOUT)
    return s


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        try:
            c = s.recv(n - len(b))
        except ConnectionResetError:
            c = b""
        if not c:
            return b
        b += c
    return b


def addr(atyp, host):
    if atyp == 1:
        return bytes([1]) + socket.inet_pton(socket.AF_INET, host)
    if atyp == 4:
        return bytes([4]) + socket.inet_pton(socket.AF_INET6, host)
    if atyp == 3:
        h = host.encode()
        return bytes([3, len(h)]) + h
    return bytes([atyp]) + bytes.fromhex(host)


def greet(s, user=None, pw=None):
    """Returns None on success, else a result string."""
    if user is None:
        s.sendall(b"\x05\x01\x00")
    else:
        s.sendall(b"\x05\x02\x00\x02")
    r = recv_exact(s, 2)
    if len(r) < 2:
        return "closed"
    if r[0] != 5:
        return "bad version %d" % r[0]
    if r[1] == 0:
        return None
    if r[1] == 2 and user is not None:
        u, p = user.encode(), pw.encode()
        s.sendall(bytes([1, len(u)]) + u + bytes([len(p)]) + p)
        a = recv_exact(s, 2)
        if len(a) < 2:
            return "auth closed"
        if a[1] != 0:
            return "auth %d" % a[1]
        return None
    return "method %d" % r[1]


def read_reply(s):
    """Reads a whole SOCKS5 reply; returns REP or None when closed first."""
    h = recv_exact(s, 4)
    if len(h) < 2:
        return None
    if len(h) < 4:
        return h[1]
    atyp = h[3]
    if atyp == 1:
        recv_exact(s, 4 + 2)
    elif atyp == 4:
        recv_exact(s, 16 + 2)
    elif atyp == 3:
        n = recv_exact(s, 1)
        if n:
            recv_exact(s, n[0] + 2)
    return h[1]


def request(cmd, atyp, host, port):
    return bytes([5, cmd, 0]) + addr(atyp, host) + struct.pack(">H", port)


def wait_close(s, limit):
    s.settimeout(limit)
    t0 = time.monotonic()
    try:
        while True:
            b = s.recv(65536)
            if not b:
                return time.monotonic() - t0
    except ConnectionResetError:
        return time.monotonic() - t0
    except socket.timeout:
        return None


def main():
    a = sys.argv[1:]
    what, port = a[0], a[1]
    if what == "reply":
        cmd, atyp, host, tport = int(a[2], 0), int(a[3], 0), a[4], int(a[5])
        user, pw = (a[6], a[7]) if len(a) >= 8 else (None, None)
        s = conn(port)
        g = greet(s, user, pw)
        if g:
            print(g)
            return
        s.sendall(request(cmd, atyp, host, tport))
        rep = read_reply(s)
        print("closed" if rep is None else "reply %d" % rep)
    elif what == "garbage":
        s = conn(port)
        try:
            s.sendall(os.urandom(int(a[2])))
        except OSError:
            pass  # the server may close while we still send
        t = wait_close(s, 5 * (4 if os.environ.get("STP_SANITIZE") else 1))
        print("open" if t is None else "closed")
    elif what == "short-greeting":
        s = conn(port)
        s.sendall(b"\x05\x03\x00")
        s.close()
        print("sent")
    elif what == "slow":
        host, tport, delay = a[2], int(a[3]), int(a[4]) / 1000.0
        s = conn(port)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # a slow client on purpose: one byte per DELAY ms (the case under test)
        for b in b"\x05\x01\x00":
            s.send(bytes([b]))
            time.sleep(delay)
        r = recv_exact(s, 2)
        if r != b"\x05\x00":
            print("greeting answer %r" % r)
            return
        atyp = 1 if host[0].isdigit() else 3
        for b in request(1, atyp, host, tport):
            s.send(bytes([b]))
            time.sleep(delay)
        rep = read_reply(s)
        if rep != 0:
            print("closed" if rep is None else "reply %d" % rep)
            return
        s.sendall(b"ping")
        s.shutdown(socket.SHUT_WR)
        data = b""
        while True:
            c = s.recv(100)
            if not c:
                break
            data += c
        print("reply 0 echo %s" % data.decode(errors="replace"))
    elif what == "stall":
        s = conn(port)
        s.sendall(b"\x05")
        t = wait_close(s, 10)
        print("open after 10" if t is None else "eof after %.1f" % t)
    elif what == "long-auth":
        ulen, plen, host, tport = int(a[2]), int(a[3]), a[4], int(a[5])
        s = conn(port)
        s.sendall(b"\x05\x01\x02")
        r = recv_exact(s, 2)
        if r != b"\x05\x02":
            print("method answer %r" % r)
            return
        s.sendall(bytes([1, ulen]) + b"u" * ulen + bytes([plen]) + b"p" * plen)
        st = recv_exact(s, 2)
        if len(st) < 2 or st[1] != 0:
            print("auth %r" % st)
            return
        s.sendall(request(1, 1, host, tport))
        rep = read_reply(s)
        if rep != 0:
            print("auth 0 " + ("closed" if rep is None else "reply %d" % rep))
            return
        s.sendall(b"pong")
        s.shutdown(socket.SHUT_WR)
        data = recv_exact(s, 4)
        print("auth 0 reply 0 echo %s" % data.decode(errors="replace"))
    elif what == "session":
        tport, gofile = int(a[2]), a[3]
        s = conn(port)
        g = greet(s)
        if g:
            print(g)
            return
        s.sendall(request(1, 1, "127.0.0.1", tport))
        rep = read_reply(s)
        if rep != 0:
            print("closed" if rep is None else "reply %d" % rep)
            return
        s.sendall(b"one")
        if recv_exact(s, 3) != b"one":
            print("no echo one")
            return
        print("established", flush=True)
        t0 = time.monotonic()
        while not os.path.exists(gofile):
            if time.monotonic() - t0 > 60:
                print("no go file")
                return
            time.sleep(0.02)
        try:
            s.sendall(b"two")
            back = recv_exact(s, 3)
        except OSError as e:
            back = str(e).encode()
        print("echo %s" % back.decode(errors="replace") if back else "echo closed",
              flush=True)
        s.close()
    elif what == "pysocks":
        import socks
        host, tport = a[2], int(a[3])
        user, pw = (a[4], a[5]) if len(a) >= 6 else (None, None)
        s = socks.socksocket()
        s.settimeout(TIMEOUT)
        s.set_proxy(socks.SOCKS5, "127.0.0.1", int(port), rdns=True,
                    username=user, password=pw)
        try:
            s.connect((host, tport))
        except socks.ProxyError as e:
            print("proxy error: %s" % e)
            return
        data = os.urandom(65536)
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        back = b""
        while True:
            c = s.recv(65536)
            if not c:
                break
            back += c
        print("ok %d" % len(back) if back == data else
              "mismatch: sent %d got %d" % (len(data), len(back)))
    else:
        print("unknown scenario " + what)
        sys.exit(2)


if __name__ == "__main__":
    main()
