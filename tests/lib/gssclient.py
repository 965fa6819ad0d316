#!/usr/bin/python3
"""An independent SOCKS5 GSS-API client (RFC 1928 + RFC 1961), written from
the RFCs alone with Python's gssapi package (Debian python3-gssapi), to test
stp-serve's method X'01'. Uses the Kerberos ticket in $KRB5CCNAME.

  gssclient.py [options] PROXYPORT TARGETHOST TARGETPORT

Sends stdin to the target through the proxy (then half-closes) and writes
what comes back to stdout. Reports each step on stderr:
  method 01 / context established / level asked N granted M / reply 0
Exit: 0 done; 3 the proxy sent the abort message X'01' X'FF'; 4 the proxy
closed without it; 5 any other protocol failure; 6 the client's own
GSS-API failure (it sends the abort message then, as RFC 1961 §3 says).

Options:
  --service NAME      service of the proxy's principal (default rcmd)
  --host NAME         host of it (default localhost)
  --level none|integrity|confidentiality   protection asked for (default none)
  --clear-level       send the level octet unwrapped (NEC's form)
  --tamper            flip a byte in the middle of the first context token
  --length65535       send a context message that claims 65535 bytes, then 16
  --stop-mid          send half of the first context token, then wait for
                      the proxy to close (prints 'closed by proxy')
  --delay SECS        wait SECS between making the first token and connecting
  --tamper-data       at level 1 or 2, flip a byte in the middle of the first
                      encapsulated message's token after the reply (RFC 1961
                      §5: the proxy must refuse it); prints 'closed by proxy'
                      when the proxy then ends the session without data
  --cmd N             the SOCKS5 command (default 1, CONNECT); the reply code
                      is printed ('reply N') and the exit is 5 when it is not 0
  --udp               UDP ASSOCIATE instead, at the level negotiated: each
                      line of stdin is one datagram to TARGETHOST:TARGETPORT
                      (an IPv4 address) through the relay, sealed as RFC 1961
                      §5 says for UDP at level 1 or 2 (X'01' X'03' LEN TOKEN,
                      TOKEN = gss_wrap(UDP header + data)); each answer is
                      unwrapped and its data printed, one line each ('-' when
                      none came within 3 s)
  --udp-tamper        with --udp: flip a byte of the first datagram's token
  --udp-clear         with --udp: send the datagrams unsealed whatever the level
"""
import argparse
import socket
import struct
import sys

import gssapi

LEVELS = {"none": 0, "integrity": 1, "confidentiality": 2}


class Abort(Exception):
    pass


class Closed(Exception):
    pass


def say(*a):
    sys.stderr.write(" ".join(str(x) for x in a) + "\n")
    sys.stderr.flush()


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise Closed("closed after %d of %d bytes" % (len(b), n))
        b += c
    return b


def recv_msg(s, mtyp):
    """One RFC 1961 message of type mtyp: its token; Abort on X'FF'."""
    h = recv_exact(s, 2)
    if h[0] != 1:
        raise ValueError("version %d" % h[0])
    if h[1] == 0xFF:
        raise Abort()
    if h[1] != mtyp:
        raise ValueError("message type %d, expected %d" % (h[1], mtyp))
    (n,) = struct.unpack("!H", recv_exact(s, 2))
    return recv_exact(s, n)


def msg(mtyp, token):
    return struct.pack("!BBH", 1, mtyp, len(token)) + token


def wait_close(s):
    """Reads until the proxy closes; True if the last bytes were an abort."""
    s.settimeout(60)
    got = b""
    while True:
        c = s.recv(4096)
        if not c:
            return got.endswith(b"\x01\xff")
        got += c


