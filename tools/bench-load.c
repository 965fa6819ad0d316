/*
 * bench-load - load generator for tools/bench (stp, Secure Transport Proxy).
 *
 * One process, one epoll loop, non-blocking sockets, no threads.  It hosts
 * its own targets on loopback (sink, source, echo) so that the proxy under
 * test is the only third party; for `idle` the echo targets run in a forked
 * child so that each process holds only one side of every session.
 *
 *   bench-load throughput [--streams N] [--bytes TOTAL] [--direction up|down]
 *                         [--proxy HOST:PORT] [--server NAME] [--timeout S]
 *   bench-load connrate   [--clients N] [--seconds S] [--proxy HOST:PORT] ...
 *   bench-load idle       --sessions N [--proxy HOST:PORT] [--parallel W]
 *                         [--hold S] ...
 *
 * Through a proxy each stream does the SOCKS5 no-auth greeting and a CONNECT
 * (ATYP 1) to the internal target (with --proxy-v2 1 after a PROXY v2 header
 * naming the stream's own address, as a balancer writes it; with
 * --http-connect 1: an HTTP CONNECT,
 * expecting the answer stp-serve gives); without --proxy it connects directly (the
 * physical reference).  Every figure is printed as one human line and one
 * machine-readable line starting with "BENCH ".  Every loop is bounded in
 * time (--timeout); a run that cannot finish exits with status 1.
 *
 * Build: gcc -O2 -Wall -Wextra -Werror -D_GNU_SOURCE -o build/bench-load \
 *            tools/bench-load.c
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

/* Pattern: a pseudo-random block of PAT_LEN bytes (a prime, so a shift or
 * reordering by anything but a multiple of ~1 MB is caught), stored twice so
 * that any offset has PAT_LEN contiguous bytes.  Stream i reads the pattern
 * from offset shift(i), so bytes of two streams mixed up are caught too. */
#define PAT_LEN   1000003u
#define CHUNK     (256u * 1024u)
#define NECHO     8          /* echo target ports, to spread 4-tuples */
#define NSRC      16         /* client source addresses 127.0.0.1..16 */
#define HDR_LEN   16         /* stream header: "STPB" id(4) len(8) */
#define MAX_SAMPLES (8u * 1024u * 1024u)

enum mode { M_THROUGHPUT, M_CONNRATE, M_IDLE };

enum kind {
	K_LSINK, K_LSOURCE, K_LECHO,   /* listeners */
	K_SINK, K_SOURCE, K_ECHO,      /* accepted target sides */
	K_CLIENT,                      /* client side, through the proxy */
	K_SIGNAL, K_STDIN,             /* idle hold */
};

enum cstate {
	C_CONNECTING, C_HREQ, C_HREPLY, C_GREET, C_METHOD, C_REQ, C_REPLY_HDR, C_REPLY_DLEN,
	C_REPLY_ADDR, C_HDR_OUT, C_READY, C_SENDING, C_SENT, C_RECEIVING,
	C_ECHO_OUT, C_ECHO_IN, C_HELD, C_DONE,
};

enum tstate { T_HDR, T_PAYLOAD, T_ECHO };

struct conn {
	int fd;
	uint8_t kind;
	uint8_t state;
	uint8_t need, have;       /* exact reads of handshake messages */
	uint8_t out_len, out_off; /* small queued output */
	uint16_t elen, eoff;      /* echo pending */
	uint32_t idx;             /* stream / slot / session index */
	uint64_t len, off, shift; /* payload */
	double t0;
	unsigned char hs[48];     /* room for the HTTP CONNECT answer */
	unsigned char out[48];    /* ... and request */
	unsigned char eb[64];
	struct conn *prev, *next;  /* list of accepted target sides */
};

/* ---- configuration ---- */
static enum mode mode;
static int use_proxy;
static int use_http;      /* --http-connect 1: HTTP CONNECT instead of SOCKS5 */
static int use_pp2;       /* --proxy-v2 1: a PROXY v2 header (TCP4) before the
			     greeting, as a balancer's send-proxy-v2 writes it */
/* the one answer stp-serve gives a CONNECT that succeeded */
static const char http_ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
static struct sockaddr_in proxy_sa;
static const char *server_name;
static int nstreams = 1;
static uint64_t total_bytes = 2147483648ull; /* 2 GiB */
static int dir_down;
static int nclients = 64;
static double run_seconds = 5.0;
static int nsessions = 10000;
static int parallel = 128;
static double timeout_s = -1;
static double hold_s = 900;

/* ---- state ---- */
static int ep = -1;
static unsigned char *pat2;
static unsigned char *rxbuf;
static struct sockaddr_in sink_sa, source_sa, echo_sa[NECHO];
static double deadline;
static struct conn *targets;       /* accepted target sides, still open */

/* throughput */
static uint64_t *stream_len;
static unsigned char *stream_seen;
static struct conn **clients;
static int nready, nstreams_done;
static double t_first_rx, t_last_rx;
static int any_rx;
static uint64_t bytes_rx;

/* connrate / idle */
static int stop_starting;
static int active;
static uint64_t completed, errors, attempts;
static float *samples;
static size_t nsamples;
static double t_run_start, t_last_done;
static unsigned echo_rr;
static int next_session, established, dropped;
static struct conn *sess;          /* idle: all sessions */
static int released;
static int nclosed;
static int go_payload;

