# tests/lib/resolve.bash - helpers of tests/resolve.bats: a dnsmasq with the
# suite's records, a resolver that never answers, an echo server on ::1,
# and hand-made clients for the DNS channel and FEATURES (Python, inline).

BIG_TXT=$(printf 'x%.0s' $(seq 1 200))

# start_resolve_dns: dnsmasq on 127.0.0.1 with A, AAAA, TXT, MX and PTR
# records under .test (other .test names: NXDOMAIN). Exports DNS_PORT.
start_resolve_dns() {
	start_dnsmasq --local=/test/ \
		--host-record=both.test,127.0.0.1,::1 \
		--host-record=web.test,127.0.0.1 \
		--host-record=v6.test,::1 \
		--address=/v4.test/127.0.0.2 \
		--txt-record=txt.test,"hello world","second string" \
		--txt-record=big.test,"$BIG_TXT","$BIG_TXT","$BIG_TXT" \
		--mx-host=mx.test,mail.test,10 \
		--ptr-record=10.2.0.192.in-addr.arpa,host10.test \
		"$@"
}

# start_blackhole_dns: a "resolver" on UDP and TCP that reads queries and
# never answers. Exports BLACKHOLE_PORT.
start_blackhole_dns() {
	start_bg blackhole "$PY" -c '
import socket, sys, threading, time
# one port for both protocols: the UDP one the kernel picks may be taken
# for TCP (a connection of another test), so try again, a bounded number of times
for attempt in range(100):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", 0))
    port = u.getsockname()[1]
    t = socket.socket()
    t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        t.bind(("127.0.0.1", port))
        break
    except OSError:
        t.close()
        u.close()
else:
    sys.exit("no port free for both UDP and TCP")
t.listen(64)
held = []
def acc():
    while True:
        c, _ = t.accept()
        held.append(c)
threading.Thread(target=acc, daemon=True).start()
print("listening 127.0.0.1 %d" % port, file=sys.stderr, flush=True)
while True:
    u.recvfrom(65535)
'
	BLACKHOLE_PORT=$(_listen_port blackhole) || return 1
	export BLACKHOLE_PORT
}

