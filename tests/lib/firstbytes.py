#!/usr/bin/python3
"""Peers whose bytes come first, for tests/wrap.bats: a wrapped program
must find them intact on its socket right after the proxy's reply, however
the reply and they arrive (nothing lost, nothing twice).

  firstbytes.py banner HOST PORT   writes the payload the moment it accepts
                                   (a server-first protocol: an SSH or SMTP
                                   banner), then closes
  firstbytes.py socks HOST PORT    a SOCKS5 server (no authentication) that
                                   answers CONNECT with its reply and the
                                   payload in ONE send, as if the target's
                                   banner had come with the reply in one
                                   segment; the BND address type is chosen
                                   by the port asked for: 1 IPv4, 2 IPv6,
                                   3 a name, else IPv4

Each prints "listening HOST PORT" on stderr once it accepts and serves
until killed, one thread per connection.

payload() is the bytes both send; the wrapped reader in wrap.bats imports
it (PYTHONPATH=tests/lib) to compare what it read.
"""
import socket
import socketserver
import struct
import sys


def payload():
    """A banner line and 64 KiB of a pattern that repeats every 251 bytes
    (so a lost or repeated stretch shifts it and shows)."""
    return b"SSH-2.0-firstbytes\r\n" + bytes(i % 251 for i in range(65536))


def read_exact(s, n):
    got = b""
    while len(got) < n:
        b = s.recv(n - len(got))
        if not b:
            raise EOFError("peer closed")
        got += b
    return got


class Banner(socketserver.BaseRequestHandler):
    def handle(self):
        try:
            self.request.sendall(payload())
            self.request.shutdown(socket.SHUT_WR)
            # until the client closes: a close with unread bytes would reset
            while self.request.recv(4096):
                pass
        except OSError:
            pass


BOUND = {
    1: b"\x01" + socket.inet_aton("10.91.0.1") + struct.pack(">H", 4001),
    2: b"\x04" + socket.inet_pton(socket.AF_INET6, "fd91::1") + struct.pack(">H", 4002),
    3: b"\x03" + bytes([len(b"bound.stp.test")]) + b"bound.stp.test" + struct.pack(">H", 4003),
}


class Socks(socketserver.BaseRequestHandler):
    def handle(self):
        s = self.request
        try:
            ver, n = read_exact(s, 2)
            methods = read_exact(s, n)
            if ver != 5 or 0 not in methods:
                s.sendall(b"\x05\xff")
                return
            s.sendall(b"\x05\x00")
            ver, cmd, _, atyp = read_exact(s, 4)
            if atyp == 1:
                read_exact(s, 4)
            elif atyp == 4:
                read_exact(s, 16)
            elif atyp == 3:
                read_exact(s, read_exact(s, 1)[0])
            else:
                return
            port = struct.unpack(">H", read_exact(s, 2))[0]
            if ver != 5 or cmd != 1:
                s.sendall(b"\x05\x07\x00\x01\0\0\0\0\0\0")
                return
            # the reply and the target's first bytes in one segment
            s.sendall(b"\x05\x00\x00" + BOUND.get(port, BOUND[1]) + payload())
            s.shutdown(socket.SHUT_WR)
            while s.recv(4096):
                pass
        except (OSError, EOFError, ValueError):
            pass


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main():
    kind, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if ":" in host:
        Server.address_family = socket.AF_INET6
    srv = Server((host, port), {"banner": Banner, "socks": Socks}[kind])
    sys.stderr.write("listening %s %d\n" % (host, srv.server_address[1]))
    sys.stderr.flush()
    srv.serve_forever()


if __name__ == "__main__":
    main()