static double now(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0) {
		perror("bench-load: clock_gettime");
		exit(1);
	}
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;
	fflush(stdout);
	fputs("bench-load: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void die_errno(const char *what)
{
	die("%s: %s", what, strerror(errno));
}

static void *xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n, sz);
	if (!p)
		die("out of memory");
	return p;
}

static const char *label(void)
{
	if (server_name)
		return server_name;
	return use_proxy ? "proxy" : "direct";
}

/* ---- pattern ---- */
static void make_pattern(void)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;
	pat2 = malloc(2u * PAT_LEN);
	rxbuf = malloc(CHUNK);
	if (!pat2 || !rxbuf)
		die("out of memory");
	for (uint32_t i = 0; i < PAT_LEN; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		pat2[i] = (unsigned char)(x >> 32);
	}
	memcpy(pat2 + PAT_LEN, pat2, PAT_LEN);
}

static uint64_t stream_shift(uint32_t id)
{
	return ((uint64_t)id + 1) * 104729u % PAT_LEN;
}

/* ---- epoll helpers ---- */
static void ep_add(struct conn *c, uint32_t events)
{
	struct epoll_event ev;
	memset(&ev, 0, sizeof ev);
	ev.events = events;
	ev.data.ptr = c;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
		die_errno("epoll_ctl ADD");
}

static void conn_close(struct conn *c)
{
	if (c->fd >= 0 && close(c->fd) < 0 && errno != EINTR)
		die_errno("close");
	c->fd = -1;
}

static void raise_nofile(rlim_t need)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		die_errno("getrlimit RLIMIT_NOFILE");
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			die_errno("setrlimit RLIMIT_NOFILE");
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need)
		die("need %llu file descriptors, hard limit is %llu (ulimit -Hn)",
		    (unsigned long long)need, (unsigned long long)rl.rlim_cur);
}

static struct conn *listener(int kind, struct sockaddr_in *out)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof sa;
	int one = 1;
	struct conn *c = xcalloc(1, sizeof *c);
	c->kind = (uint8_t)kind;
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		die_errno("socket");
	if (setsockopt(c->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
		die_errno("setsockopt SO_REUSEADDR");
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0)
		die_errno("bind 127.0.0.1:0");
	if (listen(c->fd, 4096) < 0)
		die_errno("listen");
	if (getsockname(c->fd, (struct sockaddr *)&sa, &sl) < 0)
		die_errno("getsockname");
	*out = sa;
	return c;
}

/* ---- failure policy ---- */
static void client_restart(struct conn *c);
static void client_drive(struct conn *c, uint32_t ev);

static void client_fail(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void client_fail(struct conn *c, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (mode == M_THROUGHPUT)
		die("stream %" PRIu32 ": %s", c->idx, msg);
	errors++;
	if (errors <= 5)
		fprintf(stderr, "bench-load: %s %" PRIu32 ": %s\n",
			mode == M_IDLE ? "session" : "client", c->idx, msg);
	if (mode == M_CONNRATE && errors > 1000 && errors > completed)
		die("too many errors (%" PRIu64 " errors, %" PRIu64 " completed), last: %s",
		    errors, completed, msg);
	if (mode == M_IDLE) {
		if (c->state == C_HELD) {
			dropped++;
			conn_close(c);
			c->state = C_DONE;
			return;
		}
		if (errors > (uint64_t)(nsessions / 100 + 20))
			die("too many failed sessions (%" PRIu64 ") with %d established, last: %s",
			    errors, established, msg);
	}
	conn_close(c);
	active--;
	client_restart(c);
}

/* ---- small I/O helpers: 1 done, 0 would block, -1 failed (reported) ---- */
static int flush_out(struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			client_fail(c, "send: %s", strerror(errno));
			return -1;
		}
		c->out_off = (uint8_t)(c->out_off + w);
	}
	return 1;
}

static void queue_out(struct conn *c, const void *p, size_t n)
{
	memcpy(c->out, p, n);
	c->out_len = (uint8_t)n;
	c->out_off = 0;
}

static void expect(struct conn *c, uint8_t n)
{
	c->need = n;
	c->have = 0;
}

static int read_exact(struct conn *c, const char *what)
{
	while (c->have < c->need) {
		ssize_t r = read(c->fd, c->hs + c->have, c->need - c->have);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			client_fail(c, "reading %s: %s", what, strerror(errno));
			return -1;
		}
		if (r == 0) {
			client_fail(c, "connection closed while reading %s", what);
			return -1;
		}
		c->have = (uint8_t)(c->have + r);
	}
	return 1;
}

static const struct sockaddr_in *client_target(struct conn *c)
{
	if (mode == M_THROUGHPUT)
		return dir_down ? &source_sa : &sink_sa;
	if (mode == M_IDLE)
		return &echo_sa[c->idx % NECHO];
	return &echo_sa[echo_rr++ % NECHO];
}

/* ---- payload ---- */
static int send_payload(struct conn *c)
{
	while (c->off < c->len) {
		uint64_t pos = (c->shift + c->off) % PAT_LEN;
		uint64_t n = c->len - c->off;
		if (n > CHUNK)
			n = CHUNK;
		ssize_t w = send(c->fd, pat2 + pos, (size_t)n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -1;
		}
		c->off += (uint64_t)w;
	}
	return 1;
}

