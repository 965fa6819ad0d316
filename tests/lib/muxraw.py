#!/usr/bin/python3
"""muxraw.py PORT SCENARIO [ARGS] - a MUX client written from PROTOCOL.md §4
alone (not from stp's code), for the bats suites. It opens a SOCKS5
connection to 127.0.0.1:PORT (no authentication), asks for MUX (X'D6') and
runs SCENARIO; it prints one line per observation and exits 0 when every
expectation held, 1 (with the reason on stderr) otherwise.

  streams ECHO_PORT CLOSED_PORT   CONNECT by name and by address with data,
                                  half-close and FIN back; a refused CONNECT
                                  (REPLY 05); RESOLVE, RESOLVE_PTR; a BIND
                                  (RST 07); PING/PONG; interleaved streams
  dns NAME                        a DNS channel (X'D5') in a stream: an A
                                  query for NAME, the answer's addresses
  overcredit                      DATA beyond the credit (262144 bytes and
                                  the WINDOWs) on a stream whose target
                                  never reads: the server closes all
  badframe                        an unknown frame type: the server closes
  chaos ECHO_PORT SEED N          N connections of random but well-formed
                                  frames (any type, stream, order, credit),
                                  then one clean stream: the server must
                                  still serve it
"""
import random
import socket
import struct
import sys
import time

OPEN, REPLY, DATA, WINDOW, FIN, RST, PING, PONG = range(1, 9)


def fail(why):
    sys.stderr.write("muxraw: %s\n" % why)
    sys.exit(1)


def frame(t, sid, p=b""):
    return struct.pack(">BBIH", t, 0, sid, len(p)) + p


class Mux:
    def __init__(self, port, quiet=False):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.s.sendall(b"\x05\x01\x00")
        if self.readn(2) != b"\x05\x00":
            fail("greeting refused")
        self.s.sendall(b"\x05\xd6\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00")
        r = self.readn(12)
        if r[1] != 0:
            fail("MUX refused with reply %d" % r[1])
        if not quiet:
            print("mux ok")

    def readn(self, n):
        b = b""
        while len(b) < n:
            c = self.s.recv(n - len(b))
            if not c:
                raise EOFError
            b += c
        return b

    def send(self, t, sid, p=b""):
        self.s.sendall(frame(t, sid, p))

    def recv(self):
        t, f, sid, n = struct.unpack(">BBIH", self.readn(8))
        if f != 0 or n > 16384:
            fail("bad frame header from the server")
        return t, sid, self.readn(n)


def name_req(cmd, name, port):
    n = name.encode()
    return bytes([cmd, 3, len(n)]) + n + struct.pack(">H", port)


def v4_req(cmd, addr, port):
    return bytes([cmd, 1]) + socket.inet_aton(addr) + struct.pack(">H", port)


def streams(port, echo, closed):
    m = Mux(port)
    payload = {1: b"first stream " * 1000, 3: b"second stream " * 1000}
    m.send(OPEN, 1, name_req(1, "localhost", echo))
    m.send(OPEN, 3, v4_req(1, "127.0.0.1", echo))
    m.send(OPEN, 5, v4_req(1, "127.0.0.1", closed))
    m.send(OPEN, 7, name_req(0xF0, "localhost", 0))
    m.send(OPEN, 9, v4_req(0xF1, "127.0.0.1", 0))
    m.send(OPEN, 11, v4_req(2, "0.0.0.0", 0))
    m.send(PING, 0, b"pingpong")
    # interleave the two streams' data, then half-close both
    for off in range(0, 14000, 1000):
        for sid in (1, 3):
            chunk = payload[sid][off:off + 1000]
            if chunk:
                m.send(DATA, sid, chunk)
    m.send(FIN, 1)
    m.send(FIN, 3)
    got = {1: b"", 3: b""}
    replied, fins, seen = set(), set(), {}
    while len(fins) < 4 or 5 not in seen or 11 not in seen or PONG not in seen:
        t, sid, p = m.recv()
        if t == PONG:
            if p != b"pingpong":
                fail("PONG carries %r" % p)
            seen[PONG] = True
        elif t == REPLY:
            replied.add(sid)
            if sid in (1, 3) and p[0] != 0:
                fail("CONNECT stream %d refused: %d" % (sid, p[0]))
            if sid == 5:
                seen[5] = p[0]
            if sid == 7:
                print("resolve %s" % socket.inet_ntoa(p[2:6]) if p[1] == 1 else "resolve ?")
            if sid == 9:
                print("resolve-ptr %s" % p[3:3 + p[2]].decode() if p[1] == 3 else "ptr ?")
        elif t == DATA:
            if sid not in replied:
                fail("DATA before REPLY on stream %d" % sid)
            got[sid] += p
        elif t == FIN:
            fins.add(sid)
        elif t == RST:
            seen[sid] = p[0]
        elif t == WINDOW:
            pass
        else:
            fail("unexpected frame type %d" % t)
    for sid in (1, 3):
        if got[sid] != payload[sid]:
            fail("stream %d echoed %d bytes, not the %d sent" % (sid, len(got[sid]), len(payload[sid])))
        print("stream %d echoed %d bytes" % (sid, len(got[sid])))
    print("refused stream reply %d" % seen[5])
    print("bind stream rst %d" % seen[11])
    print("pong ok")
    # the streams of RESOLVE end with FIN from the server; ours close them
    for sid in (7, 9):
        m.send(FIN, sid)
    m.s.close()


