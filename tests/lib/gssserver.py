#!/usr/bin/python3
"""gssserver.py [--min-level N] [--grant N] [--abort] [--log FILE] - an independent
SOCKS5 server with GSS-API authentication, written for the tests from RFC
1928 and RFC 1961 alone with Python's gssapi package (Debian
python3-gssapi), for stp's clients to talk to. Binds 127.0.0.1:0 and
prints `listening 127.0.0.1 PORT` on stderr. The acceptor's keys come from
the keytab in KRB5_KTNAME (any principal in it, as the client names it).

Offers only method X'01'. Context establishment: token messages
(ver X'01', mtyp X'01', 2-byte length, token) until the context is up.
Protection subnegotiation (§4): the client's level arrives gss_wrap'ed in
an mtyp X'02' message; the server answers max(asked, --min-level) (or
--grant N whatever was asked), also wrapped. --abort answers the first token with X'01' X'FF' instead.
UDP ASSOCIATE is answered with a relay address and nothing more.
Then CONNECT (IPv4, name, IPv6): at levels 1 and 2 the request, the reply
and the stream both ways travel in mtyp X'03' messages holding gss_wrap
tokens (confidentiality at level 2). Each session appends a line
"PRINCIPAL LEVEL TARGET" (or "refused WHY") to the --log file."""
import argparse
import socket
import struct
import sys
import threading

import gssapi

P = argparse.ArgumentParser()
P.add_argument("--min-level", type=int, default=0)
P.add_argument("--abort", action="store_true")
P.add_argument("--grant", type=int, default=None)
P.add_argument("--log", default=None)
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

    def send(self, data):
        if self.level == 0:
            self.s.sendall(data)
            return
        for i in range(0, len(data), CHUNK):
            w = self.ctx.wrap(data[i:i + CHUNK], self.level == 2)
            if self.level == 2 and not w.encrypted:
                raise ValueError("not encrypted")
            send_msg(self.s, 3, w.message)

    def recv(self):
        """Some bytes, or b"" at the end."""
        if self.level == 0:
            return self.s.recv(65536)
        try:
            tok = recv_msg(self.s, 3)
        except EOFError:
            return b""
        u = self.ctx.unwrap(tok)
        if self.level == 2 and not u.encrypted:
            raise ValueError("a message came unencrypted at level 2")
        return u.message

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
    return ver, cmd, host, port


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
            # UDP ASSOCIATE: said yes to (relay 127.0.0.1:9, nothing
            # relayed), so that a client shows what it does next
            ch.send(b"\x05\x00\x00\x01\x7f\x00\x00\x01\x00\x09")
            log("%s %d udp" % (ctx.initiator_name, level))
            while ch.recv():
                pass
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
    print("listening 127.0.0.1 %d" % ls.getsockname()[1], file=sys.stderr, flush=True)
    while True:
        c, _ = ls.accept()
        threading.Thread(target=session, args=(c,), daemon=True).start()


main()