/* Receive and check the pattern; 1 complete, 0 would block, -1 error
 * (errno set, or errno 0 for EOF). */
static int recv_verify(struct conn *c)
{
	for (;;) {
		uint64_t want = c->len - c->off;
		if (want == 0)
			return 1;
		if (want > CHUNK)
			want = CHUNK;
		ssize_t r = read(c->fd, rxbuf, (size_t)want);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -1;
		}
		if (r == 0) {
			errno = 0;
			return -1;
		}
		double t = now();
		if (!any_rx) {
			any_rx = 1;
			t_first_rx = t;
		}
		t_last_rx = t;
		uint64_t pos = (c->shift + c->off) % PAT_LEN;
		if (memcmp(rxbuf, pat2 + pos, (size_t)r) != 0) {
			size_t k = 0;
			while (rxbuf[k] == pat2[pos + k])
				k++;
			die("integrity check failed: stream %" PRIu32 " byte %" PRIu64
			    " differs from the pattern", c->idx, c->off + k);
		}
		c->off += (uint64_t)r;
		bytes_rx += (uint64_t)r;
	}
}

static void put_hdr(unsigned char *h, uint32_t id, uint64_t len)
{
	memcpy(h, "STPB", 4);
	for (int i = 0; i < 4; i++)
		h[4 + i] = (unsigned char)(id >> (24 - 8 * i));
	for (int i = 0; i < 8; i++)
		h[8 + i] = (unsigned char)(len >> (56 - 8 * i));
}

static int get_hdr(const unsigned char *h, uint32_t *id, uint64_t *len)
{
	if (memcmp(h, "STPB", 4) != 0)
		return -1;
	*id = 0;
	*len = 0;
	for (int i = 0; i < 4; i++)
		*id = (*id << 8) | h[4 + i];
	for (int i = 0; i < 8; i++)
		*len = (*len << 8) | h[8 + i];
	return 0;
}

/* ---- client side ---- */
/* All streams have their CONNECT reply: send the stream headers; the
 * payload follows each header at once. */
static void start_payload(void)
{
	go_payload = 0;
	for (int i = 0; i < nstreams; i++) {
		struct conn *c = clients[i];
		put_hdr(c->out, c->idx, c->len);
		c->out_len = HDR_LEN;
		c->out_off = 0;
		c->state = C_HDR_OUT;
	}
	for (int i = 0; i < nstreams; i++)
		client_drive(clients[i], 0);
}

static void record_sample(double dt)
{
	if (nsamples >= MAX_SAMPLES)
		return;
	if (!samples)
		samples = xcalloc(MAX_SAMPLES, sizeof *samples);
	samples[nsamples++] = (float)(dt * 1e6);
}

static void after_handshake(struct conn *c)
{
	if (mode == M_CONNRATE)
		record_sample(now() - c->t0);
	if (mode == M_THROUGHPUT) {
		c->state = C_READY;
		if (++nready == nstreams)
			go_payload = 1;
	} else {
		queue_out(c, "x", 1);
		c->state = C_ECHO_OUT;
	}
}

/* With --proxy-v2: the 28-byte PROXY v2 header of c's connection (its
 * own address as the client, the proxy as the destination) into b, else
 * nothing. Returns its length. */
static size_t pp2_header(const struct conn *c, unsigned char *b)
{
	static const unsigned char sig[12] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
					       0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a };
	struct sockaddr_in me;
	socklen_t l = sizeof me;

	if (!use_pp2)
		return 0;
	if (getsockname(c->fd, (struct sockaddr *)&me, &l) < 0)
		die_errno("getsockname");
	memcpy(b, sig, 12);
	b[12] = 0x21;  /* version 2, PROXY */
	b[13] = 0x11;  /* TCP over IPv4 */
	b[14] = 0;
	b[15] = 12;
	memcpy(b + 16, &me.sin_addr.s_addr, 4);
	memcpy(b + 20, &proxy_sa.sin_addr.s_addr, 4);
	memcpy(b + 24, &me.sin_port, 2);
	memcpy(b + 26, &proxy_sa.sin_port, 2);
	return 28;
}

