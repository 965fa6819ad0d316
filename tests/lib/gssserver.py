#!/usr/bin/python3
"""gssserver.py [--min-level N] [--grant N] [--abort] [--log FILE]
[--tamper-udp K] [--dns PORT] [--tls CERT KEY] - an independent
SOCKS5 server with GSS-API authentication, written for the tests from RFC
1928 and RFC 1961 alone with Python's gssapi package (Debian
python3-gssapi), for stp's clients to talk to. Binds 127.0.0.1:0 and
prints `listening 127.0.0.1 PORT` on stderr. The acceptor's keys come from
the keytab in KRB5_KTNAME (any principal in it, as the client names it).

Offers only method X'01'. Context establishment: token messages (ver X'01',
mtyp X'01', 2-byte length, token) until the context is up. Protection
subnegotiation (§4): the client's level arrives gss_wrap'ed in an mtyp X'02'
message; the server answers max(asked, --min-level) (or --grant N whatever
was asked), also wrapped. --abort answers the first token with X'01' X'FF'
instead.
UDP ASSOCIATE (RFC 1928 section 7) gets a relay of its own on 127.0.0.1: at
levels 1 and 2 each datagram between client and relay is one mtyp X'03'
message whose token is gss_wrap(UDP header + data) (RFC 1961 section 5;
conf_req at level 2), a datagram that does not unwrap is dropped and logged
("udp dropped WHY"); MCAST (X'D4') gets such a relay too, whose datagrams
are unwrapped and counted ("mcast in N"), the group not joined; --tamper-udp
K flips a byte of the token of the K-th datagram sent back to the client.
UDP_TCP (X'D7', stp's UDP-OVER-TCP) carries LEN(2) | UDP header | DATA
frames inside the session's protected stream. The DNS channel (X'D5')
forwards each framed query to the DNS server on 127.0.0.1:PORT (--dns) over
UDP and frames the answer back; RESOLVE (X'F0') answers from getaddrinfo.
MUX (X'D6', PROTOCOL.md section 4) serves CONNECT streams, its frames inside
the protected stream (DATA answered with WINDOW, PING with PONG, FIN passed
on as a half-close). --tls CERT KEY: the listener speaks TLS first
(socks5s://), GSS-API inside it.
Then CONNECT (IPv4, name, IPv6): at levels 1 and 2 the request, the reply
and the stream both ways travel in mtyp X'03' messages holding gss_wrap
tokens (confidentiality at level 2). Each session appends a line
"PRINCIPAL LEVEL TARGET" (or "refused WHY") to the --log file."""
import argparse
import select
import socket
import ssl
import struct
import sys
import threading

import gssapi

P = argparse.ArgumentParser()
P.add_argument("--min-level", type=int, default=0)
P.add_argument("--abort", action="store_true")
P.add_argument("--grant", type=int, default=None)
P.add_argument("--log", default=None)
P.add_argument("--tamper-udp", type=int, default=0)
P.add_argument("--dns", type=int, default=0)
P.add_argument("--tls", nargs=2, default=None)
A = P.parse_args()
LOCK = threading.Lock()
CHUNK = 16384


def log(line):
    if A.log:
        with LOCK, open(A.log, "a") as f:
            f.write(line + "\n")


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError("closed after %d of %d bytes" % (len(b), n))
        b += c
    return b


def recv_msg(s, mtyp):
    ver, t = recv_exact(s, 2)
    if ver != 1:
        raise ValueError("GSS message version %d" % ver)
    if t == 0xFF:
        raise EOFError("client aborted")
    if t != mtyp:
        raise ValueError("message type %d, expected %d" % (t, mtyp))
    (n,) = struct.unpack("!H", recv_exact(s, 2))
    return recv_exact(s, n)


def send_msg(s, mtyp, tok):
    s.sendall(struct.pack("!BBH", 1, mtyp, len(tok)) + tok)


