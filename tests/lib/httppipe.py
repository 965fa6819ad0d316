#!/usr/bin/python3
"""Pipelined proxy requests on one connection, for tests/httpfwd.bats:
sends every request in one write, then reads the answers in order with
http.client's parser and prints one line per answer, "STATUS LENGTH
CONNECTION" (LENGTH the body bytes read, CONNECTION the answer's Connection
field or "-"), then "closed" or "open" for the connection after the last.

  httppipe.py PROXYPORT METHOD URL [METHOD URL ...]

The last request carries "Connection: close" unless its METHOD ends in +
(then the connection is left open: "open" when the proxy keeps it).
"""
import http.client
import io
import socket
import sys


class NoClose(io.BufferedReader):
    """http.client closes its file after each answer: not this one."""

    def close(self):
        pass


class OneFile:
    """A socket stand-in whose makefile() is always the same buffered file,
    so that bytes of the next answer read ahead stay for it."""

    def __init__(self, f):
        self.f = f

    def makefile(self, *a, **kw):
        return self.f


def main():
    port = int(sys.argv[1])
    reqs = list(zip(sys.argv[2::2], sys.argv[3::2]))
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    out = b""
    for k, (method, url) in enumerate(reqs):
        last = k == len(reqs) - 1
        keep = method.endswith("+")
        method = method.rstrip("+")
        host = url.split("/")[2]
        out += b"%s %s HTTP/1.1\r\nHost: %s\r\n" % (method.encode(), url.encode(), host.encode())
        if last and not keep:
            out += b"Connection: close\r\n"
        out += b"\r\n"
    s.sendall(out)
    f = NoClose(socket.SocketIO(s, "rb"))
    for method, _ in reqs:
        r = http.client.HTTPResponse(OneFile(f), method=method.rstrip("+"))
        r.begin()
        body = r.read()
        print(r.status, len(body), r.getheader("Connection", "-"))
    s.settimeout(5)
    try:
        print("closed" if f.read(1) == b"" else "more bytes")
    except socket.timeout:
        print("open")


if __name__ == "__main__":
    main()
