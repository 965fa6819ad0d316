#!/usr/bin/python3
"""seclimits.py SCENARIO PORT [ARGS] - attacks on stp-serve's limits for
tests/sec-limits.bats (hand-written bytes, PROTOCOL.md §3 and §4). Each
scenario prints one line per observation; every wait has a deadline
(multiplied under STP_SANITIZE), every loop a bound.

  bindfill PORT PID        BIND, then BIND_MULTI whose peers fill the
                           server's fds (up to its limit); a peer queues on
                           the BIND listener; prints "full", the CPU ticks
                           the server used over 2 s ("cpu N"), then frees
                           the fds and prints the BIND's "second REP"
  muxlimit PORT ECHO       one MUX connection, three CONNECT streams
                           (--max-sessions-per-client 2): "stream ID REPLY
                           REP" or "stream ID RST REP"; "plain refused"
                           when a plain connection gets EOF; then after
                           stream 1 ends a new stream: "again REPLY REP"
  muxbudget PORT ECHO N PID
                           N CONNECT streams on one MUX connection: "ok K",
                           "rst-c1 K", "other K" (any other refusal), then
                           "echo ok" when the streams that opened echo, and
                           "fds F" (the server's open fds while they live)
  extrafds PORT ECHO PID KIND N
                           one client opens descriptors beyond its sessions'
                           two: KIND bindmulti, N BIND_MULTI listeners (each
                           up to 64 waiting peers); KIND udp, N UDP
                           ASSOCIATEs each sending to an IPv4 and an IPv6
                           target; once the server settles "fds F of L",
                           then another client's (127.0.0.2) CONNECT to
                           the echo server: "other REP echo ok" (or "other closed");
                           then all closed: "released" when the server's
                           fds are back where they were
  bmidle PORT              BIND_MULTI, then silence: "closed after S"
  muxidle PORT ECHO        a MUX stream with one echo, then silence, no
                           answer to the server's FIN: "stream ended",
                           "closed after S" (since the echo)
  statsidle SPORT PID N    N connections to --stats, every other one
                           silent, the rest asking but never reading nor
                           closing (waits until the server holds them), then
                           GET /metrics: "status LINE", "answered after S"
"""
import os
import socket
import struct
import sys
import time

from muxraw import Mux, DATA, FIN, REPLY, RST, v4_req

SLOW = 4 if os.environ.get("STP_SANITIZE") else 1
T = 10.0 * SLOW


def fail(why):
    sys.stderr.write("seclimits: %s\n" % why)
    sys.exit(1)


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError("closed after %d bytes" % len(b))
        b += c
    return b


def hello(port, src="127.0.0.1"):
    s = socket.create_connection(("127.0.0.1", port), timeout=T, source_address=(src, 0))
    s.sendall(b"\x05\x01\x00")
    if recv_exact(s, 2) != b"\x05\x00":
        fail("greeting refused")
    return s


def read_reply(s, opts):
    """(rep, addr, port) of a SOCKS5 reply (with an options block if opts)."""
    h = recv_exact(s, 4)
    if h[3] != 1:
        fail("reply with ATYP %d" % h[3])
    a = socket.inet_ntoa(recv_exact(s, 4))
    port = struct.unpack("!H", recv_exact(s, 2))[0]
    if opts:
        recv_exact(s, struct.unpack("!H", recv_exact(s, 2))[0])
    return h[1], a, port


def nfds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def soft_nofile(pid):
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                return int(line.split()[3])
    fail("no fd limit for %d" % pid)


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        st = f.read().rsplit(")", 1)[1].split()
    return int(st[11]) + int(st[12])  # utime, stime


def wait_for(what, cond, limit):
    end = time.monotonic() + limit * SLOW
    while not cond():
        if time.monotonic() > end:
            fail("timed out waiting for " + what)
        time.sleep(0.02)


def bindfill(port, pid):
    limit = soft_nofile(pid)
    a = hello(port)
    a.sendall(b"\x05\x02\x00\x01\x00\x00\x00\x00\x00\x00")
    rep, addr, bport = read_reply(a, False)
    if rep != 0:
        fail("BIND refused: %d" % rep)
    b = hello(port)
    # BACKLOG 128 (option 6): peers queue rather than time out in SYN
    b.sendall(b"\x05\xd1\x00\x01\x00\x00\x00\x00\x00\x00" +
              struct.pack("!HHHH", 6, 6, 2, 128))
    rep, maddr, mport = read_reply(b, True)
    if rep != 0:
        fail("BIND_MULTI refused: %d" % rep)
    peers = []
    for _ in range(limit + 16):
        p = socket.socket()
        p.setblocking(False)
        p.connect_ex((maddr, mport))
        peers.append(p)
        if nfds(pid) >= limit:
            break
    wait_for("the server's fds to run out", lambda: nfds(pid) >= limit, 20)
    print("full")
    sys.stdout.flush()
    # a peer for the BIND listener, which cannot be accepted now
    q = socket.create_connection((addr, bport), timeout=T)
    t0 = cpu_ticks(pid)
    time.sleep(2)  # the duration is what is measured
    print("cpu %d" % (cpu_ticks(pid) - t0))
    sys.stdout.flush()
    # the control channel goes, its peers with it: fds free up
    b.close()
    for p in peers:
        p.close()
    rep, _, _ = read_reply(a, False)
    print("second %d" % rep)
    a.sendall(b"ping")
    if recv_exact(q, 4) != b"ping":
        fail("BIND relay")
    q.close()
    a.close()