class Chan:
    """The session's bytes after §4: plain at level 0, else §5 messages."""

    def __init__(self, s, ctx, level):
        self.s, self.ctx, self.level, self.buf = s, ctx, level, b""
        # one context, two threads (the pumps): one call at a time
        self.lock = threading.Lock()
        # and one whole message (or write) at a time on the socket
        self.slock = threading.Lock()

    def wrap(self, data):
        with self.lock:
            w = self.ctx.wrap(data, self.level == 2)
        if self.level == 2 and not w.encrypted:
            raise ValueError("not encrypted")
        return w.message

    def unwrap(self, tok):
        with self.lock:
            u = self.ctx.unwrap(tok)
        if self.level == 2 and not u.encrypted:
            raise ValueError("a message came unencrypted at level 2")
        return u.message

    def send(self, data):
        with self.slock:
            if self.level == 0:
                self.s.sendall(data)
                return
            for i in range(0, len(data), CHUNK):
                send_msg(self.s, 3, self.wrap(data[i:i + CHUNK]))

    def recv(self):
        """Some bytes, or b"" at the end."""
        if self.level == 0:
            return self.s.recv(65536)
        try:
            tok = recv_msg(self.s, 3)
        except EOFError:
            return b""
        return self.unwrap(tok)

    def recv_some(self):
        """What recv_exact left over, else recv()."""
        if self.buf:
            out, self.buf = self.buf, b""
            return out
        return self.recv()

    def recv_exact(self, n):
        while len(self.buf) < n:
            c = self.recv()
            if not c:
                raise EOFError("closed in the request")
            self.buf += c
        out, self.buf = self.buf[:n], self.buf[n:]
        return out


def read_request(ch):
    ver, cmd, _, atyp = ch.recv_exact(4)
    if atyp == 1:
        host = socket.inet_ntop(socket.AF_INET, ch.recv_exact(4))
    elif atyp == 4:
        host = socket.inet_ntop(socket.AF_INET6, ch.recv_exact(16))
    elif atyp == 3:
        host = ch.recv_exact(ch.recv_exact(1)[0]).decode()
    else:
        raise ValueError("atyp %d" % atyp)
    (port,) = struct.unpack("!H", ch.recv_exact(2))
    if 0xD0 <= cmd <= 0xDF:
        # an STP command: OPTLEN(2) | OPTIONS follow (PROTOCOL.md section 3)
        (olen,) = struct.unpack("!H", ch.recv_exact(2))
        ch.recv_exact(olen)
    return ver, cmd, host, port


def udp_header(data):
    """(host, port, payload) of an RFC 1928 UDP datagram."""
    if len(data) < 4 or data[2] != 0:
        raise ValueError("not a UDP request header (or FRAG)")
    atyp, off = data[3], 4
    if atyp == 1:
        host, off = socket.inet_ntop(socket.AF_INET, data[4:8]), 8
    elif atyp == 4:
        host, off = socket.inet_ntop(socket.AF_INET6, data[4:20]), 20
    elif atyp == 3:
        host, off = data[5:5 + data[4]].decode(), 5 + data[4]
    else:
        raise ValueError("atyp %d" % atyp)
    (port,) = struct.unpack("!H", data[off:off + 2])
    return host, port, data[off + 2:]


def udp_put(addr, payload):
    """An RFC 1928 UDP header naming addr (an IPv4 sender), then payload."""
    return b"\0\0\0\x01" + socket.inet_aton(addr[0]) + struct.pack("!H", addr[1]) + payload


def udp_relay(ch, ctx, level, what="udp"):
    """UDP ASSOCIATE (what "udp") or MCAST ("mcast"): the relay, until the
    control connection closes. One thread: the context is used by nothing
    else meanwhile."""
    relay = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    relay.bind(("127.0.0.1", 0))
    out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    out.bind(("127.0.0.1", 0))
    ra = relay.getsockname()
    ch.send(b"\x05\x00\x00\x01" + socket.inet_aton(ra[0]) + struct.pack("!H", ra[1]) +
            (b"\0\0" if what == "mcast" else b""))
    log("%s %d %s" % (ctx.initiator_name, level, what))
    client, sent = None, 0

    def from_client(d, frm):
        """One datagram from the client: unwrapped, then sent on (MCAST:
        only counted, the group is not joined here)."""
        try:
            if level:
                if len(d) < 4 or d[0] != 1 or d[1] != 3:
                    raise ValueError("not an encapsulated message")
                (n,) = struct.unpack("!H", d[2:4])
                if n != len(d) - 4:
                    raise ValueError("length %d in a datagram of %d" % (n, len(d)))
                d = ch.unwrap(d[4:])
            host, port, payload = udp_header(d)
        except (ValueError, gssapi.exceptions.GSSError) as ex:
            log("%s dropped %s" % (what, str(ex).replace("\n", " ")[:120]))
            return None
        if what == "udp":
            out.sendto(payload, (host, port))
        log("%s in %d" % (what, len(payload)))
        return frm

    try:
        while True:
            r, _, _ = select.select([ch.s, relay, out], [], [])
            if relay in r:
                d, frm = relay.recvfrom(65535)
                client = from_client(d, frm) or client
            if ch.s in r and not ch.recv_some():
                # the end: what the client sent before it is still taken
                relay.setblocking(False)
                try:
                    while True:
                        from_client(*relay.recvfrom(65535))
                except BlockingIOError:
                    pass
                return
            if out in r:
                payload, frm = out.recvfrom(65535)
                if client is None:
                    continue
                d = udp_put(frm, payload)
                if level:
                    tok = ch.wrap(d)
                    sent += 1
                    if sent == A.tamper_udp:
                        tok = tok[:-1] + bytes([tok[-1] ^ 0x01])
                        log("udp tampered %d" % sent)
                    d = struct.pack("!BBH", 1, 3, len(tok)) + tok
                relay.sendto(d, client)
    finally:
        relay.close()
        out.close()


