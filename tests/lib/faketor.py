#!/usr/bin/python3
"""A stand-in for Tor's SocksPort with ExtendedErrors (tor is not in the
test dependencies): answers a SOCKS5 greeting with "no authentication",
reads the request and refuses it with the extended reply X'F1' ("onion
service descriptor is invalid") that only Tor sends, then closes. Binds
127.0.0.1:0 and prints `listening 127.0.0.1 PORT` on stderr.

  faketor.py [REPLY_HEX]    reply code, default f1
"""
import socket
import socketserver
import sys

REP = int(sys.argv[1], 16) if len(sys.argv) > 1 else 0xF1


def read_exact(s, n):
    b = b""
    while len(b) < n:
        k = s.recv(n - len(b))
        if not k:
            raise EOFError
        b += k
    return b


class Tor(socketserver.BaseRequestHandler):
    def handle(self):
        s = self.request
        try:
            ver, nm = read_exact(s, 2)
            read_exact(s, nm)
            s.sendall(b"\x05\x00")
            ver, cmd, rsv, atyp = read_exact(s, 4)
            if atyp == 1:
                read_exact(s, 4 + 2)
            elif atyp == 4:
                read_exact(s, 16 + 2)
            else:
                (n,) = read_exact(s, 1)
                read_exact(s, n + 2)
            s.sendall(bytes([5, REP, 0, 1, 0, 0, 0, 0, 0, 0]))
        except (EOFError, OSError):
            pass


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


srv = Server(("127.0.0.1", 0), Tor)
sys.stderr.write("listening 127.0.0.1 %d\n" % srv.server_address[1])
sys.stderr.flush()
srv.serve_forever()
