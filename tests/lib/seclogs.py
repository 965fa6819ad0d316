#!/usr/bin/python3
"""Hand-made clients and a resetting peer for tests/sec-logs.bats: requests
whose user names, userids and target names carry bytes a log must not
write raw. Each client prints one result line; exit 3 when the proxy
cannot be reached.

  seclogs.py auth5 PORT USER_HEX
        SOCKS5 greeting offering user/password, then RFC 1929 with the user
        given as hex bytes and a wrong password; prints "auth STATUS" (or
        "closed").
  seclogs.py socks4 PORT TPORT USERID_HEX NBYTES
        SOCKS4 CONNECT to 127.0.0.1:TPORT with that USERID; sends NBYTES
        and reads as many back (an echo server); prints "reply CD echo N".
  seclogs.py socks4a PORT NAME_HEX TPORT USERID_HEX
        SOCKS4a CONNECT to the name (hex bytes); prints "reply CD".
  seclogs.py name5 PORT NAME_HEX TPORT
        SOCKS5 CONNECT to the name (hex bytes, ATYP 3); prints "reply REP".
  seclogs.py reset-peer NBYTES
        listens on 127.0.0.1:0 (prints "listening 127.0.0.1 PORT" on
        stderr); for each connection reads one line, sends NBYTES and
        closes with SO_LINGER 0: a reset in the middle of a transfer.
"""
import os
import socket
import struct
import sys
import threading

from sockstest import conn, recv_exact


def auth5(port, user_hex):
    user = bytes.fromhex(user_hex)
    s = conn(port)
    s.sendall(b"\x05\x01\x02")
    if recv_exact(s, 2) != b"\x05\x02":
        print("closed")
        return
    s.sendall(b"\x01" + bytes([len(user)]) + user + b"\x05wrong")
    r = recv_exact(s, 2)
    print("auth %d" % r[1] if len(r) == 2 else "closed")


def socks4(port, tport, userid_hex, nbytes):
    s = conn(port)
    s.sendall(struct.pack(">BBH4s", 4, 1, int(tport), socket.inet_aton("127.0.0.1")) +
              bytes.fromhex(userid_hex) + b"\0")
    r = recv_exact(s, 8)
    if len(r) < 8:
        print("closed")
        return
    data = os.urandom(int(nbytes))
    s.sendall(data)
    back = recv_exact(s, len(data))
    print("reply %d echo %d" % (r[1], len(back) if back == data else -1))
    s.close()


def socks4a(port, name_hex, tport, userid_hex):
    s = conn(port)
    s.sendall(struct.pack(">BBH4s", 4, 1, int(tport), b"\0\0\0\1") +
              bytes.fromhex(userid_hex) + b"\0" + bytes.fromhex(name_hex) + b"\0")
    r = recv_exact(s, 8)
    print("reply %d" % r[1] if len(r) == 8 else "closed")


def name5(port, name_hex, tport):
    name = bytes.fromhex(name_hex)
    s = conn(port)
    s.sendall(b"\x05\x01\x00")
    if recv_exact(s, 2) != b"\x05\x00":
        print("closed")
        return
    s.sendall(b"\x05\x01\x00\x03" + bytes([len(name)]) + name + struct.pack(">H", int(tport)))
    r = recv_exact(s, 2)
    print("reply %d" % r[1] if len(r) == 2 else "closed")


def reset_one(c, nbytes):
    f = c.makefile("rb")
    f.readline()
    c.sendall(b"x" * nbytes)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()


def reset_peer(nbytes):
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(16)
    sys.stderr.write("listening 127.0.0.1 %d\n" % ls.getsockname()[1])
    sys.stderr.flush()
    while True:
        c, _ = ls.accept()
        threading.Thread(target=reset_one, args=(c, int(nbytes)), daemon=True).start()


def main():
    cmds = {"auth5": auth5, "socks4": socks4, "socks4a": socks4a, "name5": name5,
            "reset-peer": reset_peer}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.stderr.write(__doc__)
        sys.exit(2)
    cmds[sys.argv[1]](*sys.argv[2:])


if __name__ == "__main__":
    main()