def udp_tcp(ch, ctx, level):
    """UDP_TCP (X'D7'): frames on the (protected) stream both ways."""
    out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    out.bind(("127.0.0.1", 0))
    ch.send(b"\x05\x00\x00\x01\0\0\0\0\0\0\0\0")
    log("%s %d udp-tcp" % (ctx.initiator_name, level))

    def back():
        try:
            while True:
                payload, frm = out.recvfrom(65535)
                d = udp_put(frm, payload)
                ch.send(struct.pack("!H", len(d)) + d)
        except OSError:
            pass
    threading.Thread(target=back, daemon=True).start()
    try:
        while True:
            (n,) = struct.unpack("!H", ch.recv_exact(2))
            host, port, payload = udp_header(ch.recv_exact(n))
            out.sendto(payload, (host, port))
            log("udp-tcp in %d" % len(payload))
    except EOFError:
        pass
    finally:
        out.close()


def mux_frame(ftype, sid, payload=b""):
    return struct.pack("!BBIH", ftype, 0, sid, len(payload)) + payload


def mux_session(ch, ctx, level):
    """MUX (X'D6'): CONNECT streams; the rest refused with RST X'07'."""
    ch.send(b"\x05\x00\x00\x01\0\0\0\0\0\0\0\0")
    log("%s %d mux" % (ctx.initiator_name, level))
    targets = {}

    def down(sid, t):
        try:
            while True:
                data = t.recv(16384)
                if not data:
                    break
                ch.send(mux_frame(3, sid, data))
            ch.send(mux_frame(5, sid))
        except OSError:
            pass

    try:
        while True:
            ftype, _, sid, n = struct.unpack("!BBIH", ch.recv_exact(8))
            payload = ch.recv_exact(n)
            if ftype == 1:
                if payload[0] != 1:
                    ch.send(mux_frame(6, sid, b"\x07"))
                    continue
                _, _, host, port = read_request(Bytes(b"\x05" + payload[:1] + b"\0" +
                                                      payload[1:]))
                try:
                    t = socket.create_connection((host, port), timeout=10)
                    t.settimeout(None)
                except OSError:
                    ch.send(mux_frame(6, sid, b"\x05"))
                    continue
                targets[sid] = t
                la = t.getsockname()
                ch.send(mux_frame(2, sid, b"\x00\x01" + socket.inet_aton(la[0]) +
                                  struct.pack("!H", la[1])))
                log("mux open %s:%d" % (host, port))
                threading.Thread(target=down, args=(sid, t), daemon=True).start()
            elif ftype == 3 and sid in targets:
                targets[sid].sendall(payload)
                ch.send(mux_frame(4, sid, struct.pack("!I", len(payload))))
            elif ftype == 5 and sid in targets:
                targets[sid].shutdown(socket.SHUT_WR)
            elif ftype == 6 and sid in targets:
                targets.pop(sid).close()
            elif ftype == 7:
                ch.send(mux_frame(8, sid, payload))
    except EOFError:
        pass
    finally:
        for t in targets.values():
            t.close()


class Bytes:
    """recv_exact over bytes in hand (a MUX OPEN's request)."""

    def __init__(self, b):
        self.b = b

    def recv_exact(self, n):
        out, self.b = self.b[:n], self.b[n:]
        if len(out) < n:
            raise ValueError("a short request")
        return out


