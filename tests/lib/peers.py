#!/usr/bin/python3
"""Small TCP peers for the bats suites. Each binds 127.0.0.1:0 (or --host H,
--port N), prints `listening HOST PORT` on stderr once it accepts, and serves
until killed. One thread per connection so that concurrent clients work.

  peers.py http DIR       HTTP/1.1 file server with a large listen backlog
  peers.py echo           sends back every byte; half-closes after client EOF
  peers.py digest         reads until EOF, then writes sha256 hex + "\\n", closes
  peers.py silent         accepts and never answers (holds the connection);
                          notes "silent: got N bytes" on stderr as they come
  peers.py greet-close    answers a SOCKS5 greeting with "no auth", then closes
                          on the request without any reply (like ssh -D on BIND)
  peers.py greet-hang     answers a SOCKS5 greeting with "no auth", then never
                          replies to the request (a proxy still reaching the
                          target)
  peers.py close          accepts and closes at once
  peers.py http-reply     answers the first bytes it gets with an HTTP 400
                          response and closes (like an HTTP proxy would)
"""
import hashlib
import http.server
import os
import socket
import socketserver
import sys
import threading


HOST = "127.0.0.1"


def announce(port):
    sys.stderr.write("listening %s %d\n" % (HOST, port))
    sys.stderr.flush()


class TCPServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 1024


def recv_all(sock):
    chunks = []
    while True:
        b = sock.recv(65536)
        if not b:
            return b"".join(chunks)
        chunks.append(b)


class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        s = self.request
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                s.sendall(b)
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass


class Digest(socketserver.BaseRequestHandler):
    def handle(self):
        s = self.request
        h = hashlib.sha256()
        n = 0
        try:
            while True:
                b = s.recv(262144)
                if not b:
                    break
                h.update(b)
                n += len(b)
            sys.stderr.write("digest %d %s\n" % (n, h.hexdigest()))
            sys.stderr.flush()
            s.sendall((h.hexdigest() + "\n").encode())
            s.shutdown(socket.SHUT_WR)
        except OSError as e:
            sys.stderr.write("digest error after %d bytes: %s\n" % (n, e))
            sys.stderr.flush()


class GreetHang(socketserver.BaseRequestHandler):
    def handle(self):
        s = self.request
        try:
            hdr = s.recv(2)
            if len(hdr) == 2 and hdr[0] == 5:
                got = b""
                while len(got) < hdr[1]:
                    b = s.recv(hdr[1] - len(got))
                    if not b:
                        return
                    got += b
                s.sendall(b"\x05\x00")
            while s.recv(65536):
                pass
        except OSError:
            pass


class Silent(socketserver.BaseRequestHandler):
    def handle(self):
        try:
            while True:
                b = self.request.recv(65536)
                if not b:
                    break
                sys.stderr.write("silent: got %d bytes\n" % len(b))
                sys.stderr.flush()
        except OSError:
            pass


class Close(socketserver.BaseRequestHandler):
    def handle(self):
        pass


class GreetClose(socketserver.BaseRequestHandler):
    def handle(self):
        s = self.request
        try:
            hdr = s.recv(2)
            if len(hdr) == 2 and hdr[0] == 5:
                need = hdr[1]
                got = b""
                while len(got) < need:
                    b = s.recv(need - len(got))
                    if not b:
                        return
                    got += b
                s.sendall(b"\x05\x00")
                s.recv(4)   # start of the request; then close without a reply
        except OSError:
            pass


class LateBanner(socketserver.BaseRequestHandler):
    """An SSH-like server whose banner comes late: only after the client
    has written (as a busy sshd's can)."""
    def handle(self):
        s = self.request
        try:
            if s.recv(4096):
                s.sendall(b"SSH-2.0-Late_0.1\r\n")
                while s.recv(4096):
                    pass
        except OSError:
            pass


class HTTPReply(socketserver.BaseRequestHandler):
    def handle(self):
        s = self.request
        try:
            if s.recv(4096):
                body = b"<html><body>400 Bad Request</body></html>\r\n"
                s.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\n"
                          b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
                          + body)
        except OSError:
            pass


class HTTPHandler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass


class HTTPServer(http.server.ThreadingHTTPServer):
    request_queue_size = 1024
    daemon_threads = True


def main():
    global HOST
    args = sys.argv[1:]
    port = 0
    while len(args) >= 2 and args[0] in ("--port", "--host"):
        if args[0] == "--port":
            port = int(args[1])
        else:
            HOST = args[1]
        args = args[2:]
    if ":" in HOST:
        TCPServer.address_family = socket.AF_INET6
        HTTPServer.address_family = socket.AF_INET6
    kind = args[0]
    if kind == "http":
        d = args[1]
        handler = lambda *a, **kw: HTTPHandler(*a, directory=d, **kw)
        srv = HTTPServer((HOST, port), handler)
    else:
        handler = {"echo": Echo, "digest": Digest, "silent": Silent,
                   "close": Close, "greet-close": GreetClose, "greet-hang": GreetHang,
                   "http-reply": HTTPReply, "late-banner": LateBanner}[kind]
        srv = TCPServer((HOST, port), handler)
    announce(srv.server_address[1])
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
