#!/usr/bin/python3
"""ppclient.py - hand-made SOCKS5 clients for tests/proxyproto.bats, from a
chosen loopback source address, with or without a PROXY protocol header of
their own (as a forger, or as a balancer would write it).

  connect SRC PORT HEADER TARGETPORT MSG [--split] [--tls CAFILE] [--hold SECS]
      TCP from SRC to 127.0.0.1:PORT; sends HEADER, then (in the same
      segment unless --split, which sends the header a byte at a time) a
      SOCKS5 greeting and CONNECT 127.0.0.1:TARGETPORT; with --tls the
      SOCKS5 part goes through TLS started after the header (server name
      localhost, verified with CAFILE). Sends MSG, prints "reply N" and
      what comes back ("closed" if the connection ends before a reply);
      --hold keeps the session open that long afterwards.
  udp SRC PORT ECHOPORT
      UDP ASSOCIATE from SRC through 127.0.0.1:PORT (a balancer, maybe);
      sends "ping" from SRC to the relay for 127.0.0.1:ECHOPORT, prints
      "echo ping"; then the same from 127.0.0.9, which must get nothing:
      prints "stranger dropped" (or "stranger answered").

HEADER is one of: none; v1:ADDR:PORT (PROXY TCP4); v1-6:ADDR:PORT (TCP6);
unknown (PROXY UNKNOWN); v2:ADDR:PORT (PROXY TCP4); v2local; junk.
"""
import socket
import ssl
import struct
import sys
import time

SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def header(spec, dport):
    if spec == "none":
        return b""
    if spec == "unknown":
        return b"PROXY UNKNOWN\r\n"
    if spec == "v2local":
        return SIG + b"\x20\x00\x00\x00"
    if spec == "junk":
        return b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"
    kind, rest = spec.split(":", 1)
    addr, port = rest.rsplit(":", 1)
    if kind == "v1":
        return ("PROXY TCP4 %s 127.0.0.1 %s %d\r\n" % (addr, port, dport)).encode()
    if kind == "v1-6":
        return ("PROXY TCP6 %s ::1 %s %d\r\n" % (addr, port, dport)).encode()
    if kind == "v2":
        block = socket.inet_aton(addr) + socket.inet_aton("127.0.0.1") + \
            struct.pack(">HH", int(port), dport)
        return SIG + b"\x21\x11" + struct.pack(">H", len(block)) + block
    raise SystemExit("bad header spec " + spec)


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        d = s.recv(n - len(b))
        if not d:
            raise EOFError
        b += d
    return b


def socks_connect(s):
    """Greeting and CONNECT already sent: reads both answers; returns the
    reply code."""
    if recv_exact(s, 2) != b"\x05\x00":
        raise EOFError
    rep = recv_exact(s, 4)
    recv_exact(s, 6 if rep[3] == 1 else 18)
    return rep[1]


def do_connect(args):
    src, port, spec, tport, msg = args[:5]
    port, tport = int(port), int(tport)
    split = "--split" in args
    cafile = args[args.index("--tls") + 1] if "--tls" in args else None
    s = socket.socket()
    s.settimeout(10)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    hdr = header(spec, port)
    socks = b"\x05\x01\x00" + b"\x05\x01\x00\x01" + socket.inet_aton("127.0.0.1") + \
        struct.pack(">H", tport)
    try:
        if split:
            for i in range(len(hdr)):
                s.sendall(hdr[i:i + 1])
                time.sleep(0.01)
            hdr = b""
        if cafile:
            s.sendall(hdr)
            ctx = ssl.create_default_context(cafile=cafile)
            s = ctx.wrap_socket(s, server_hostname="localhost")
            s.sendall(socks)
        else:
            s.sendall(hdr + socks)
        rep = socks_connect(s)
    except (EOFError, ConnectionResetError, ssl.SSLError, socket.timeout):
        print("closed")
        return
    print("reply %d" % rep)
    if rep != 0:
        return
    s.sendall(msg.encode())
    got = b""
    while len(got) < len(msg):
        d = s.recv(4096)
        if not d:
            break
        got += d
    print(got.decode(errors="replace"))
    if "--hold" in args:
        time.sleep(float(args[args.index("--hold") + 1]))


def udp_assoc(args):
    src, port, eport = args[0], int(args[1]), int(args[2])
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind((src, 0))
    t = socket.socket()
    t.settimeout(10)
    t.bind((src, 0))
    t.connect(("127.0.0.1", port))
    t.sendall(b"\x05\x01\x00" + b"\x05\x03\x00\x01" + socket.inet_aton(src) +
              struct.pack(">H", u.getsockname()[1]))
    if recv_exact(t, 2) != b"\x05\x00":
        print("closed")
        return
    rep = recv_exact(t, 4)
    if rep[1] != 0:
        print("reply %d" % rep[1])
        return
    bnd = recv_exact(t, 6)
    relay = (socket.inet_ntoa(bnd[:4]), struct.unpack(">H", bnd[4:])[0])
    dgram = b"\x00\x00\x00\x01" + socket.inet_aton("127.0.0.1") + struct.pack(">H", eport)
    u.settimeout(3)
    u.sendto(dgram + b"ping", relay)
    try:
        d, _ = u.recvfrom(2048)
        print("echo " + d[10:].decode(errors="replace"))
    except socket.timeout:
        print("no echo")
    o = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    o.bind(("127.0.0.9", 0))
    o.settimeout(1)
    o.sendto(dgram + b"stranger", relay)
    try:
        o.recvfrom(2048)
        print("stranger answered")
    except socket.timeout:
        print("stranger dropped")
    t.close()


def main():
    sys.stdout.reconfigure(line_buffering=True)  # --hold: the test waits for the lines
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    if sys.argv[1] == "connect":
        do_connect(sys.argv[2:])
    elif sys.argv[1] == "udp":
        udp_assoc(sys.argv[2:])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
