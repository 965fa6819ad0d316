#!/usr/bin/python3
"""Raw HTTP/1.1 requests to an HTTP proxy, for tests/httpsrv.bats: hostile
and malformed heads that no real client sends. Each prints the status line
of the answer (or "closed" when the connection ended without one) and, with
-v, the whole answer on stderr.

  httpraw.py PORT KIND [TARGET]

KIND: clte (Content-Length with Transfer-Encoding), twocl (two
Content-Lengths), obsfold (a folded header line), barelf (lines ending in
LF alone), bighead (1 MiB of headers), manyheaders (10 000 header fields),
slowloris (a request line that never ends: one byte a second until the
server answers or closes), connect (a plain CONNECT TARGET), get (GET
http://TARGET/hello.txt), origin (GET / as to a web server), spaces (a
request line with a NUL).
"""
import socket
import sys
import time


def build(kind, target):
    crlf = b"\r\n"
    host = target.encode()
    if kind == "clte":
        return (b"POST http://" + host + b"/ HTTP/1.1\r\nHost: " + host +
                b"\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    if kind == "twocl":
        return (b"POST http://" + host + b"/ HTTP/1.1\r\nHost: " + host +
                b"\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde")
    if kind == "obsfold":
        return (b"GET http://" + host + b"/ HTTP/1.1\r\nHost: " + host +
                b"\r\nX-Long: one\r\n two\r\n\r\n")
    if kind == "barelf":
        return b"GET http://" + host + b"/ HTTP/1.1\nHost: " + host + b"\n\n"
    if kind == "bighead":
        return (b"GET http://" + host + b"/ HTTP/1.1\r\nHost: " + host + crlf +
                b"X-Big: " + b"a" * (1 << 20) + b"\r\n\r\n")
    if kind == "manyheaders":
        return (b"GET http://" + host + b"/ HTTP/1.1\r\nHost: " + host + crlf +
                b"".join(b"X-H%d: v\r\n" % n for n in range(10000)) + crlf)
    if kind == "connect":
        return b"CONNECT " + host + b" HTTP/1.1\r\nHost: " + host + b"\r\n\r\n"
    if kind == "get":
        return (b"GET http://" + host + b"/hello.txt HTTP/1.1\r\nHost: " + host +
                b"\r\n\r\n")
    if kind == "origin":
        return b"GET / HTTP/1.1\r\nHost: " + host + b"\r\n\r\n"
    if kind == "nul":
        return b"GET http://" + host + b"/\x00 HTTP/1.1\r\n\r\n"
    raise SystemExit("httpraw.py: unknown kind " + kind)


def read_answer(s, deadline):
    data = b""
    while time.time() < deadline:
        try:
            b = s.recv(65536)
        except ConnectionResetError:
            break
        except socket.timeout:
            continue
        if not b:
            break
        data += b
    return data


def main():
    port, kind = int(sys.argv[1]), sys.argv[2]
    target = sys.argv[3] if len(sys.argv) > 3 else "127.0.0.1:9"
    verbose = "-v" in sys.argv
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.settimeout(1)
    deadline = time.time() + 60
    if kind == "slowloris":
        line = b"GET http://" + target.encode() + b"/" + b"a" * 200
        for ch in line:
            try:
                s.sendall(bytes([ch]))
            except (BrokenPipeError, ConnectionResetError):
                break
            try:
                b = s.recv(65536)
            except socket.timeout:
                continue
            except ConnectionResetError:
                b = b""
            data = b + read_answer(s, time.time() + 5) if b else b""
            break
        else:
            data = b""
    else:
        try:
            s.sendall(build(kind, target))
        except (BrokenPipeError, ConnectionResetError):
            pass
        data = read_answer(s, deadline)
    s.close()
    if verbose:
        sys.stderr.write(data.decode("latin-1"))
    if not data:
        print("closed")
    else:
        print(data.split(b"\r\n", 1)[0].decode("latin-1"))


main()