static void client_drive(struct conn *c, uint32_t ev)
{
	for (;;) {
		int r;
		switch (c->state) {
		case C_CONNECTING: {
			int err = 0;
			socklen_t l = sizeof err;
			if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
				return;
			if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0)
				die_errno("getsockopt SO_ERROR");
			if (err) {
				client_fail(c, "connect: %s", strerror(err));
				return;
			}
			if (use_proxy && use_http) {
				const struct sockaddr_in *t = client_target(c);
				char ip[INET_ADDRSTRLEN], req[48];
				int n;
				if (!inet_ntop(AF_INET, &t->sin_addr, ip, sizeof ip))
					die_errno("inet_ntop");
				n = snprintf(req, sizeof req, "CONNECT %s:%u HTTP/1.1\r\n\r\n", ip,
					     ntohs(t->sin_port));
				if (n < 0 || (size_t)n >= sizeof req)
					die("CONNECT request too long");
				queue_out(c, req, (size_t)n);
				c->state = C_HREQ;
			} else if (use_proxy) {
				static const unsigned char greet[3] = { 5, 1, 0 };
				unsigned char b[28 + 3];
				size_t n = pp2_header(c, b);
				memcpy(b + n, greet, 3);
				queue_out(c, b, n + 3);
				c->state = C_GREET;
			} else {
				after_handshake(c);
			}
			break;
		}
		case C_HREQ:
			if ((r = flush_out(c)) <= 0)
				return;
			expect(c, sizeof(http_ok) - 1);
			c->state = C_HREPLY;
			break;
		case C_HREPLY:
			if ((r = read_exact(c, "HTTP CONNECT answer")) <= 0)
				return;
			if (memcmp(c->hs, http_ok, sizeof(http_ok) - 1) != 0) {
				client_fail(c, "HTTP CONNECT failed: %.12s", (const char *)c->hs);
				return;
			}
			after_handshake(c);
			break;
		case C_GREET:
			if ((r = flush_out(c)) <= 0)
				return;
			expect(c, 2);
			c->state = C_METHOD;
			break;
		case C_METHOD: {
			if ((r = read_exact(c, "method selection")) <= 0)
				return;
			if (c->hs[0] != 5 || c->hs[1] != 0) {
				client_fail(c, "proxy refused no-auth (reply %02x %02x)", c->hs[0], c->hs[1]);
				return;
			}
			const struct sockaddr_in *t = client_target(c);
			unsigned char req[10] = { 5, 1, 0, 1 };
			memcpy(req + 4, &t->sin_addr.s_addr, 4);
			memcpy(req + 8, &t->sin_port, 2);
			queue_out(c, req, sizeof req);
			c->state = C_REQ;
			break;
		}
		case C_REQ:
			if ((r = flush_out(c)) <= 0)
				return;
			expect(c, 4);
			c->state = C_REPLY_HDR;
			break;
		case C_REPLY_HDR:
			if ((r = read_exact(c, "CONNECT reply")) <= 0)
				return;
			if (c->hs[0] != 5 || c->hs[1] != 0) {
				client_fail(c, "CONNECT failed (VER %u REP %u)", c->hs[0], c->hs[1]);
				return;
			}
			if (c->hs[3] == 1) {
				expect(c, 6);
				c->state = C_REPLY_ADDR;
			} else if (c->hs[3] == 4) {
				expect(c, 18);
				c->state = C_REPLY_ADDR;
			} else if (c->hs[3] == 3) {
				expect(c, 1);
				c->state = C_REPLY_DLEN;
			} else {
				client_fail(c, "CONNECT reply with ATYP %u", c->hs[3]);
				return;
			}
			break;
		case C_REPLY_DLEN:
			if ((r = read_exact(c, "CONNECT reply")) <= 0)
				return;
			expect(c, (uint8_t)(c->hs[0] + 2));
			c->state = C_REPLY_ADDR;
			break;
		case C_REPLY_ADDR:
			if ((r = read_exact(c, "CONNECT reply address")) <= 0)
				return;
			after_handshake(c);
			break;
		case C_HDR_OUT:
			if ((r = flush_out(c)) <= 0)
				return;
			c->state = dir_down ? C_RECEIVING : C_SENDING;
			break;
		case C_READY:
			return;
		case C_SENDING:
			r = send_payload(c);
			if (r == 0)
				return;
			if (r < 0)
				die("stream %" PRIu32 ": send after %" PRIu64 " bytes: %s",
				    c->idx, c->off, strerror(errno));
			if (shutdown(c->fd, SHUT_WR) < 0)
				die("stream %" PRIu32 ": shutdown: %s", c->idx, strerror(errno));
			c->state = C_SENT;
			break;
		case C_SENT: {
			/* The sink is the judge; here only notice stray data. */
			char b[64];
			ssize_t n = read(c->fd, b, sizeof b);
			if (n > 0)
				die("stream %" PRIu32 ": unexpected data from the proxy", c->idx);
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
				return;
			conn_close(c);  /* EOF or reset after our EOF */
			c->state = C_DONE;
			return;
		}
		case C_RECEIVING:
			r = recv_verify(c);
			if (r == 0)
				return;
			if (r < 0)
				die("stream %" PRIu32 ": %s after %" PRIu64 " of %" PRIu64 " bytes",
				    c->idx, errno ? strerror(errno) : "EOF", c->off, c->len);
			conn_close(c);
			c->state = C_DONE;
			nstreams_done++;
			return;
		case C_ECHO_OUT:
			if ((r = flush_out(c)) <= 0)
				return;
			expect(c, 1);
			c->state = C_ECHO_IN;
			break;
		case C_ECHO_IN:
			if ((r = read_exact(c, "echo")) <= 0)
				return;
			if (c->hs[0] != 'x') {
				client_fail(c, "echo returned %02x", c->hs[0]);
				return;
			}
			if (mode == M_CONNRATE) {
				completed++;
				t_last_done = now();
				conn_close(c);
				active--;
				client_restart(c);
				return;
			}
			c->state = C_HELD;
			active--;
			established++;
			client_restart(c);   /* start the next session */
			return;
		case C_HELD: {
			char b[16];
			ssize_t n = read(c->fd, b, sizeof b);
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
				return;
			if (released) {   /* the targets are gone: the proxy closes */
				conn_close(c);
				c->state = C_DONE;
				nclosed++;
				return;
			}
			client_fail(c, "held session %s", n == 0 ? "closed by the proxy" :
				    n > 0 ? "received stray data" : strerror(errno));
			return;
		}
		case C_DONE:
			return;
		}
	}
}

