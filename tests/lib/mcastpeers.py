#!/usr/bin/env python3
"""mcastpeers.py - multicast peers for tests/mcast.bats (run inside the
test's network namespace, where 224.0.0.0/4 routes to lo).

  send GROUP PORT [--from ADDR] TEXT...   one datagram per TEXT to GROUP:PORT,
                                          sent from ADDR (default 127.0.0.1)
  recv GROUP PORT COUNT                   join GROUP on lo, print "joined" on
                                          stderr, then print COUNT datagrams'
                                          payloads one per line, then exit
  recvttl GROUP PORT COUNT                the same, each line "TTL PAYLOAD"
"""
import socket
import struct
import sys


def send(group, port, texts, src):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
    s.bind((src, 0))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(src))
    for t in texts:
        s.sendto(t.encode(), (group, port))
    s.close()


def recv(group, port, count, ttl=False):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((group, port))
    mreq = struct.pack("4s4s", socket.inet_aton(group), socket.inet_aton("0.0.0.0"))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
    if ttl:
        s.setsockopt(socket.IPPROTO_IP, getattr(socket, "IP_RECVTTL", 12), 1)  # Linux value
    s.settimeout(20)
    print("joined", file=sys.stderr, flush=True)
    for _ in range(count):
        data, anc, _, _ = s.recvmsg(65536, socket.CMSG_SPACE(4))
        text = data.decode(errors="replace")
        if ttl:
            got = [struct.unpack("i", d[:4])[0] for lvl, typ, d in anc
                   if lvl == socket.IPPROTO_IP and typ == socket.IP_TTL]
            text = "%s %s" % (got[0] if got else "?", text)
        print(text, flush=True)


def main():
    a = sys.argv[1:]
    if len(a) >= 3 and a[0] == "send":
        # bound to an address: on lo alone the kernel would send from 0.0.0.0
        src = "127.0.0.1"
        rest = a[3:]
        if rest[:1] == ["--from"]:
            src, rest = rest[1], rest[2:]
        send(a[1], int(a[2]), rest, src)
    elif len(a) == 4 and a[0] in ("recv", "recvttl"):
        recv(a[1], int(a[2]), int(a[3]), a[0] == "recvttl")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
