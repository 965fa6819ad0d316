#!/usr/bin/python3
"""authsrv.py COUNTFILE [USER:PASSWORD ...] - a backend authentication
server for stp-serve --auth-url. Binds 127.0.0.1:0, prints `listening HOST
PORT` on stderr once it accepts, and answers each POST of
{"user":..,"password":..,"client":..} with 200 when the pair is one of the
arguments, else 403. A user named "broken" gets 500, a user named "slow" an
answer after 30 s. Every request is counted: COUNTFILE holds the number of
requests so far, and each request is appended as one line
"USER CLIENT STATUS" to COUNTFILE.log (never the password)."""
import http.server
import json
import sys
import threading
import time

COUNT = sys.argv[1]
USERS = dict(a.split(":", 1) for a in sys.argv[2:])
LOCK = threading.Lock()
N = [0]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        status = 400
        user = client = "-"
        try:
            req = json.loads(body)
            if self.headers.get("Content-Type") != "application/json":
                raise ValueError("content type")
            user, password, client = req["user"], req["password"], req["client"]
            if user == "broken":
                status = 500
            elif user == "slow":
                # a backend that does not answer in time: the server's
                # --auth-timeout must fire first (this sleep is the case)
                time.sleep(30)
                status = 200
            else:
                status = 200 if USERS.get(user) == password else 403
        except (ValueError, KeyError, TypeError):
            status = 400
        with LOCK:
            N[0] += 1
            with open(COUNT + ".log", "a") as f:
                f.write("%s %s %d\n" % (user, client, status))
            with open(COUNT + ".tmp", "w") as f:
                f.write("%d\n" % N[0])
            import os
            os.replace(COUNT + ".tmp", COUNT)
        out = b"{}"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


def main():
    with open(COUNT, "w") as f:
        f.write("0\n")
    srv = Server(("127.0.0.1", 0), Handler)
    sys.stderr.write("listening 127.0.0.1 %d\n" % srv.server_address[1])
    sys.stderr.flush()
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
