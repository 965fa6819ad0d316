#!/usr/bin/python3
"""udppeers.py - UDP peers and hand-made SOCKS5 UDP clients for tests/udp.bats.

  echo [PORT]            UDP echo on 127.0.0.1 (port 0: any); prints
                         "listening 127.0.0.1 PORT" on stderr
  send ADDR PORT MSG     sends MSG from a fresh socket; prints "from ADDR PORT"
                         and the answer's text on stdout (3 s to answer)
  pysocks PROXYPORT TARGETPORT MSG...
                         PySocks UDP ASSOCIATE through 127.0.0.1:PROXYPORT to
                         127.0.0.1:TARGETPORT: sends each MSG, prints each echo
  raw PROXYPORT ECHOPORT the bad-input drill: a hand-made association that
                         sends malformed headers, FRAG!=0, a stranger's
                         datagram, an oversize one, and checks that a good
                         datagram still comes back; prints "ok"
  zeroproxy              a SOCKS5 server whose UDP ASSOCIATE reply names
                         0.0.0.0 as the relay (some servers do that); its
                         relay, bound on every address, echoes each datagram
                         back as if from its target
  flood PROXYPORT ECHOPORT SECS [STOPFILE]
                         floods an association with datagrams for SECS seconds
                         (or until STOPFILE exists) as fast as it can; prints
                         "flooding" on stderr once the first echoes are back,
                         and at the end "sent N received M" on stdout
  clients PROXYPORT ECHOPORT N
                         N concurrent local senders through one -L forward
                         at 127.0.0.1:PROXYPORT; each must get back only its own
                         answers; prints "ok"
"""
import os
import socket
import struct
import sys
import threading
import time


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def echo(port=0):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", port))
    log("listening 127.0.0.1 %d" % s.getsockname()[1])
    while True:
        data, addr = s.recvfrom(65535)
        s.sendto(data, addr)


def send(addr, port, msg):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(3)
    s.sendto(msg.encode(), (addr, port))
    data, frm = s.recvfrom(65535)
    print("from %s %d" % frm)
    print(data.decode(errors="replace"))


def pysocks(pport, tport, msgs):
    import socks
    s = socks.socksocket(socket.AF_INET, socket.SOCK_DGRAM)
    s.set_proxy(socks.SOCKS5, "127.0.0.1", pport)
    s.settimeout(5)
    for m in msgs:
        s.sendto(m.encode(), ("127.0.0.1", tport))
        data, frm = s.recvfrom(65535)
        print(data.decode())
    s.close()


def recv_exact(c, n):
    b = b""
    while len(b) < n:
        k = c.recv(n - len(b))
        if not k:
            raise SystemExit("proxy closed")
        b += k
    return b


def associate(pport, dst=("0.0.0.0", 0)):
    """A UDP ASSOCIATE by hand; returns (control socket, relay (addr, port))."""
    c = socket.create_connection(("127.0.0.1", pport), timeout=5)
    c.sendall(b"\x05\x01\x00")
    assert recv_exact(c, 2) == b"\x05\x00"
    c.sendall(b"\x05\x03\x00\x01" + socket.inet_aton(dst[0]) + struct.pack(">H", dst[1]))
    r = recv_exact(c, 10)
    assert r[1] == 0, "reply %d" % r[1]
    addr = socket.inet_ntoa(r[4:8])
    port = struct.unpack(">H", r[8:10])[0]
    return c, (addr, port)


def hdr(port, addr="127.0.0.1", frag=0):
    return b"\x00\x00" + bytes([frag]) + b"\x01" + socket.inet_aton(addr) + struct.pack(">H", port)