def mux_open(m, sid, echo):
    m.send(1, sid, v4_req(1, "127.0.0.1", echo))


def mux_answer(m, sid):
    """REPLY or RST of stream sid: ("REPLY"|"RST", rep)."""
    while True:
        t, s, p = m.recv()
        if s == sid and t == REPLY:
            return "REPLY", p[0]
        if s == sid and t == RST:
            return "RST", p[0]


def plain_refused(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=T)
    try:
        s.sendall(b"\x05\x01\x00")
        return s.recv(2) == b""
    except ConnectionResetError:
        return True
    finally:
        s.close()


def muxlimit(port, echo):
    m = Mux(port, quiet=True)
    for sid in (1, 3, 5):
        mux_open(m, sid, echo)
        kind, rep = mux_answer(m, sid)
        print("stream %d %s %d" % (sid, kind, rep))
    if plain_refused(port):
        print("plain refused")
    m.send(DATA, 1, b"hello")
    got = b""
    while got != b"hello":
        t, s, p = m.recv()
        if s == 1 and t == DATA:
            got += p
    m.send(FIN, 1)
    # the echo server closes after our FIN: the stream's session ends, and
    # its place is free again (retried: it ends a moment after its FIN)
    sid, end = 7, time.monotonic() + T
    while True:
        mux_open(m, sid, echo)
        kind, rep = mux_answer(m, sid)
        if kind == "REPLY" or time.monotonic() > end:
            break
        sid += 2
        time.sleep(0.05)
    print("again %s %d" % (kind, rep))


def muxbudget(port, echo, n, pid):
    m = Mux(port, quiet=True)
    for k in range(n):
        mux_open(m, 1 + 2 * k, echo)
    ok, c1, other, seen = [], 0, 0, 0
    while seen < n:
        t, s, p = m.recv()
        if t == REPLY and p[0] == 0:
            ok.append(s)
        elif t == REPLY or t == RST:
            if t == RST and p[0] == 0xC1:
                c1 += 1
            else:
                other += 1
                sys.stderr.write("stream %d: %s %#x\n" % (s, "REPLY" if t == REPLY else "RST", p[0]))
        else:
            continue
        seen += 1
    print("ok %d" % len(ok))
    print("rst-c1 %d" % c1)
    print("other %d" % other)
    print("fds %d of %d" % (nfds(pid), soft_nofile(pid)))
    for s in ok:
        m.send(DATA, s, b"x%d" % s)
    want = {s: b"x%d" % s for s in ok}
    got = {s: b"" for s in ok}
    while got != want:
        t, s, p = m.recv()
        if t == DATA and s in got:
            got[s] += p
        elif t in (FIN, RST) and s in got:
            fail("stream %d ended" % s)
    print("echo ok")


def settle(pid):
    """Waits (bounded) until the server's fd count stays put for 0.5 s."""
    last, since = -1, time.monotonic()
    end = since + 20 * SLOW
    while time.monotonic() < end:
        n = nfds(pid)
        if n != last:
            last, since = n, time.monotonic()
        elif time.monotonic() - since >= 0.5:
            return n
        time.sleep(0.05)
    return last


def udp_assoc(port):
    """A UDP ASSOCIATE: (control connection, UDP socket, relay address)."""
    c = hello(port)
    c.sendall(b"\x05\x03\x00\x01\x00\x00\x00\x00\x00\x00")
    rep, addr, rport = read_reply(c, False)
    if rep != 0:
        return c, None, None
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    return c, u, (addr, rport)


