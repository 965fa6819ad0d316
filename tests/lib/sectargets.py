#!/usr/bin/python3
"""sectargets.py - peers and hand-made SOCKS clients for tests/sec-targets.bats:
which targets a client may reach through stp-serve, from which source
address, and who may use a UDP association. Written from PROTOCOL.md and
RFC 1928/1929/SOCKS4 alone. A proxy is HOST:PORT; SRC is the address the
client binds before it connects (so a test picks a loopback or a
non-loopback client). TARGET is ATYP/HOST/PORT with ATYP 1 (IPv4), 3
(name) or 4 (IPv6), e.g. 4/::ffff:0.0.0.0/7. Each scenario prints one line.

  echo                    TCP and UDP echo on [::]:0 (dual-stack, every local
                          address), the same port for both; prints
                          "listening echo PORT" on stderr, and "udp DATA from
                          ADDR" for each datagram (before answering it)
  connect PROXY SRC TARGET [USER PASS]
                          SOCKS5 CONNECT; "reply REP", then " echo ping" if
                          the target answered
  socks4 PROXY SRC IPV4 PORT
                          SOCKS4 CONNECT; "reply CD" (90 granted, 91 refused),
                          then " echo ping" if the target answered
  mux PROXY SRC TARGET    one CONNECT stream of a MUX session (X'D6');
                          "reply REP" (REPLY or RST), then " echo ping"
  udp PROXY SRC USER PASS TARGET...
                          UDP ASSOCIATE (USER -: no authentication); a datagram "dN" to target N (in
                          order); waits for the answer to the last one and
                          prints "got" and the answers in arrival order (the
                          relay drops an answer from another address than
                          the one sent to, e.g. from 127.0.0.1 for 0.0.0.0:
                          the echo's log tells what arrived)
  delegate PROXY SRC OTHER TARGET USER PASS
                          UDP ASSOCIATE from SRC whose DST names OTHER:P, P
                          a socket bound on OTHER; that socket sends "other"
                          to TARGET, then a socket on SRC sends "own"; prints
                          "first other" or "first own", whichever answer came
                          first, and "other-too" when the other socket also
                          got an answer by then
"""
import os
import select
import socket
import struct
import sys
import threading
import time

TIMEOUT = 10.0 * (4 if os.environ.get("STP_SANITIZE") else 1)


def die(why):
    print("error %s" % why)
    sys.exit(1)


