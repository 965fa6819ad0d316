#!/usr/bin/python3
"""A TCP peer that sends a file when the test says so.

  sendfile.py FILE GOFILE

Binds 127.0.0.1:0, prints `listening 127.0.0.1 PORT` on stderr, accepts one
connection and prints `accepted`, waits until GOFILE exists (at most 60 s:
exit 1 then), sends FILE, prints `sent N`, half-closes, reads (and ignores) what the
client sends until its EOF, and exits 0. It lets a test stop its client first
and have the bytes start flowing only then.
"""
import os
import socket
import sys
import time


def main():
    path, go = sys.argv[1], sys.argv[2]
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    sys.stderr.write("listening 127.0.0.1 %d\n" % ls.getsockname()[1])
    sys.stderr.flush()
    c, _ = ls.accept()
    ls.close()
    sys.stderr.write("accepted\n")
    sys.stderr.flush()
    deadline = time.monotonic() + 60
    while not os.path.exists(go):
        if time.monotonic() > deadline:
            sys.stderr.write("no %s within 60 s\n" % go)
            return 1
        time.sleep(0.02)
    n = 0
    with open(path, "rb") as f:
        while True:
            b = f.read(65536)
            if not b:
                break
            c.sendall(b)
            n += len(b)
    sys.stderr.write("sent %d\n" % n)
    sys.stderr.flush()
    # a half-close, then the client's EOF: a close with unread bytes would
    # be a reset that could cut what is still on its way
    c.shutdown(socket.SHUT_WR)
    c.settimeout(60)
    try:
        while c.recv(65536):
            pass
    except OSError:
        pass
    c.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