/* Start connection c (fresh, or after the previous one of the slot ended). */
static void client_start(struct conn *c)
{
	const struct sockaddr_in *dst;
	int one = 1;

	c->t0 = now();
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		die_errno("socket");
	if (mode != M_THROUGHPUT) {
		struct sockaddr_in src;
		memset(&src, 0, sizeof src);
		src.sin_family = AF_INET;
		src.sin_addr.s_addr = htonl(INADDR_LOOPBACK + (c->idx % NSRC));
		if (setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one) < 0)
			die_errno("setsockopt IP_BIND_ADDRESS_NO_PORT");
		if (setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0)
			die_errno("setsockopt TCP_NODELAY");
		if (bind(c->fd, (struct sockaddr *)&src, sizeof src) < 0)
			die_errno("bind client source address");
	}
	dst = use_proxy ? &proxy_sa : client_target(c);
	c->state = C_CONNECTING;
	c->out_len = c->out_off = 0;
	active++;
	attempts++;
	ep_add(c, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET);
	if (connect(c->fd, (const struct sockaddr *)dst, sizeof *dst) < 0) {
		if (errno != EINPROGRESS && errno != EINTR) {
			client_fail(c, "connect: %s", strerror(errno));
			return;
		}
		return;
	}
	client_drive(c, EPOLLOUT);
}

/* Called when slot c has ended (closed, or for idle: now held). */
static void client_restart(struct conn *c)
{
	if (mode == M_CONNRATE) {
		if (stop_starting)
			return;
		client_start(c);
		return;
	}
	if (mode == M_IDLE) {
		if (next_session >= nsessions) {
			/* a failed session is retried with a new slot */
			if (c->state == C_HELD || established + active >= nsessions)
				return;
		}
		struct conn *n = c;
		if (c->state == C_HELD) {
			if (next_session >= nsessions)
				return;
			n = &sess[next_session];
			n->kind = K_CLIENT;
			n->idx = (uint32_t)next_session++;
		}
		client_start(n);
	}
}

/* ---- target side ---- */
static void target_free(struct conn *c)
{
	conn_close(c);
	if (c->prev)
		c->prev->next = c->next;
	else
		targets = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c);
}

static void free_targets(void)
{
	while (targets)
		target_free(targets);
}

static void target_drive(struct conn *c)
{
	for (;;) {
		ssize_t r;
		if (c->kind == K_ECHO) {
			if (c->eoff < c->elen) {
				ssize_t w = send(c->fd, c->eb + c->eoff, c->elen - c->eoff, MSG_NOSIGNAL);
				if (w < 0) {
					if (errno == EINTR)
						continue;
					if (errno == EAGAIN || errno == EWOULDBLOCK)
						return;
					goto gone;
				}
				c->eoff = (uint16_t)(c->eoff + w);
				continue;
			}
			r = read(c->fd, c->eb, sizeof c->eb);
			if (r < 0) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN || errno == EWOULDBLOCK)
					return;
				goto gone;
			}
			if (r == 0)
				goto gone;
			c->eoff = 0;
			c->elen = (uint16_t)r;
			continue;
		}
		if (c->state == T_HDR) {
			uint32_t id;
			uint64_t len;
			while (c->have < HDR_LEN) {
				r = read(c->fd, c->hs + c->have, HDR_LEN - c->have);
				if (r < 0) {
					if (errno == EINTR)
						continue;
					if (errno == EAGAIN || errno == EWOULDBLOCK)
						return;
					die("target: reading stream header: %s", strerror(errno));
				}
				if (r == 0)
					die("target: connection closed before the stream header");
				c->have = (uint8_t)(c->have + r);
			}
			if (get_hdr(c->hs, &id, &len) < 0 || id >= (uint32_t)nstreams)
				die("target: bad stream header (proxy relayed wrong bytes)");
			if (stream_seen[id])
				die("target: stream %" PRIu32 " arrived twice", id);
			if (len != stream_len[id])
				die("target: stream %" PRIu32 " header length mismatch", id);
			stream_seen[id] = 1;
			c->idx = id;
			c->len = len;
			c->off = 0;
			c->shift = stream_shift(id);
			c->state = T_PAYLOAD;
			continue;
		}
		if (c->kind == K_SINK) {
			int v = recv_verify(c);
			if (v == 0)
				return;
			if (v < 0)
				die("sink: stream %" PRIu32 ": %s after %" PRIu64 " of %" PRIu64 " bytes",
				    c->idx, errno ? strerror(errno) : "EOF", c->off, c->len);
			nstreams_done++;
			target_free(c);
			return;
		}
		/* K_SOURCE */
		int v = send_payload(c);
		if (v == 0)
			return;
		if (v < 0)
			die("source: stream %" PRIu32 ": send: %s", c->idx, strerror(errno));
		target_free(c);
		return;
	}
gone:
	target_free(c);
}

