#!/usr/bin/python3
"""An HTTPS file server for tests/httpsrv.bats: serves DIR over TLS with
CERT and KEY on 127.0.0.1:0 and prints `listening 127.0.0.1 PORT` on
stderr once it accepts.

  httpspeer.py CERT KEY DIR
"""
import http.server
import ssl
import sys


class Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 128
    daemon_threads = True


def main():
    cert, key, d = sys.argv[1:4]
    srv = Server(("127.0.0.1", 0), lambda *a, **kw: Handler(*a, directory=d, **kw))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    sys.stderr.write("listening 127.0.0.1 %d\n" % srv.server_address[1])
    sys.stderr.flush()
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


main()
