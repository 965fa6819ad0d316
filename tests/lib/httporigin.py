#!/usr/bin/python3
"""An HTTP/1.1 origin for the forwarding tests (tests/httpfwd.bats): each
answer shape a proxy must frame and rewrite. Binds 127.0.0.1:0, prints
`listening 127.0.0.1 PORT` on stderr, serves until killed, one thread per
connection, keep-alive as HTTP/1.1 has it. Each connection accepted is a
line `connection PEERPORT` on stderr (tests count them), its end a line
`closed PEERPORT`.

  GET /chunked?n=N    N chunks of "chunk I\\n", Transfer-Encoding: chunked,
                      with hop-by-hop fields a proxy must drop: Keep-Alive,
                      Proxy-Authenticate, Upgrade-less "Connection: X-Hop",
                      X-Hop, Trailer, Proxy-Connection
  GET /close          an HTTP/1.0-style answer: no length, ends with the close
  GET /nobody?s=204   an answer without a body (204, 304)
  GET /headers        the request head as received, as the body
  GET /peer           "PEERPORT\n": the port the proxy's connection comes from
                      (the same on a connection used again)
  GET /bye            "bye\n" with Content-Length and no Connection: close,
                      then the connection closes at once (a server whose
                      keep-alive ran out just after the answer)
  POST /echo          the body's sha256 and length ("SHA LEN"); takes
                      Content-Length or chunked; Expect: 100-continue gets
                      "100 Continue" first (http.server does that for 1.1)
  anything else       404
"""
import hashlib
import http.server
import sys
import urllib.parse


class Origin(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def setup(self):
        super().setup()
        sys.stderr.write("connection %d\n" % self.client_address[1])
        sys.stderr.flush()

    def finish(self):
        super().finish()
        sys.stderr.write("closed %d\n" % self.client_address[1])
        sys.stderr.flush()

    def send_body(self, body, ctype="text/plain"):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length", "0"))
        return self.rfile.read(n) if n else b""

    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(u.query)
        if u.path == "/chunked":
            n = int(q.get("n", ["3"])[0])
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Connection", "X-Hop")
            self.send_header("X-Hop", "secret")
            self.send_header("Keep-Alive", "timeout=5")
            self.send_header("Proxy-Authenticate", "Basic realm=\"origin\"")
            self.send_header("Proxy-Connection", "keep-alive")
            self.send_header("Trailer", "X-Sum")
            self.send_header("X-End-To-End", "kept")
            self.end_headers()
            for k in range(n):
                c = b"chunk %d\n" % k
                self.wfile.write(b"%x\r\n%s\r\n" % (len(c), c))
            self.wfile.write(b"0\r\n\r\n")
        elif u.path == "/close":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"until the close\n" * 100)
            self.close_connection = True
        elif u.path == "/nobody":
            self.send_response(int(q.get("s", ["204"])[0]))
            self.end_headers()
        elif u.path == "/peer":
            self.send_body(b"%d\n" % self.client_address[1])
        elif u.path == "/bye":
            self.send_body(b"bye\n")
            self.close_connection = True
        elif u.path == "/headers":
            head = self.requestline + "\r\n" + str(self.headers)
            self.send_body(head.encode("latin-1"))
        else:
            self.send_error(404)

    def do_HEAD(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", "12345")
        self.end_headers()

    def do_POST(self):
        if self.path != "/echo":
            self.send_error(404)
            return
        body = self.read_body()
        self.send_body(b"%s %d\n" % (hashlib.sha256(body).hexdigest().encode(), len(body)))


class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 1024
    daemon_threads = True


def main():
    srv = Server(("127.0.0.1", 0), Origin)
    sys.stderr.write("listening 127.0.0.1 %d\n" % srv.server_address[1])
    sys.stderr.flush()
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