def dns_channel(ch, ctx, level):
    """DNS (X'D5'): each framed query to --dns over UDP, the answer framed."""
    ch.send(b"\x05\x00\x00\x01\0\0\0\0\0\0\0\0")
    log("%s %d dns" % (ctx.initiator_name, level))
    up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    up.settimeout(5)
    try:
        while True:
            (n,) = struct.unpack("!H", ch.recv_exact(2))
            q = ch.recv_exact(n)
            up.sendto(q, ("127.0.0.1", A.dns))
            a, _ = up.recvfrom(65535)
            ch.send(struct.pack("!H", len(a)) + a)
            log("dns %d" % len(q))
    except EOFError:
        pass
    finally:
        up.close()


def pump(src, dst_sock, ch, up):
    """up: client (ch) -> target socket; else target -> client."""
    try:
        while True:
            data = ch.recv() if up else src.recv(65536)
            if not data:
                break
            if up:
                dst_sock.sendall(data)
            else:
                ch.send(data)
    except (OSError, EOFError, ValueError, gssapi.exceptions.GSSError):
        pass
    try:
        (dst_sock if up else ch.s).shutdown(socket.SHUT_WR)
    except OSError:
        pass


def session(s):
    try:
        ver, n = recv_exact(s, 2)
        methods = recv_exact(s, n)
        if ver != 5 or 1 not in methods:
            s.sendall(b"\x05\xff")
            log("refused no-gssapi-offered")
            return
        s.sendall(b"\x05\x01")
        ctx = gssapi.SecurityContext(usage="accept")
        first = True
        while not ctx.complete:
            tok = recv_msg(s, 1)
            if A.abort and first:
                s.sendall(b"\x01\xff")
                log("refused aborted")
                return
            first = False
            out = ctx.step(tok)
            if out:
                send_msg(s, 1, out)
        asked = ctx.unwrap(recv_msg(s, 2)).message
        if len(asked) != 1:
            raise ValueError("protection level of %d bytes" % len(asked))
        level = max(asked[0], A.min_level) if A.grant is None else A.grant
        send_msg(s, 2, ctx.wrap(bytes([level]), False).message)
        ch = Chan(s, ctx, level)
        _, cmd, host, port = read_request(ch)
        if cmd == 3:
            udp_relay(ch, ctx, level)
            return
        if cmd == 0xD4:
            udp_relay(ch, ctx, level, "mcast")
            return
        if cmd == 0xD7:
            udp_tcp(ch, ctx, level)
            return
        if cmd == 0xD6:
            mux_session(ch, ctx, level)
            return
        if cmd == 0xD5 and A.dns:
            dns_channel(ch, ctx, level)
            return
        if cmd == 0xF0:
            try:
                ai = socket.getaddrinfo(host, None, socket.AF_INET)[0][4][0]
                ch.send(b"\x05\x00\x00\x01" + socket.inet_aton(ai) + b"\0\0")
            except OSError:
                ch.send(b"\x05\x04\x00\x01\0\0\0\0\0\0")
            log("%s %d resolve %s" % (ctx.initiator_name, level, host))
            return
        if cmd != 1:
            ch.send(b"\x05\x07\x00\x01\x00\x00\x00\x00\x00\x00")
            return
        try:
            t = socket.create_connection((host, port), timeout=10)
            t.settimeout(None)
        except OSError:
            ch.send(b"\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00")
            log("%s %d %s:%d refused" % (ctx.initiator_name, level, host, port))
            return
        la = t.getsockname()
        ch.send(b"\x05\x00\x00\x01" + socket.inet_aton(la[0]) + struct.pack("!H", la[1]))
        log("%s %d %s:%d" % (ctx.initiator_name, level, host, port))
        up = threading.Thread(target=pump, args=(None, t, ch, True))
        up.start()
        pump(t, None, ch, False)
        up.join()
        t.close()
    except (OSError, EOFError, ValueError, gssapi.exceptions.GSSError) as ex:
        log("refused %s" % str(ex).replace("\n", " ")[:200])
    finally:
        s.close()


def main():
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(16)
    tls = None
    if A.tls:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(A.tls[0], A.tls[1])
    print("listening 127.0.0.1 %d" % ls.getsockname()[1], file=sys.stderr, flush=True)
    while True:
        c, _ = ls.accept()
        threading.Thread(target=start, args=(c, tls), daemon=True).start()


def start(c, tls):
    """A session, inside TLS first with --tls."""
    if tls:
        try:
            c.settimeout(10)
            c = tls.wrap_socket(c, server_side=True)
            c.settimeout(None)
        except (OSError, ssl.SSLError) as ex:
            log("refused TLS %s" % ex)
            c.close()
            return
    session(c)


main()