static void accept_all(struct conn *l)
{
	for (;;) {
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			die_errno("accept4");
		}
		struct conn *c = xcalloc(1, sizeof *c);
		c->fd = fd;
		c->kind = l->kind == K_LSINK ? K_SINK : l->kind == K_LSOURCE ? K_SOURCE : K_ECHO;
		c->state = c->kind == K_ECHO ? T_ECHO : T_HDR;
		c->next = targets;
		if (targets)
			targets->prev = c;
		targets = c;
		if (c->kind == K_ECHO) {
			int one = 1;
			if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0)
				die_errno("setsockopt TCP_NODELAY");
		}
		ep_add(c, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET);
	}
}

/* ---- event loop ---- */
static void dispatch(struct conn *c, uint32_t ev)
{
	switch (c->kind) {
	case K_LSINK:
	case K_LSOURCE:
	case K_LECHO:
		accept_all(c);
		break;
	case K_SINK:
	case K_SOURCE:
	case K_ECHO:
		target_drive(c);
		break;
	case K_CLIENT:
		if (c->fd >= 0)
			client_drive(c, ev);
		break;
	case K_SIGNAL: {
		struct signalfd_siginfo si;
		ssize_t r = read(c->fd, &si, sizeof si);
		if (r < 0 && errno != EAGAIN && errno != EINTR)
			die_errno("read signalfd");
		released = 1;
		break;
	}
	case K_STDIN: {
		char b[256];
		ssize_t r = read(c->fd, b, sizeof b);
		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
			released = 1;
			if (epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL) < 0)
				die_errno("epoll_ctl DEL");
		}
		break;
	}
	}
}

/* One round of the loop; returns 0 when the deadline is passed. */
static int loop_once(double until)
{
	struct epoll_event evs[256];
	double left = until - now();
	if (left <= 0)
		return 0;
	int ms = (int)(left * 1000.0) + 1;
	if (ms > 1000)
		ms = 1000;
	int n = epoll_wait(ep, evs, 256, ms);
	if (n < 0) {
		if (errno == EINTR)
			return 1;
		die_errno("epoll_wait");
	}
	for (int i = 0; i < n; i++) {
		struct conn *c = evs[i].data.ptr;
		/* throughput conns can be freed by an earlier event in the batch
		 * only for targets, which are never referenced twice */
		dispatch(c, evs[i].events);
	}
	return 1;
}

/* ---- modes ---- */
static void run_throughput(void)
{
	struct conn *ls;
	make_pattern();
	stream_len = xcalloc((size_t)nstreams, sizeof *stream_len);
	stream_seen = xcalloc((size_t)nstreams, 1);
	clients = xcalloc((size_t)nstreams, sizeof *clients);
	if (total_bytes < (uint64_t)nstreams)
		die("--bytes must be at least the number of streams");
	for (int i = 0; i < nstreams; i++)
		stream_len[i] = total_bytes / (uint64_t)nstreams +
			(i == 0 ? total_bytes % (uint64_t)nstreams : 0);

	ls = listener(dir_down ? K_LSOURCE : K_LSINK, dir_down ? &source_sa : &sink_sa);
	ep_add(ls, EPOLLIN);
	if (timeout_s < 0)
		timeout_s = 600;
	double t_start = now();
	deadline = t_start + timeout_s;
	for (int i = 0; i < nstreams; i++) {
		struct conn *c = xcalloc(1, sizeof *c);
		c->kind = K_CLIENT;
		c->idx = (uint32_t)i;
		c->len = stream_len[i];
		c->shift = stream_shift((uint32_t)i);
		clients[i] = c;
		client_start(c);
	}
	while (nstreams_done < nstreams) {
		if (go_payload)
			start_payload();
		if (!loop_once(deadline))
			die("timeout after %.0f s: %d of %d streams complete, %" PRIu64
			    " of %" PRIu64 " bytes received", timeout_s, nstreams_done,
			    nstreams, bytes_rx, total_bytes);
	}
	if (bytes_rx != total_bytes)
		die("received %" PRIu64 " bytes, expected %" PRIu64, bytes_rx, total_bytes);
	double secs = t_last_rx - t_first_rx;
	if (secs <= 0)
		secs = 1e-9;
	double mbps = (double)total_bytes / 1e6 / secs;
	printf("throughput %s: %d stream%s %s, %.1f MB in %.3f s = %.1f MB/s, integrity ok\n",
	       label(), nstreams, nstreams == 1 ? "" : "s", dir_down ? "down" : "up",
	       (double)total_bytes / 1e6, secs, mbps);
	printf("BENCH mode=throughput streams=%d direction=%s server=%s bytes=%" PRIu64
	       " seconds=%.4f mbps=%.1f\n", nstreams, dir_down ? "down" : "up", label(),
	       total_bytes, secs, mbps);
	for (int i = 0; i < nstreams; i++) {
		if (clients[i]->fd >= 0)
			conn_close(clients[i]);
		free(clients[i]);
	}
	free(clients);
	free(stream_len);
	free(stream_seen);
	conn_close(ls);
	free(ls);
	free_targets();
	free(pat2);
	free(rxbuf);
}

static int cmp_float(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;
	return (x > y) - (x < y);
}

static double pct(double p)
{
	if (nsamples == 0)
		return 0;
	size_t i = (size_t)(p * (double)(nsamples - 1) + 0.5);
	return samples[i] / 1000.0;
}

