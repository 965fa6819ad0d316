#!/usr/bin/python3
"""UDP_BIND (X'D3', PROTOCOL.md) or MCAST (X'D4') on an RFC 1961 protected
session, from the RFCs with Python's gssapi package: the GSS-API exchange of
gssclient.py, then the STP command with the datagrams to and from the relay
endpoint sealed as RFC 1961 §5 says for UDP (X'01' X'03' LEN TOKEN, TOKEN =
gss_wrap(UDP header + data)). For tests/gss-dgram.bats: it can tamper with
a datagram or send it in clear, which stp's own clients never do.

  gssdgram.py [options] PROXYPORT TARGETHOST TARGETPORT

Each line of stdin is one datagram to TARGETHOST:TARGETPORT (an IPv4
address) through the relay and the external socket; each answer (from the
target, e.g. a UDP echo) is unwrapped and its data printed, one line each
('-' when none came within 3 s). Steps on stderr: level asked N granted M /
reply 0 / bound ADDR PORT. Exit 0 done, 5 a protocol failure or a refusal.
With --mcast, TARGETHOST:TARGETPORT is a multicast group the proxy joins
(DIRECTION both): each line goes to the group, and the answer is the
group's datagram that multicast loopback brings back.

Options:
  --level none|integrity|confidentiality   protection asked for
  --dgram-tamper N   flip a byte in the middle of datagram N's token (1 = first)
  --dgram-clear N    send datagram N unsealed whatever the level
  --mcast            MCAST instead of UDP_BIND
"""
import argparse
import socket
import struct
import sys

import gssapi

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from gssclient import LEVELS, Abort, Closed, echo_lines, first_token, negotiate, say

CMD_UDP_BIND = 0xD3
CMD_MCAST = 0xD4
OPT_DIRECTION = 5  # PROTOCOL.md §3: bit 0 receive, bit 1 send


def stp_request(s, enc, cmd, host, port, opts=b""):
    """An STP request (RFC 1928's + OPTLEN | OPTIONS) and its reply, both
    encapsulated: (REP, address, port); the reply's options read past."""
    req = bytes([5, cmd, 0, 1]) + socket.inet_aton(host) + struct.pack("!H", port)
    enc.send(s, req + struct.pack("!H", len(opts)) + opts)
    return stp_reply(s, enc)


def stp_reply(s, enc):
    r = enc.recv_exact(s, 4)
    say("reply %d" % r[1])
    if r[1] != 0:
        return r[1], None, None
    if r[3] != 1:
        raise ValueError("reply's address type %d" % r[3])
    r += enc.recv_exact(s, 4 + 2)
    (n,) = struct.unpack("!H", enc.recv_exact(s, 2))
    if n:
        enc.recv_exact(s, n)
    return 0, socket.inet_ntoa(r[4:8]), struct.unpack("!H", r[8:10])[0]


def setup(s, enc, a, u):
    """UDP_BIND (DST names our port: peers may send before we do) or MCAST
    (DST the group; DIRECTION both, so that multicast loopback brings our
    own datagrams back). Returns the relay endpoint, or None."""
    if a.mcast:
        code, raddr, rport = stp_request(s, enc, CMD_MCAST, a.thost, a.tport,
                                         struct.pack("!HHB", OPT_DIRECTION, 1, 3))
        return (raddr, rport) if code == 0 else None
    code, raddr, rport = stp_request(s, enc, CMD_UDP_BIND, "0.0.0.0", u.getsockname()[1])
    if code != 0:
        return None
    code, eaddr, eport = stp_reply(s, enc)  # the address any peer may send to
    if code != 0:
        return None
    say("bound %s %d" % (eaddr, eport))
    return (raddr, rport)


def datagrams(s, enc, a):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", 0))
    u.settimeout(3)
    relay = setup(s, enc, a, u)
    if relay is None:
        return 5
    hdr = b"\0\0\0\x01" + socket.inet_aton(a.thost) + struct.pack("!H", a.tport)
    return echo_lines(u, relay, enc, hdr, lambda i: i == a.dgram_clear,
                      lambda i: i == a.dgram_tamper)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--level", default="none", choices=sorted(LEVELS))
    p.add_argument("--dgram-tamper", type=int, default=0)
    p.add_argument("--dgram-clear", type=int, default=0)
    p.add_argument("--mcast", action="store_true")
    p.add_argument("port", type=int)
    p.add_argument("thost")
    p.add_argument("tport", type=int)
    a = p.parse_args()
    # what gssclient's negotiate() reads: a plain exchange, service rcmd@localhost
    a.service, a.host = "rcmd", "localhost"
    a.clear_level = a.length65535 = a.stop_mid = a.tamper = False
    ctx, tok = first_token(a)
    s = socket.create_connection(("127.0.0.1", a.port), timeout=60)
    try:
        enc = negotiate(s, a, ctx, tok)
        if enc is None:
            return 5
        return datagrams(s, enc, a)
    except (Abort, Closed) as e:
        say("closed by proxy", e)
        return 5
    except (ValueError, gssapi.exceptions.GSSError) as e:
        say("protocol failure:", e)
        return 5


if __name__ == "__main__":
    sys.exit(main())