def fam(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def hostport(s):
    host, port = s.rsplit(":", 1)
    return host, int(port)


def target(s):
    atyp, host, port = s.split("/")
    return int(atyp), host, int(port)


def addr_bytes(atyp, host, port):
    if atyp == 1:
        a = socket.inet_pton(socket.AF_INET, host)
    elif atyp == 4:
        a = socket.inet_pton(socket.AF_INET6, host)
    else:
        a = bytes([len(host)]) + host.encode()
    return bytes([atyp]) + a + struct.pack(">H", port)


def recvn(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError
        b += c
    return b


def read_addr(s):
    atyp = recvn(s, 1)[0]
    if atyp == 1:
        a = socket.inet_ntop(socket.AF_INET, recvn(s, 4))
    elif atyp == 4:
        a = socket.inet_ntop(socket.AF_INET6, recvn(s, 16))
    else:
        a = recvn(s, recvn(s, 1)[0]).decode()
    return a, struct.unpack(">H", recvn(s, 2))[0]


def dial(proxy, src):
    host, port = hostport(proxy)
    s = socket.socket(fam(host), socket.SOCK_STREAM)
    s.settimeout(TIMEOUT)
    s.bind((src, 0))
    s.connect((host, port))
    return s


def greet(s, user=None, pw=None):
    s.sendall(b"\x05\x01" + (b"\x02" if user else b"\x00"))
    if recvn(s, 2) != (b"\x05\x02" if user else b"\x05\x00"):
        die("method refused")
    if user:
        u, p = user.encode(), pw.encode()
        s.sendall(b"\x01" + bytes([len(u)]) + u + bytes([len(p)]) + p)
        if recvn(s, 2) != b"\x01\x00":
            die("authentication failed")


def ping(s):
    s.sendall(b"ping")
    return " echo " + recvn(s, 4).decode()


# --- peers ---------------------------------------------------------------------

def echo():
    t = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    t.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    t.bind(("::", 0))
    t.listen(64)
    port = t.getsockname()[1]
    u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    u.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    u.bind(("::", port))

    def udp():
        while True:
            data, peer = u.recvfrom(65535)
            sys.stderr.write("udp %s from %s\n" % (data[:16].decode("ascii", "replace"),
                                                   peer[0]))
            sys.stderr.flush()
            u.sendto(data, peer)

    def serve(c):
        with c:
            while True:
                b = c.recv(65536)
                if not b:
                    return
                c.sendall(b)

    threading.Thread(target=udp, daemon=True).start()
    sys.stderr.write("listening echo %d\n" % port)
    sys.stderr.flush()
    while True:
        c, _ = t.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()


# --- TCP clients -------------------------------------------------------------

def connect(proxy, src, tgt, user=None, pw=None):
    s = dial(proxy, src)
    greet(s, user, pw)
    s.sendall(b"\x05\x01\x00" + addr_bytes(*target(tgt)))
    try:
        rep = recvn(s, 3)[1]
        read_addr(s)
    except EOFError:
        print("closed")
        return
    print("reply %d%s" % (rep, ping(s) if rep == 0 else ""))


def socks4(proxy, src, ip, port):
    s = dial(proxy, src)
    s.sendall(b"\x04\x01" + struct.pack(">H", int(port)) + socket.inet_aton(ip) + b"u\x00")
    try:
        r = recvn(s, 8)
    except EOFError:
        print("closed")
        return
    print("reply %d%s" % (r[1], ping(s) if r[1] == 90 else ""))


def frame(t, sid, p=b""):
    return struct.pack(">BBIH", t, 0, sid, len(p)) + p


def mux(proxy, src, tgt):
    s = dial(proxy, src)
    greet(s)
    s.sendall(b"\x05\xd6\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00")
    r = recvn(s, 12)
    if r[1] != 0:
        die("MUX refused: %d" % r[1])
    s.sendall(frame(1, 1, b"\x01" + addr_bytes(*target(tgt))))
    while True:
        t, _, sid, n = struct.unpack(">BBIH", recvn(s, 8))
        p = recvn(s, n)
        if sid != 1:
            continue
        if t == 6:  # RST
            print("reply %d" % p[0])
            return
        if t == 2:  # REPLY
            break
    if p[0] != 0:
        print("reply %d" % p[0])
        return
    s.sendall(frame(3, 1, b"ping"))
    data = b""
    while len(data) < 4:
        t, _, sid, n = struct.unpack(">BBIH", recvn(s, 8))
        p = recvn(s, n)
        if t == 3 and sid == 1:
            data += p
    print("reply 0 echo %s" % data.decode())


# --- UDP ---------------------------------------------------------------------

def associate(proxy, src, user, pw, dst_host, dst_port):
    """The control connection and the relay's address."""
    s = dial(proxy, src)
    greet(s, user, pw)
    atyp = 4 if ":" in dst_host else 1
    s.sendall(b"\x05\x03\x00" + addr_bytes(atyp, dst_host, dst_port))
    rep = recvn(s, 3)[1]
    relay = read_addr(s)
    if rep != 0:
        die("UDP ASSOCIATE refused: %d" % rep)
    return s, relay


def udp_socket(src):
    u = socket.socket(fam(src), socket.SOCK_DGRAM)
    u.bind((src, 0))
    return u


def dgram(tgt, data):
    return b"\x00\x00\x00" + addr_bytes(*target(tgt)) + data


def payload(d):
    """The data of a datagram from the relay (its header skipped)."""
    atyp = d[3]
    n = {1: 4, 4: 16}.get(atyp, d[4] + 1 if len(d) > 4 else 0)
    return d[4 + n + 2:]


def udp(proxy, src, user, pw, *targets):
    if user == "-":
        user = pw = None
    ctl, relay = associate(proxy, src, user, pw, "0.0.0.0", 0)
    u = udp_socket(src)
    for n, tgt in enumerate(targets):
        u.sendto(dgram(tgt, b"d%d" % n), relay)
    last = b"d%d" % (len(targets) - 1)
    got = []
    u.settimeout(TIMEOUT)
    while last not in got:
        try:
            got.append(payload(u.recv(65535)))
        except socket.timeout:
            got.append(b"timeout")
            break
    print("got " + " ".join(g.decode() for g in got))
    ctl.close()


def delegate(proxy, src, other, tgt, user, pw):
    o = udp_socket(other)
    ctl, relay = associate(proxy, src, user, pw, other, o.getsockname()[1])
    own = udp_socket(src)
    o.sendto(dgram(tgt, b"other"), relay)
    own.sendto(dgram(tgt, b"own"), relay)
    r, _, _ = select.select([o, own], [], [], TIMEOUT)
    if not r:
        print("first none")
        return
    first = "other" if o in r else "own"
    line = "first " + first
    if first == "own":
        # the relay answers in order: an answer to "other" is in by now
        o.setblocking(False)
        try:
            o.recv(65535)
            line += " other-too"
        except BlockingIOError:
            pass
    print(line)
    ctl.close()


def main():
    a = sys.argv[1:]
    fns = {"echo": echo, "connect": connect, "socks4": socks4, "mux": mux, "udp": udp,
           "delegate": delegate}
    if not a or a[0] not in fns:
        sys.stderr.write(__doc__)
        sys.exit(2)
    try:
        fns[a[0]](*a[1:])
    except (OSError, EOFError) as e:
        print("error %s" % (e or "closed"))


if __name__ == "__main__":
    main()
