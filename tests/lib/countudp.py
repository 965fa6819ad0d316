#!/usr/bin/python3
"""countudp.py - a UDP echo on 127.0.0.1 that also logs every datagram it
gets, so that a test can show that none arrived (tests/upstream-carry.bats).

  countudp.py    prints "listening 127.0.0.1 PORT" on stderr, then for
                 each datagram "datagram from ADDR PORT" on stdout (flushed)
                 and sends it back
"""
import socket
import sys


def main():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    print("listening 127.0.0.1 %d" % s.getsockname()[1], file=sys.stderr, flush=True)
    while True:
        data, addr = s.recvfrom(65535)
        print("datagram from %s %d" % addr, flush=True)
        s.sendto(data, addr)


if __name__ == "__main__":
    main()
