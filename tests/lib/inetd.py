"""inetd.py - runs `stp-serve --inetd ARGS` on one end of a socketpair (its
stdin and stdout, as inetd gives them) and speaks SOCKS5 on the other.

    inetd.py HOST PORT [ARGS...]

CONNECTs to HOST:PORT (numeric IPv4), sends "ping\\n" when the reply is
success, reads the answer until EOF, and prints one line:
    rep=N data=TEXT exit=S
N the SOCKS5 reply code, TEXT what came back (repr), S stp-serve's exit
status. stp-serve's stderr passes through to ours, or with INETD_STDERR=1
is the socket as well (classic inetd).
"""
import os
import socket
import struct
import subprocess
import sys


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        got = s.recv(n - len(b))
        if not got:
            raise EOFError("closed after %d of %d bytes" % (len(b), n))
        b += got
    return b


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    ours, theirs = socket.socketpair()
    # INETD_STDERR=1: stderr is the socket too, as classic inetd gives it
    err = theirs if os.environ.get("INETD_STDERR") == "1" else None
    p = subprocess.Popen(["stp-serve", "--inetd"] + sys.argv[3:],
                         stdin=theirs, stdout=theirs, stderr=err)
    theirs.close()
    ours.settimeout(10)
    ours.sendall(b"\x05\x01\x00")
    assert recv_exact(ours, 2) == b"\x05\x00"
    ours.sendall(b"\x05\x01\x00\x01" + socket.inet_aton(host) + struct.pack(">H", port))
    head = recv_exact(ours, 4)
    rep = head[1]
    recv_exact(ours, 6 if head[3] == 1 else 18)
    data = b""
    if rep == 0:
        ours.sendall(b"ping\n")
        ours.shutdown(socket.SHUT_WR)
        while True:
            got = ours.recv(65536)
            if not got:
                break
            data += got
    ours.close()
    print("rep=%d data=%r exit=%d" % (rep, data, p.wait(10)))


if __name__ == "__main__":
    main()