def raw(pport, eport):
    c, relay = associate(pport)
    assert relay[0] == "127.0.0.1", relay
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", 0))
    # a target this script plays, to see what the relay sends and to answer
    t = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    t.bind(("127.0.0.1", 0))
    t.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    tport = t.getsockname()[1]

    def nothing(sock, what):
        sock.settimeout(0.3)
        try:
            d = sock.recv(70000)
        except socket.timeout:
            return
        raise SystemExit("%s: got %r" % (what, d[:40]))

    # the first good datagram fixes the client's port
    u.sendto(hdr(tport) + b"first", relay)
    t.settimeout(3)
    d, out = t.recvfrom(70000)
    assert d == b"first", d
    t.sendto(b"back", out)
    u.settimeout(3)
    d = u.recv(70000)
    assert d == hdr(tport) + b"back", d
    bad = [
        (b"", "empty"),
        (b"\x00", "one byte"),
        (b"\x00\x00\x00", "no address"),
        (b"\x00\x00\x00\x01\x7f\x00", "short address"),
        (b"\x00\x00\x00\x09" + b"x" * 8, "unknown ATYP"),
        (b"\x00\x00\x00\x03\x00\x00\x35", "empty name"),
        (b"\x01\x00" + hdr(tport)[2:] + b"rsv", "RSV not zero"),
        (hdr(0) + b"port zero", "port 0"),
        (hdr(tport, frag=1) + b"frag 1", "FRAG 1"),
        (hdr(tport, frag=0x81) + b"frag 129", "FRAG 129"),
    ]
    for d, what in bad:
        u.sendto(d, relay)
    nothing(t, "the target, after malformed datagrams")
    # a stranger: another port on the client's host
    st = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    st.bind(("127.0.0.1", 0))
    st.sendto(hdr(tport) + b"stranger", relay)
    nothing(t, "the target, after a stranger's datagram")
    # oversize: the largest UDP payload cannot go back with a header on it
    t.sendto(b"x" * 65507, out)
    nothing(u, "the client, after an oversize datagram")
    # a sender the client never sent to
    x = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    x.bind(("127.0.0.1", 0))
    x.sendto(b"unsolicited", out)
    nothing(u, "the client, after an unsolicited datagram")
    # the association is unharmed
    u.settimeout(3)
    for i in range(3):
        u.sendto(hdr(eport) + b"still %d" % i, relay)
        d = u.recv(70000)
        assert d == hdr(eport) + b"still %d" % i, d
    big = b"B" * 60000
    u.sendto(hdr(eport) + big, relay)
    d = u.recv(70000)
    assert d == hdr(eport) + big, len(d)
    c.close()
    print("ok")


def zeroproxy():
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(16)
    log("listening 127.0.0.1 %d" % ls.getsockname()[1])

    def serve(c):
        try:
            g = recv_exact(c, 2)
            recv_exact(c, g[1])
            c.sendall(b"\x05\x00")
            req = recv_exact(c, 4)
            if req[3] == 1:
                recv_exact(c, 6)
            elif req[3] == 4:
                recv_exact(c, 18)
            else:
                recv_exact(c, recv_exact(c, 1)[0] + 2)
            if req[1] != 3:
                c.sendall(b"\x05\x07\x00\x01" + bytes(6))
                return
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            u.bind(("0.0.0.0", 0))
            c.sendall(b"\x05\x00\x00\x01" + bytes(4) + struct.pack(">H", u.getsockname()[1]))
            c.setblocking(False)
            u.settimeout(0.1)
            while True:
                try:
                    if c.recv(1) == b"":
                        return
                except BlockingIOError:
                    pass
                try:
                    d, a = u.recvfrom(70000)
                    u.sendto(d, a)
                except socket.timeout:
                    pass
        except (OSError, SystemExit):
            pass
        finally:
            c.close()

    while True:
        c, _ = ls.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()


def flood(pport, eport, secs, stopfile=None):
    c, relay = associate(pport)
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", 0))
    u.setblocking(False)
    d = hdr(eport) + b"f" * 512
    n = got = 0
    announced = False
    end = time.monotonic() + secs
    while time.monotonic() < end:
        if stopfile and n % 4096 < 256 and os.path.exists(stopfile):
            break
        for _ in range(256):
            try:
                u.sendto(d, relay)
                n += 1
            except BlockingIOError:
                break
        try:
            while True:
                u.recv(70000)
                got += 1
        except BlockingIOError:
            pass
        if got and not announced:
            log("flooding")
            announced = True
    c.close()
    print("sent %d received %d" % (n, got))


def clients(lport, n):
    socks_ = []
    for i in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        s.settimeout(5)
        socks_.append(s)
    errors = []

    def run(i, s):
        try:
            for k in range(5):
                m = b"client %d message %d" % (i, k)
                s.sendto(m, ("127.0.0.1", lport))
                d = s.recv(65535)
                if d != m:
                    errors.append("client %d got %r, sent %r" % (i, d, m))
        except Exception as e:  # noqa
            errors.append("client %d: %s" % (i, e))

    ts = [threading.Thread(target=run, args=(i, s)) for i, s in enumerate(socks_)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise SystemExit("\n".join(errors))
    print("ok")


def main():
    a = sys.argv[1:]
    if not a:
        raise SystemExit(__doc__)
    k = a[0]
    if k == "echo":
        echo(int(a[1]) if len(a) > 1 else 0)
    elif k == "send":
        send(a[1], int(a[2]), a[3])
    elif k == "pysocks":
        pysocks(int(a[1]), int(a[2]), a[3:])
    elif k == "raw":
        raw(int(a[1]), int(a[2]))
    elif k == "zeroproxy":
        zeroproxy()
    elif k == "flood":
        flood(int(a[1]), int(a[2]), float(a[3]), a[4] if len(a) > 4 else None)
    elif k == "clients":
        clients(int(a[1]), int(a[2]))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        os._exit(0)