class Encap:
    """RFC 1961 §5: every message after the subnegotiation is wrapped."""

    def __init__(self, ctx, level):
        self.ctx, self.level = ctx, level
        self.tamper = False  # the next message's token gets a byte flipped
        self.buf = b""    # wire bytes not yet unwrapped
        self.plain = b""  # unwrapped bytes not yet taken

    def send(self, s, data):
        if self.level == 0:
            s.sendall(data)
            return
        for i in range(0, len(data), 16384):
            w = self.ctx.wrap(data[i:i + 16384], self.level == 2).message
            if self.tamper:
                self.tamper = False
                t = bytearray(w)
                t[len(t) // 2] ^= 0x01
                w = bytes(t)
            s.sendall(msg(3, w))

    def recv(self, s, n=65536):
        """At most n plain bytes (b'' at EOF)."""
        if self.level == 0:
            return s.recv(n)
        if not self.plain:
            self.plain = self._unwrap_next(s)
        b, self.plain = self.plain[:n], self.plain[n:]
        return b

    def _unwrap_next(self, s):
        while True:
            if len(self.buf) >= 4:
                (ln,) = struct.unpack("!H", self.buf[2:4])
                if self.buf[0] != 1 or self.buf[1] != 3:
                    raise ValueError("not an encapsulated message")
                if len(self.buf) >= 4 + ln:
                    tok, self.buf = self.buf[4:4 + ln], self.buf[4 + ln:]
                    u = self.ctx.unwrap(tok)
                    if self.level == 2 and not u.encrypted:
                        raise ValueError("level 2 message not encrypted")
                    return u.message
            c = s.recv(65536)
            if not c:
                if self.buf:
                    raise Closed("EOF inside an encapsulated message")
                return b""
            self.buf += c

    def recv_exact(self, s, n):
        b = b""
        while len(b) < n:
            c = self.recv(s, n - len(b))
            if not c:
                raise Closed("closed in the reply")
            b += c
        return b


def first_token(a):
    """The context and its first token (the client's ticket at work)."""
    name = gssapi.Name("%s@%s" % (a.service, a.host), gssapi.NameType.hostbased_service)
    flags = [gssapi.RequirementFlag.mutual_authentication,
             gssapi.RequirementFlag.integrity,
             gssapi.RequirementFlag.confidentiality]
    ctx = gssapi.SecurityContext(name=name, usage="initiate", flags=flags)
    try:
        return ctx, ctx.step()
    except gssapi.exceptions.GSSError as e:
        say("gss init failed:", e.gen_message())
        return ctx, None


def negotiate(s, a, ctx, tok):
    s.sendall(b"\x05\x01\x01")
    m = recv_exact(s, 2)
    if m[1] != 1:
        say("method %02x" % m[1])
        return None
    say("method 01")
    if a.length65535:
        s.sendall(struct.pack("!BBH", 1, 1, 65535) + b"\0" * 16)
        raise Closed("abort" if wait_close(s) else "closed by proxy")
    if tok is None:
        # RFC 1961 §3: the side that fails sends the abort message
        s.sendall(b"\x01\xff")
        sys.exit(6)
    if a.tamper:
        t = bytearray(tok)
        t[len(t) // 2] ^= 0x5A
        tok = bytes(t)
    if a.stop_mid:
        s.sendall(msg(1, tok)[:4 + len(tok) // 2])
        raise Closed("abort" if wait_close(s) else "closed by proxy")
    rounds = 0
    while True:
        rounds += 1
        if rounds > 8:
            raise ValueError("too many rounds")
        if tok:
            s.sendall(msg(1, tok))
        if ctx.complete:
            break
        reply = recv_msg(s, 1)
        tok = ctx.step(reply)
    say("context established", str(ctx.initiator_name))
    want = LEVELS[a.level]
    if a.clear_level:
        s.sendall(msg(2, bytes([want])))
        got = recv_msg(s, 2)
    else:
        s.sendall(msg(2, ctx.wrap(bytes([want]), False).message))
        got = ctx.unwrap(recv_msg(s, 2)).message
    if len(got) != 1:
        raise ValueError("level answer of %d bytes" % len(got))
    say("level asked %d granted %d" % (want, got[0]))
    return Encap(ctx, got[0])


def request(s, enc, host, port, cmd=1):
    try:
        addr = b"\x01" + socket.inet_aton(host)
    except OSError:
        addr = b"\x03" + bytes([len(host)]) + host.encode()
    req = bytes([5, cmd, 0]) + addr + struct.pack("!H", port)
    if 0xD0 <= cmd <= 0xDF:
        req += b"\0\0"  # an STP command: an empty option block (OPTLEN 0)
    enc.send(s, req)
    r = enc.recv_exact(s, 4)
    if r[3] == 1:
        rest = 4 + 2
    elif r[3] == 4:
        rest = 16 + 2
    else:
        rest = enc.recv_exact(s, 1)[0] + 2
    r += enc.recv_exact(s, rest)
    # the reply may have come with data: keep what is past it
    say("reply %d" % r[1])
    request.last = r
    return r[1]


def udp(s, enc, a):
    """UDP ASSOCIATE: stdin's lines as datagrams, the answers on stdout."""
    if request(s, enc, "0.0.0.0", 0, 3) != 0:
        return 5
    r = request.last
    if r[3] != 1:
        raise ValueError("relay address type %d" % r[3])
    relay = (socket.inet_ntoa(r[4:8]), struct.unpack("!H", r[8:10])[0])
    if relay[0] == "0.0.0.0":
        relay = ("127.0.0.1", relay[1])
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.settimeout(3)
    hdr = b"\0\0\0\x01" + socket.inet_aton(a.thost) + struct.pack("!H", a.tport)
    return echo_lines(u, relay, enc, hdr, lambda i: a.udp_clear,
                      lambda i: a.udp_tamper and i == 1)


def seal(enc, d, tamper):
    """Datagram d as one encapsulated GSS-API message (RFC 1961 5), its
    token changed in one bit when tamper."""
    w = enc.ctx.wrap(d, enc.level == 2).message
    if tamper:
        t = bytearray(w)
        t[len(t) // 2] ^= 0x01
        w = bytes(t)
    return msg(3, w)


def unseal(enc, b):
    """The datagram inside the encapsulated message b."""
    if b[:2] != b"\x01\x03" or struct.unpack("!H", b[2:4])[0] != len(b) - 4:
        raise ValueError("answer not one encapsulated message")
    un = enc.ctx.unwrap(b[4:])
    if enc.level == 2 and not un.encrypted:
        raise ValueError("level 2 answer not encrypted")
    return un.message


def echo_lines(u, relay, enc, hdr, clear, tamper):
    """stdin's lines, each after the UDP header hdr, as datagrams from u to
    relay: sealed at a protection level unless clear(i), tampered when
    tamper(i) (i counts from 1); each answer's data on stdout, "-" for
    none within u's timeout."""
    out = sys.stdout
    for i, line in enumerate(sys.stdin.buffer.read().splitlines(), 1):
        d = hdr + line
        if enc.level and not clear(i):
            d = seal(enc, d, tamper(i))
        u.sendto(d, relay)
        try:
            b, _ = u.recvfrom(65535)
        except socket.timeout:
            out.write("-\n")
            out.flush()
            continue
        if enc.level:
            b = unseal(enc, b)
        if b[3] != 1:
            raise ValueError("answer's address type %d" % b[3])
        out.write(b[10:].decode(errors="replace") + "\n")
        out.flush()
    return 0


def relay(s, enc):
    data = sys.stdin.buffer.read()
    enc.send(s, data)
    s.shutdown(socket.SHUT_WR)
    out = sys.stdout.buffer
    while True:
        c = enc.recv(s)
        if not c:
            break
        out.write(c)
    out.flush()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--service", default="rcmd")
    p.add_argument("--host", default="localhost")
    p.add_argument("--level", default="none", choices=sorted(LEVELS))
    p.add_argument("--clear-level", action="store_true")
    p.add_argument("--tamper", action="store_true")
    p.add_argument("--length65535", action="store_true")
    p.add_argument("--stop-mid", action="store_true")
    p.add_argument("--delay", type=float, default=0)
    p.add_argument("--tamper-data", action="store_true")
    p.add_argument("--cmd", type=int, default=1)
    p.add_argument("--udp", action="store_true")
    p.add_argument("--udp-tamper", action="store_true")
    p.add_argument("--udp-clear", action="store_true")
    p.add_argument("port", type=int)
    p.add_argument("thost")
    p.add_argument("tport", type=int)
    a = p.parse_args()
    ctx, tok = first_token(a) if not a.length65535 else (None, None)
    if a.delay:
        # the token made now reaches the proxy late (a skewed or expired one)
        import time
        time.sleep(a.delay)
    s = socket.create_connection(("127.0.0.1", a.port), timeout=60)
    try:
        enc = negotiate(s, a, ctx, tok)
        if enc is None:
            return 5
        if a.udp:
            return udp(s, enc, a)
        rep = request(s, enc, a.thost, a.tport, a.cmd)
        if rep != 0:
            return 5
        if a.tamper_data and enc.level:
            enc.tamper = True
            try:
                relay(s, enc)
            except OSError:
                pass  # a reset, or the rest of stdin refused (EPIPE)
            say("closed by proxy")
            return 4
        relay(s, enc)
        return 0
    except Abort:
        say("abort from proxy")
        return 3
    except Closed as e:
        say(str(e))
        return 3 if str(e) == "abort" else 4
    except (ValueError, gssapi.exceptions.GSSError) as e:
        say("protocol failure:", e)
        return 5


if __name__ == "__main__":
    sys.exit(main())