static void run_connrate(void)
{
	struct conn *ls[NECHO];
	for (int i = 0; i < NECHO; i++) {
		ls[i] = listener(K_LECHO, &echo_sa[i]);
		ep_add(ls[i], EPOLLIN);
	}
	if (timeout_s < 0)
		timeout_s = run_seconds + 30;
	t_run_start = now();
	double t_end = t_run_start + run_seconds;
	deadline = t_run_start + timeout_s;
	struct conn **slots = xcalloc((size_t)nclients, sizeof *slots);
	for (int i = 0; i < nclients; i++) {
		slots[i] = xcalloc(1, sizeof **slots);
		slots[i]->kind = K_CLIENT;
		slots[i]->idx = (uint32_t)i;
		client_start(slots[i]);
	}
	while (now() < t_end)
		if (!loop_once(t_end))
			break;
	stop_starting = 1;
	double t_stop = now();
	while (active > 0)
		if (!loop_once(deadline))
			break;
	int stuck = active;
	double secs = (t_last_done > t_stop ? t_last_done : t_stop) - t_run_start;
	double cps = (double)completed / secs;
	qsort(samples, nsamples, sizeof *samples, cmp_float);
	double p50 = pct(0.50), p99 = pct(0.99);
	printf("connrate %s: %d clients, %" PRIu64 " connections in %.2f s = %.0f conn/s,"
	       " handshake p50 %.3f ms p99 %.3f ms, %" PRIu64 " errors%s\n",
	       label(), nclients, completed, secs, cps, p50, p99, errors,
	       stuck ? " (some connections never finished)" : "");
	printf("BENCH mode=connrate clients=%d server=%s seconds=%.3f conns=%" PRIu64
	       " cps=%.1f hs_p50_ms=%.3f hs_p99_ms=%.3f errors=%" PRIu64 " stuck=%d\n",
	       nclients, label(), secs, completed, cps, p50, p99, errors, stuck);
	if (completed == 0)
		die("no connection completed");
	if (stuck)
		die("%d connections still open %.0f s after the end of the run", stuck, timeout_s - run_seconds);
	for (int i = 0; i < nclients; i++)
		free(slots[i]);   /* all closed: active == 0 */
	free(slots);
	for (int i = 0; i < NECHO; i++) {
		conn_close(ls[i]);
		free(ls[i]);
	}
	free_targets();
	free(samples);
}

/* The echo targets of `idle` live in a child, so each process holds only one
 * side of every session (RLIMIT_NOFILE). */
static pid_t fork_echo_targets(void)
{
	struct conn *ls[NECHO];
	pid_t parent = getpid();
	for (int i = 0; i < NECHO; i++)
		ls[i] = listener(K_LECHO, &echo_sa[i]);
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		die_errno("fork");
	if (pid == 0) {
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0)
			die_errno("prctl PR_SET_PDEATHSIG");
		if (getppid() != parent)
			_exit(0);
		if (close(0) < 0 || close(ep) < 0)
			die_errno("close");
		ep = epoll_create1(EPOLL_CLOEXEC);
		if (ep < 0)
			die_errno("epoll_create1");
		for (int i = 0; i < NECHO; i++)
			ep_add(ls[i], EPOLLIN);
		for (;;)
			loop_once(now() + 3600);
	}
	for (int i = 0; i < NECHO; i++) {
		conn_close(ls[i]);
		free(ls[i]);
	}
	return pid;
}

static void run_idle(void)
{
	pid_t child = fork_echo_targets();
	if (timeout_s < 0)
		timeout_s = 300;
	double t0 = now();
	deadline = t0 + timeout_s;

	sigset_t ss;
	sigemptyset(&ss);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGINT);
	sigaddset(&ss, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &ss, NULL) < 0)
		die_errno("sigprocmask");
	struct conn *sc = xcalloc(1, sizeof *sc);
	sc->kind = K_SIGNAL;
	sc->fd = signalfd(-1, &ss, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sc->fd < 0)
		die_errno("signalfd");
	ep_add(sc, EPOLLIN);

	int w = parallel < nsessions ? parallel : nsessions;
	sess = xcalloc((size_t)nsessions, sizeof *sess);
	for (int i = 0; i < w; i++) {
		struct conn *c = &sess[i];
		c->kind = K_CLIENT;
		c->idx = (uint32_t)next_session++;
		client_start(c);
	}
	while (established < nsessions && !released) {
		if (!loop_once(deadline)) {
			kill(child, SIGTERM);
			die("timeout after %.0f s: %d of %d sessions established",
			    timeout_s, established, nsessions);
		}
	}
	if (released) {
		kill(child, SIGTERM);
		die("interrupted with %d of %d sessions established", established, nsessions);
	}
	double est = now() - t0;
	printf("idle %s: %d sessions established in %.2f s (%" PRIu64 " retried)\n",
	       label(), established, est, errors);
	printf("ready %d\n", established);
	if (fflush(stdout) == EOF)
		die_errno("write stdout");

	struct conn *in = xcalloc(1, sizeof *in);
	in->kind = K_STDIN;
	in->fd = 0;
	{
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = in };
		if (epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev) < 0 && errno != EPERM)
			die_errno("epoll_ctl stdin");
	}
	double until = now() + hold_s;
	while (!released)
		if (!loop_once(until))
			break;
	printf("BENCH mode=idle_hold server=%s sessions=%d establish_seconds=%.3f dropped=%d\n",
	       label(), established, est, dropped);
	/* Close from the target side first: the proxy's outgoing connections
	 * then leave no TIME_WAIT on its ephemeral ports, and ours neither. */
	if (kill(child, SIGTERM) < 0)
		die_errno("kill echo child");
	int st;
	if (waitpid(child, &st, 0) < 0)
		die_errno("waitpid");
	released = 1;
	int held = established - dropped;
	double until2 = now() + 5;
	while (nclosed < held)
		if (!loop_once(until2))
			break;
	if (dropped)
		die("%d sessions were dropped while held", dropped);
	for (int i = 0; i < nsessions; i++)
		if (sess[i].fd > 0)
			conn_close(&sess[i]);
	free(sess);
	free(in);
	if (close(sc->fd) < 0)
		die_errno("close signalfd");
	free(sc);
}