def extrafds(port, echo, pid, kind, n):
    base = nfds(pid)
    held = []
    if kind == "bindmulti":
        for _ in range(n):
            b = hello(port)
            # BACKLOG 128 (option 6): the peers queue rather than time out
            b.sendall(b"\x05\xd1\x00\x01\x00\x00\x00\x00\x00\x00" +
                      struct.pack("!HHHH", 6, 6, 2, 128))
            rep, maddr, mport = read_reply(b, True)
            if rep != 0:
                fail("BIND_MULTI refused: %d" % rep)
            held.append(b)
            for _ in range(64):
                p = socket.socket()
                p.setblocking(False)
                p.connect_ex((maddr, mport))
                held.append(p)
    elif kind == "udp":
        sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sink.bind(("127.0.0.1", 0))
        sink6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        sink6.bind(("::1", 0))
        held += [sink, sink6]
        for _ in range(n):
            try:
                c, u, relay = udp_assoc(port)
            except (EOFError, ConnectionResetError):
                break  # refused at the fd limit: the server's business
            held.append(c)
            if not u:
                continue
            held.append(u)
            # the server opens a socket per target family on demand
            u.sendto(b"\0\0\0\x01" + socket.inet_aton("127.0.0.1") +
                     struct.pack("!H", sink.getsockname()[1]) + b"v4", relay)
            u.sendto(b"\0\0\0\x04" + socket.inet_pton(socket.AF_INET6, "::1") +
                     struct.pack("!H", sink6.getsockname()[1]) + b"v6", relay)
    else:
        fail("unknown kind " + kind)
    print("fds %d of %d" % (settle(pid), soft_nofile(pid)))
    sys.stdout.flush()
    try:
        o = hello(port, "127.0.0.2")  # another client address
        o.sendall(b"\x05\x01\x00\x01" + socket.inet_aton("127.0.0.1") + struct.pack("!H", echo))
        rep, _, _ = read_reply(o, False)
        o.sendall(b"ping")
        print("other %d echo %s" % (rep, "ok" if recv_exact(o, 4) == b"ping" else "bad"))
        o.close()
    except (EOFError, ConnectionResetError, SystemExit):
        print("other closed")
    sys.stdout.flush()
    for h in held:
        h.close()
    wait_for("the server's fds to come back", lambda: nfds(pid) <= base, 20)
    print("released")


def wait_eof(s, limit):
    s.settimeout(limit * SLOW)
    try:
        while s.recv(4096):
            pass
    except ConnectionResetError:
        pass


def bmidle(port):
    s = hello(port)
    s.sendall(b"\x05\xd1\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00")
    rep, _, _ = read_reply(s, True)
    if rep != 0:
        fail("BIND_MULTI refused: %d" % rep)
    t = time.monotonic()
    try:
        wait_eof(s, 15)
    except socket.timeout:
        fail("control channel still open after 15 s")
    print("closed after %d" % round(time.monotonic() - t))


def muxidle(port, echo):
    m = Mux(port, quiet=True)
    mux_open(m, 1, echo)
    if mux_answer(m, 1) != ("REPLY", 0):
        fail("stream refused")
    m.send(DATA, 1, b"hello")
    got = b""
    while got != b"hello":
        t, s, p = m.recv()
        if t == DATA:
            got += p
    t0 = time.monotonic()
    m.s.settimeout(15 * SLOW)
    try:
        # the stream's end (idle): a FIN or RST, left unanswered
        while True:
            t, s, p = m.recv()
            if t in (FIN, RST):
                print("stream ended")
                break
        wait_eof(m.s, 15)
    except socket.timeout:
        fail("MUX connection still open 15 s after the stream went idle")
    except EOFError:
        pass
    print("closed after %d" % round(time.monotonic() - t0))


def statsidle(sport, pid, n):
    base = nfds(pid)
    idle = [socket.create_connection(("127.0.0.1", sport), timeout=T) for _ in range(n)]
    for c in idle[1::2]:
        c.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
    wait_for("the endpoint to hold the idle connections",
             lambda: nfds(pid) >= base + min(n, 16), 20)
    t = time.monotonic()
    s = socket.create_connection(("127.0.0.1", sport), timeout=T)
    s.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
    b = b""
    try:
        while True:
            got = s.recv(65536)
            if not got:
                break
            b += got
    except ConnectionResetError:
        pass
    print("status %s" % (b.split(b"\r\n")[0].decode() or "none"))
    print("answered after %d" % round(time.monotonic() - t))
    for c in idle:
        c.close()


def main():
    sc, port = sys.argv[1], int(sys.argv[2])
    args = [int(a) for a in sys.argv[3:]] if sc != "extrafds" else []
    if sc == "bindfill":
        bindfill(port, *args)
    elif sc == "muxlimit":
        muxlimit(port, *args)
    elif sc == "muxbudget":
        muxbudget(port, *args)
    elif sc == "extrafds":
        extrafds(port, int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], int(sys.argv[6]))
    elif sc == "bmidle":
        bmidle(port)
    elif sc == "muxidle":
        muxidle(port, *args)
    elif sc == "statsidle":
        statsidle(port, *args)
    else:
        fail("unknown scenario " + sc)


if __name__ == "__main__":
    main()