# start_v6_echo: an echo server on [::1] only. Exports V6_ECHO_PORT.
start_v6_echo() {
	start_bg v6echo "$PY" -c '
import socket, sys, threading
s = socket.socket(socket.AF_INET6)
s.bind(("::1", 0))
s.listen(64)
print("listening ::1 %d" % s.getsockname()[1], file=sys.stderr, flush=True)
def serve(c):
    while True:
        d = c.recv(65536)
        if not d:
            break
        c.sendall(d)
    c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
'
	local line
	line=$(wait_for_line "$BATS_TEST_TMPDIR/v6echo.err" '^listening ::1 [0-9]+$') || return 1
	V6_ECHO_PORT=${line##* }
	export V6_ECHO_PORT
}

# dns_py PORT SCENARIO: a SOCKS5 client of stp-serve on 127.0.0.1:PORT
# that opens the DNS channel and runs SCENARIO, printing one line per
# answer or event:
#   malformed  garbage, LEN 0, a header whose question is cut off, another
#              opcode, then a good query; then a frame cut off by EOF
#   many N     N queries (IDs 1..N) sent at once; prints "ids OK" when every
#              ID came back exactly once, each with an answer
dns_py() {
	"$PY" - "$@" <<'EOF'
import os, socket, struct, sys
port, scen = int(sys.argv[1]), sys.argv[2]
T = 10.0 * (4 if os.environ.get("STP_SANITIZE") else 1)
s = socket.create_connection(("127.0.0.1", port), timeout=T)
def rx(n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            return None
        b += c
    return b
s.sendall(b"\x05\x01\x00")
assert rx(2) == b"\x05\x00"
s.sendall(b"\x05\xd5\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00")
r = rx(12)
print("reply %d optlen %d" % (r[1], struct.unpack(">H", r[10:12])[0]), flush=True)
def q(qid, name, qtype=1, flags=0x0100):
    m = struct.pack(">HHHHHH", qid, flags, 1, 0, 0, 0)
    for l in name.split("."):
        m += bytes([len(l)]) + l.encode()
    m += b"\x00" + struct.pack(">HH", qtype, 1)
    return m
def frame(m):
    return struct.pack(">H", len(m)) + m
def answer():
    h = rx(2)
    if h is None:
        return None
    return rx(struct.unpack(">H", h)[0])
def show(m):
    qid, fl, qd, an = struct.unpack(">HHHH", m[:8])
    print("answer id %d rcode %d an %d" % (qid, fl & 15, an), flush=True)
if scen == "malformed":
    s.sendall(frame(b"garbage"))                         # shorter than a header: dropped
    s.sendall(b"\x00\x00")                               # LEN 0: dropped
    s.sendall(frame(struct.pack(">HHHHHH", 7, 0x0100, 1, 0, 0, 0) + b"\x05ab"))  # cut question
    show(answer())
    s.sendall(frame(q(8, "both.test", flags=0x2100)))    # opcode 4 (NOTIFY)
    show(answer())
    s.sendall(frame(bytes(range(256)) * 3))              # long garbage, QR clear
    show(answer())
    s.sendall(frame(q(9, "both.test")))
    show(answer())
    s.sendall(struct.pack(">H", 100) + b"\x00" * 20)    # cut off by EOF
    s.shutdown(socket.SHUT_WR)
    print("closed" if answer() is None else "more", flush=True)
elif scen == "many":
    n = int(sys.argv[3])
    s.sendall(b"".join(frame(q(i, "both.test" if i % 2 else "txt.test", 1 if i % 2 else 16))
                       for i in range(1, n + 1)))
    seen = {}
    for _ in range(n):
        m = answer()
        if m is None:
            break
        qid, fl, qd, an = struct.unpack(">HHHH", m[:8])
        if (fl & 15) == 0 and an >= 1:
            seen[qid] = seen.get(qid, 0) + 1
    ok = sorted(seen) == list(range(1, n + 1)) and all(v == 1 for v in seen.values())
    print("ids OK" if ok else "ids BAD %d answered" % len(seen), flush=True)
EOF
}

# features_py PORT: prints the FEATURES tokens of stp-serve on PORT.
features_py() {
	"$PY" - "$1" <<'EOF'
import socket, struct, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
def rx(n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise SystemExit("closed")
        b += c
    return b
s.sendall(b"\x05\x01\x00")
rx(2)
s.sendall(b"\x05\xd0\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00")
h = rx(4)
rx({1: 6, 4: 18}[h[3]])
opts = rx(struct.unpack(">H", rx(2))[0])
while opts:
    kind, ln = struct.unpack(">HH", opts[:4])
    if kind == 16:
        print(opts[4:4 + ln].decode())
    opts = opts[4 + ln:]
EOF
}

# bnd_py PORT HOST TPORT: SOCKS5 CONNECT to HOST:TPORT (a name) through
# PORT; prints "reply REP bnd ADDR" and, on success, "echo DATA" after one
# round trip.
bnd_py() {
	"$PY" - "$@" <<'EOF'
import ipaddress, socket, struct, sys
port, host, tport = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
s = socket.create_connection(("127.0.0.1", port), timeout=10)
def rx(n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise SystemExit("closed")
        b += c
    return b
s.sendall(b"\x05\x01\x00")
rx(2)
s.sendall(b"\x05\x01\x00\x03" + bytes([len(host)]) + host.encode() + struct.pack(">H", tport))
h = rx(4)
a = rx({1: 4, 4: 16}[h[3]])
rx(2)
print("reply %d bnd %s" % (h[1], ipaddress.ip_address(a)), flush=True)
if h[1] == 0:
    s.sendall(b"ping")
    print("echo %s" % rx(4).decode(), flush=True)
EOF
}
