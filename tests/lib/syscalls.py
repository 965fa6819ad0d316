#!/usr/bin/python3
"""syscalls.py - what stp-serve's first CONNECT session cost in system calls,
read from `strace -f -o FILE` of the server (tests/serve-syscalls.bats).

  syscalls.py STRACE     prints KEY=VALUE lines about the first session:
    cfd, tfd              the accepted client's fd, the target socket's fd
    first_after_accept    the first call after the accept (and its epoll
                          registration): read, epoll_wait, ...
    waits_to_reply        epoll_wait calls from the accept to the CONNECT reply
    calls_to_reply        system calls from the accept to the CONNECT reply
    ctl_cfd, ctl_tfd      the epoll_ctl operations on each fd, in order,
                          until it is closed (ADD,MOD,...)
    soerror_tfd           getsockopt(SO_ERROR) calls on the target's fd
                          before the reply
    setsockopt_cfd        setsockopt calls on the client's fd
    connected_at_once     1 when a second connect(2) on the target's fd,
                          before any epoll_wait, said it was connected
    waits_request_to_reply  epoll_wait calls from the read that brought the
                          request's last bytes to the CONNECT reply
    shutdown_cfd          shutdown calls on the client's fd (0 when its
                          close carries the FIN)
    eagain_end            reads of the client's or target's fd that said
                          EAGAIN, from the reply to the close of both fds
    soerror_end           getsockopt(SO_ERROR) calls from the reply to the
                          close of both fds
Memory management calls (mmap, brk, ...) are left out: the allocator's,
not the server's I/O. Exits 1 when the trace holds no whole session.
"""
import re
import sys

TS = r"(?:\d\d:\d\d:\d\d\.\d+\s+)?"  # strace -tt
CALL = re.compile(r"^(\d+)\s+" + TS + r"(\w+)\((.*)$")


MEMORY = ("mmap", "munmap", "mprotect", "madvise", "brk", "mremap")


def calls(path):
    """(name, args-and-result text) of each complete call, in order; a call
    strace split (<unfinished ...> / <... resumed>) is joined."""
    pending = {}
    out = []
    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            m = re.match(r"^(\d+)\s+" + TS + r"<\.\.\. (\w+) resumed>(.*)$", line)
            if m:
                pid, name, rest = m.groups()
                if pid in pending:
                    out.append((name, pending.pop(pid) + rest))
                continue
            m = CALL.match(line)
            if not m:
                continue
            pid, name, rest = m.groups()
            if rest.endswith("<unfinished ...>"):
                pending[pid] = rest[:-len("<unfinished ...>")]
                continue
            out.append((name, rest))
    # the allocator's calls (many more under ASan) are not the server's I/O
    return [c for c in out if c[0] not in MEMORY]


def result(rest):
    m = re.search(r"\)\s+=\s+(-?\d+)", rest)
    return int(m.group(1)) if m else None


def main():
    cs = calls(sys.argv[1])
    start = next((i for i, (n, r) in enumerate(cs)
                  if n == "accept4" and (result(r) or -1) >= 0), None)
    if start is None:
        print("no accept in the trace", file=sys.stderr)
        return 1
    cfd = result(cs[start][1])
    fdarg = lambda r: int(re.match(r"\s*(-?\d+)", r).group(1)) if re.match(r"\s*-?\d+", r) else None
    tfd = None
    reply = None
    for i in range(start + 1, len(cs)):
        n, r = cs[i]
        if n == "connect" and tfd is None:
            tfd = fdarg(r)
        if n in ("sendto", "write") and fdarg(r) == cfd and r.split(",", 1)[1].lstrip().startswith('"\\5\\0\\0'):
            reply = i
            break
    if reply is None or tfd is None:
        print("no CONNECT reply in the trace", file=sys.stderr)
        return 1
    # the first call after accept4 and the epoll registration of its fd
    j = start + 1
    while j < len(cs) and cs[j][0] == "epoll_ctl":
        j += 1
    ctl = {cfd: [], tfd: []}
    closed = set()
    for n, r in cs[start + 1:]:
        if n == "epoll_ctl":
            m = re.match(r"\s*\d+,\s*EPOLL_CTL_(\w+),\s*(\d+)", r)
            if m and int(m.group(2)) in ctl and int(m.group(2)) not in closed:
                ctl[int(m.group(2))].append(m.group(1))
        elif n == "close" and fdarg(r) in ctl:
            closed.add(fdarg(r))
            if len(closed) == 2:
                break
    span = cs[start + 1:reply]
    print("cfd=%d" % cfd)
    print("tfd=%d" % tfd)
    print("first_after_accept=%s%s" % (cs[j][0], "(%d)" % fdarg(cs[j][1]) if fdarg(cs[j][1]) is not None else ""))
    print("waits_to_reply=%d" % sum(1 for n, _ in span if n == "epoll_wait"))
    print("calls_to_reply=%d" % (len(span) + 2))
    print("ctl_cfd=%s" % ",".join(ctl[cfd]))
    print("ctl_tfd=%s" % ",".join(ctl[tfd]))
    print("soerror_tfd=%d" % sum(1 for n, r in span if n == "getsockopt" and fdarg(r) == tfd
                                 and "SO_ERROR" in r))
    print("setsockopt_cfd=%d" % sum(1 for n, r in cs[start + 1:] if n == "setsockopt" and fdarg(r) == cfd))
    conns = [r for n, r in span if n == "connect" and fdarg(r) == tfd]
    last_read = max((k for k in range(start + 1, reply) if cs[k][0] == "read" and
                     fdarg(cs[k][1]) == cfd and (result(cs[k][1]) or 0) > 0), default=start)
    print("waits_request_to_reply=%d" % sum(1 for n, _ in cs[last_read:reply] if n == "epoll_wait"))
    print("connected_at_once=%d" % (1 if len(conns) >= 2 and result(conns[1]) == 0 else 0))
    end = next((k for k in range(reply, len(cs)) if cs[k][0] == "close" and fdarg(cs[k][1]) in ctl
                and all(any(n2 == "close" and fdarg(r2) == f for n2, r2 in cs[reply:k + 1])
                        for f in ctl)), len(cs) - 1)
    tail = cs[reply:end + 1]
    print("shutdown_cfd=%d" % sum(1 for n, r in tail if n == "shutdown" and fdarg(r) == cfd))
    print("eagain_end=%d" % sum(1 for n, r in tail if n in ("read", "recvfrom") and fdarg(r) in ctl
                                and "EAGAIN" in r))
    print("soerror_end=%d" % sum(1 for n, r in tail if n == "getsockopt" and "SO_ERROR" in r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