def dns(port, name):
    m = Mux(port)
    m.send(OPEN, 1, bytes([0xD5, 1, 0, 0, 0, 0, 0, 0]) + b"\x00\x00")
    qname = b"".join(bytes([len(x)]) + x.encode() for x in name.split(".")) + b"\x00"
    q = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + qname + struct.pack(">HH", 1, 1)
    m.send(DATA, 1, struct.pack(">H", len(q)) + q)
    buf = b""
    while True:
        t, sid, p = m.recv()
        if t == REPLY:
            if p[0] != 0:
                fail("DNS stream refused: %d" % p[0])
            continue
        if t == DATA:
            buf += p
            if len(buf) >= 2 and len(buf) >= 2 + struct.unpack(">H", buf[:2])[0]:
                break
        elif t in (FIN, RST):
            fail("DNS stream ended before the answer")
    a = buf[2:]
    qid, flags, qd, an = struct.unpack(">HHHH", a[:8])
    if qid != 0x1234:
        fail("answer id %x" % qid)
    off = 12 + len(qname) + 4
    for _ in range(an):
        if a[off] & 0xC0 == 0xC0:
            off += 2
        else:
            while a[off]:
                off += a[off] + 1
            off += 1
        typ, cls, ttl, rdlen = struct.unpack(">HHIH", a[off:off + 10])
        off += 10
        if typ == 1:
            print("dns %s A %s" % (name, socket.inet_ntoa(a[off:off + 4])))
        off += rdlen
    print("rcode %d" % (flags & 15))
    m.s.close()


def overcredit(port):
    # the target: a listener that never accepts, so nobody reads
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(1)
    m = Mux(port)
    m.send(OPEN, 1, v4_req(1, "127.0.0.1", lst.getsockname()[1]))
    t, sid, p = m.recv()
    if t != REPLY or p[0] != 0:
        fail("no REPLY 0 for the stream")
    # use all the credit, and all the server gives back while the target's
    # buffers fill; once it gives no more, one frame more is a violation
    credit, sent = 262144, 0
    m.s.settimeout(1.0)
    while True:
        while sent < credit:
            n = min(16384, credit - sent)
            m.send(DATA, 1, b"x" * n)
            sent += n
        try:
            t, sid, p = m.recv()
        except TimeoutError:
            break
        if t == WINDOW:
            credit += struct.unpack(">I", p)[0]
    print("credit used %d" % sent)
    m.s.settimeout(10)
    m.send(DATA, 1, b"x" * 16384)
    try:
        while True:
            m.recv()
    except (EOFError, ConnectionResetError):
        print("closed by the server")
        return
    except TimeoutError:
        fail("the server kept the connection")


def badframe(port):
    m = Mux(port)
    m.s.sendall(b"\x63\x00\x00\x00\x00\x01\x00\x00")
    try:
        while True:
            m.recv()
    except (EOFError, ConnectionResetError):
        print("closed by the server")


def chaos(port, echo, seed, n):
    rnd = random.Random(seed)
    kinds = [OPEN, REPLY, DATA, WINDOW, FIN, RST, PING, PONG]
    for c in range(n):
        m = Mux(port, quiet=True)
        m.s.settimeout(2)
        try:
            for _ in range(rnd.randint(1, 60)):
                t = rnd.choice(kinds + [OPEN, DATA, DATA, WINDOW, FIN])
                sid = rnd.choice([1, 1, 3, 3, 5, 7, 9, 2, 0, 0xffffffff, rnd.getrandbits(32)])
                if t == OPEN:
                    p = rnd.choice([v4_req(1, "127.0.0.1", echo), name_req(1, "localhost", echo),
                                    v4_req(0xF0, "127.0.0.1", 0), bytes([0xD5, 1, 0, 0, 0, 0, 0, 0, 0, 0]),
                                    bytes([rnd.getrandbits(8) for _ in range(rnd.randint(0, 20))])])
                elif t == WINDOW:
                    p = struct.pack(">I", rnd.choice([0, 1, 65536, 0x7fffffff, 0xffffffff]))
                elif t == RST:
                    p = bytes([rnd.getrandbits(8)])
                elif t in (PING, PONG):
                    p = bytes(8)
                elif t == FIN:
                    p = b""
                else:
                    p = bytes(rnd.randint(0, 3000))
                m.send(t, sid, p)
            m.s.shutdown(socket.SHUT_WR)
            while m.s.recv(65536):
                pass
        except (OSError, EOFError):
            pass
        m.s.close()
    print("chaos %d connections" % n)
    m = Mux(port, quiet=True)
    m.send(OPEN, 1, v4_req(1, "127.0.0.1", echo))
    m.send(DATA, 1, b"still here")
    m.send(FIN, 1)
    got = b""
    while True:
        t, sid, p = m.recv()
        if t == DATA:
            got += p
        if t == FIN or t == RST:
            break
    print("after chaos: %s" % got.decode())


def main():
    port = int(sys.argv[1])
    sc = sys.argv[2]
    if sc == "streams":
        streams(port, int(sys.argv[3]), int(sys.argv[4]))
    elif sc == "dns":
        dns(port, sys.argv[3])
    elif sc == "overcredit":
        overcredit(port)
    elif sc == "chaos":
        chaos(port, int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    elif sc == "badframe":
        badframe(port)
    else:
        fail("unknown scenario " + sc)


if __name__ == "__main__":
    main()