/* ---- arguments ---- */
static void usage(void) __attribute__((noreturn));
static void usage(void)
{
	fputs("usage: bench-load throughput [--streams N] [--bytes TOTAL] [--direction up|down]\n"
	      "       bench-load connrate [--clients N] [--seconds S]\n"
	      "       bench-load idle --sessions N [--parallel W] [--hold S]\n"
	      "common: [--proxy IPv4:PORT] [--http-connect 0|1] [--proxy-v2 0|1] [--server NAME] [--timeout S]\n"
	      "TOTAL accepts suffixes K M G (powers of 1024).\n", stderr);
	exit(2);
}

static double num(const char *s, const char *opt, double lo, double hi)
{
	char *e;
	errno = 0;
	double v = strtod(s, &e);
	double mul = 1;
	if (*e == 'K' || *e == 'k')
		mul = 1024.0, e++;
	else if (*e == 'M' || *e == 'm')
		mul = 1048576.0, e++;
	else if (*e == 'G' || *e == 'g')
		mul = 1073741824.0, e++;
	v *= mul;
	if (errno || e == s || *e || v < lo || v > hi)
		die("bad value for %s: %s", opt, s);
	return v;
}

static void parse_proxy(const char *s)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	if (!colon || (size_t)(colon - s) >= sizeof host)
		die("bad --proxy %s (want IPv4:PORT)", s);
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = 0;
	memset(&proxy_sa, 0, sizeof proxy_sa);
	proxy_sa.sin_family = AF_INET;
	if (inet_pton(AF_INET, host, &proxy_sa.sin_addr) != 1)
		die("bad --proxy host %s (want an IPv4 address)", host);
	proxy_sa.sin_port = htons((uint16_t)num(colon + 1, "--proxy port", 1, 65535));
	use_proxy = 1;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	if (!strcmp(argv[1], "throughput"))
		mode = M_THROUGHPUT;
	else if (!strcmp(argv[1], "connrate"))
		mode = M_CONNRATE;
	else if (!strcmp(argv[1], "idle"))
		mode = M_IDLE;
	else
		usage();
	for (int i = 2; i < argc; i++) {
		const char *o = argv[i];
		if (i + 1 >= argc)
			usage();
		const char *v = argv[++i];
		if (!strcmp(o, "--http-connect"))
			use_http = (int)num(v, o, 0, 1);
		else if (!strcmp(o, "--proxy-v2"))
			use_pp2 = (int)num(v, o, 0, 1);
		else if (!strcmp(o, "--streams"))
			nstreams = (int)num(v, o, 1, 4096);
		else if (!strcmp(o, "--bytes"))
			total_bytes = (uint64_t)num(v, o, 1, 1e15);
		else if (!strcmp(o, "--direction")) {
			if (!strcmp(v, "up"))
				dir_down = 0;
			else if (!strcmp(v, "down"))
				dir_down = 1;
			else
				usage();
		} else if (!strcmp(o, "--clients"))
			nclients = (int)num(v, o, 1, 4096);
		else if (!strcmp(o, "--seconds"))
			run_seconds = num(v, o, 0.1, 3600);
		else if (!strcmp(o, "--sessions"))
			nsessions = (int)num(v, o, 1, 1000000);
		else if (!strcmp(o, "--parallel"))
			parallel = (int)num(v, o, 1, 4096);
		else if (!strcmp(o, "--hold"))
			hold_s = num(v, o, 0, 86400);
		else if (!strcmp(o, "--timeout"))
			timeout_s = num(v, o, 1, 86400);
		else if (!strcmp(o, "--proxy"))
			parse_proxy(v);
		else if (!strcmp(o, "--server"))
			server_name = v;
		else
			usage();
	}
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		die_errno("signal SIGPIPE");
	if (mode == M_IDLE)
		raise_nofile((rlim_t)nsessions + 64);
	else
		raise_nofile((rlim_t)(2 * (nstreams > nclients ? nstreams : nclients)) + 64);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die_errno("epoll_create1");
	if (setvbuf(stdout, NULL, _IOLBF, 0) != 0)
		die("setvbuf failed");
	switch (mode) {
	case M_THROUGHPUT:
		run_throughput();
		break;
	case M_CONNRATE:
		run_connrate();
		break;
	case M_IDLE:
		run_idle();
		break;
	}
	if (fflush(stdout) == EOF)
		die_errno("write stdout");
	return 0;
}
