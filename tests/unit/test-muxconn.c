/* test-muxconn.c - the MUX engine (muxconn.c) in the server role, driven
 * through its public interface: the test is the MUX peer (frames go in
 * through ops->recv, come out through ops->send, both plain buffers) and
 * the local server of every stream (ops->open hands the engine one end of
 * a socketpair; the test holds the other). Credit both ways, and FIN: each
 * half-close on its own, data after FIN, both FINs freeing the stream. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/evloop.h"
#include "mux/muxconn.h"
#include "proto/socks.h"
#include "tap.h"

#define NS 4   /* streams a test may open: ids 1, 3, 5, 7 */

/* The test's side of one stream: its local server's socket. */
struct local {
	int fd, efd;                /* ours, and the engine's end */
	const uint8_t *out;         /* bytes to write to the engine, as it takes them */
	uint8_t *own;               /* out, when the test allocated it */
	size_t outlen, outoff;
	bool shut_after, shut;      /* shutdown(SHUT_WR) once out is written */
	bool reading, eof;
	uint8_t *in;                /* what the engine wrote to the socket */
	size_t inlen, incap;
};

/* What the engine sent the peer for one stream. */
struct seen {
	uint8_t *data;
	size_t len, cap;
	uint64_t window;            /* sum of WINDOW increments */
	uint32_t min_window;        /* the smallest one */
	int fins, rsts, replies;
	uint8_t rep;
};

struct h {
	struct stp_loop *l;
	struct stp_mux *m;
	uint8_t *cin;               /* frames from the peer, not yet read */
	size_t cinlen, cinoff, cincap;
	uint8_t *cout;              /* what the engine wrote, not yet parsed */
	size_t coutlen, coutoff, coutcap;
	struct local loc[NS];
	struct seen seen[NS];
	int user[NS];               /* the users handed to the engine */
	int opened;
	uint8_t req[64];            /* the last request handed to ops->open */
	size_t reqlen;
	int released, released_abort;
	void *released_user;
	bool done;
	int err;
	char why[128];
	bool stop_ok;
	bool (*cond)(struct h *, size_t);
	size_t cond_arg;
	uint64_t deadline;
	struct stp_timer tick;
};

static int idx(uint32_t id)
{
	return (int)((id >> 1) % NS);
}

/* Appends n bytes to a growing buffer; exits on ENOMEM (a test). */
static void append(uint8_t **b, size_t *len, size_t *cap, const void *p, size_t n)
{
	if (*cap - *len < n) {
		size_t c = *cap ? *cap : 4096;
		while (c - *len < n)
			c *= 2;
		uint8_t *nb = realloc(*b, c);
		if (!nb) {
			DIAG("out of memory");
			exit(1);
		}
		*b = nb;
		*cap = c;
	}
	memcpy(*b + *len, p, n);
	*len += n;
}

/* --- the engine's ops ----------------------------------------------------- */

static ssize_t op_recv(void *arg, void *buf, size_t n)
{
	struct h *h = arg;
	size_t k = h->cinlen - h->cinoff;

	if (k == 0) {
		errno = EAGAIN;
		return -1;
	}
	if (k > n)
		k = n;
	memcpy(buf, h->cin + h->cinoff, k);
	h->cinoff += k;
	return (ssize_t)k;
}

static ssize_t op_send(void *arg, const void *buf, size_t n)
{
	struct h *h = arg;

	append(&h->cout, &h->coutlen, &h->coutcap, buf, n);
	return (ssize_t)n;
}

static void op_want(void *arg, unsigned mask)
{
	(void)arg;
	(void)mask;  /* the peer always has room and the test kicks the engine */
}

static int op_open(void *arg, uint32_t id, const uint8_t *req, size_t n, void **user,
		   uint8_t *rep)
{
	struct h *h = arg;
	struct local *lo = &h->loc[idx(id)];
	int sv[2];

	h->reqlen = n < sizeof(h->req) ? n : sizeof(h->req);
	memcpy(h->req, req, h->reqlen);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) {
		*rep = STP_REP_FAIL;
		return -1;
	}
	lo->fd = sv[1];
	lo->efd = sv[0];
	*user = &h->user[idx(id)];
	h->opened++;
	return sv[0];
}

static void op_release(void *arg, void *user, bool abort)
{
	struct h *h = arg;

	h->released++;
	h->released_abort = abort;
	h->released_user = user;
}

static void op_done(void *arg, int err, const char *why)
{
	struct h *h = arg;

	h->done = true;
	h->err = err;
	snprintf(h->why, sizeof(h->why), "%s", why ? why : "");
	stp_mux_free(h->m);
	h->m = NULL;
}

/* --- the peer ----------------------------------------------------------------- */

static void h_init(struct h *h)
{
	static const struct stp_mux_ops ops = {
		.recv = op_recv, .send = op_send, .want = op_want, .open = op_open,
		.release = op_release, .done = op_done,
	};
	struct stp_mux_ops o = ops;
	struct stp_err e;

	memset(h, 0, sizeof(*h));
	for (int i = 0; i < NS; i++)
		h->loc[i].fd = h->loc[i].efd = -1;
	h->l = stp_loop_new(1024, &e);
	if (!h->l) {
		DIAG("loop: %s", e.msg);
		exit(1);
	}
	o.arg = h;
	h->m = stp_mux_new(h->l, STP_MUX_SERVER, &o, NULL, 0, 0);
	if (!h->m) {
		DIAG("stp_mux_new failed");
		exit(1);
	}
}

static void h_free(struct h *h)
{
	if (h->m)
		stp_mux_free(h->m);
	for (int i = 0; i < NS; i++) {
		if (h->loc[i].fd >= 0)
			close(h->loc[i].fd);
		free(h->loc[i].in);
		free(h->loc[i].own);
		free(h->seen[i].data);
	}
	free(h->cin);
	free(h->cout);
	stp_loop_free(h->l);
}

/* Handles every whole frame the engine wrote. */
static void collect(struct h *h)
{
	struct stp_mux_frame f;
	ssize_t k;

	while ((k = stp_mux_frame_get(h->cout + h->coutoff, h->coutlen - h->coutoff, &f)) > 0) {
		struct seen *s = &h->seen[idx(f.stream)];
		switch (f.type) {
		case STP_MUX_DATA:
			append(&s->data, &s->len, &s->cap, f.payload, f.len);
			break;
		case STP_MUX_WINDOW: {
			uint32_t inc = (uint32_t)f.payload[0] << 24 | (uint32_t)f.payload[1] << 16 |
				       (uint32_t)f.payload[2] << 8 | f.payload[3];
			s->window += inc;
			if (!s->min_window || inc < s->min_window)
				s->min_window = inc;
			break;
		}
		case STP_MUX_FIN:
			s->fins++;
			break;
		case STP_MUX_RST:
			s->rsts++;
			break;
		case STP_MUX_REPLY:
			s->replies++;
			s->rep = f.payload[0];
			break;
		}
		h->coutoff += (size_t)k;
	}
}

/* Sends one frame to the engine and lets it read. */
static void peer(struct h *h, uint8_t type, uint32_t id, const void *p, uint16_t len)
{
	uint8_t f[STP_MUX_HDR + STP_MUX_MAX];
	size_t n = stp_mux_frame_put(f, sizeof(f), type, id, p, len);

	append(&h->cin, &h->cinlen, &h->cincap, f, n);
	if (h->m)
		stp_mux_on_io(h->m, STP_EV_READ);
	collect(h);
}

static void peer_window(struct h *h, uint32_t id, uint32_t inc)
{
	uint8_t b[4] = { inc >> 24, (inc >> 16) & 0xff, (inc >> 8) & 0xff, inc & 0xff };

	peer(h, STP_MUX_WINDOW, id, b, 4);
}

/* DATA frames carrying n bytes of pattern from offset off. */
static void peer_data(struct h *h, uint32_t id, size_t off, size_t n)
{
	uint8_t b[STP_MUX_MAX];

	while (n) {
		size_t k = n < sizeof(b) ? n : sizeof(b);
		for (size_t i = 0; i < k; i++)
			b[i] = (uint8_t)((off + i) * 13 + 5);
		peer(h, STP_MUX_DATA, id, b, (uint16_t)k);
		off += k;
		n -= k;
	}
}

/* --- the local servers ----------------------------------------------------- */

static void local_step(struct local *lo)
{
	if (lo->fd < 0)
		return;
	while (lo->outoff < lo->outlen) {
		ssize_t n = send(lo->fd, lo->out + lo->outoff, lo->outlen - lo->outoff, MSG_NOSIGNAL);
		if (n <= 0)
			break;
		lo->outoff += (size_t)n;
	}
	if (lo->outoff == lo->outlen && lo->shut_after && !lo->shut) {
		shutdown(lo->fd, SHUT_WR);
		lo->shut = true;
	}
	while (lo->reading && !lo->eof) {
		uint8_t b[65536];
		ssize_t n = recv(lo->fd, b, sizeof(b), 0);
		if (n < 0)
			break;
		if (n == 0)
			lo->eof = true;
		else
			append(&lo->in, &lo->inlen, &lo->incap, b, (size_t)n);
	}
}

static void on_tick(struct stp_loop *l, struct stp_timer *t, void *arg)
{
	struct h *h = arg;

	for (int i = 0; i < NS; i++)
		local_step(&h->loc[i]);
	if (h->m && h->cinoff < h->cinlen)
		stp_mux_on_io(h->m, STP_EV_READ);
	collect(h);
	if ((h->cond && h->cond(h, h->cond_arg)) || stp_loop_now(l) >= h->deadline) {
		h->stop_ok = h->cond && h->cond(h, h->cond_arg);
		stp_loop_stop(l);
		return;
	}
	stp_timer_start(l, t, 1);
}

/* Runs the loop (the engine's streams, the local servers) until cond holds
 * or ms have passed. Returns whether cond held. */
static bool pump(struct h *h, bool (*cond)(struct h *, size_t), size_t arg, uint64_t ms)
{
	h->cond = cond;
	h->cond_arg = arg;
	h->stop_ok = false;
	h->deadline = stp_clock_ms() + ms;
	stp_timer_init(&h->tick, on_tick, h);
	stp_timer_start(h->l, &h->tick, 0);
	if (stp_loop_run(h->l) < 0)
		DIAG("loop: %s", strerror(errno));
	stp_timer_stop(h->l, &h->tick);
	return h->stop_ok;
}

/* pump()'s conditions; arg is the stream's index or a byte count. */
static bool data_at_least(struct h *h, size_t n)
{
	return h->seen[0].len >= n;
}

static bool local_got(struct h *h, size_t n)
{
	return h->loc[0].inlen >= n;
}

static bool local_eof(struct h *h, size_t i)
{
	return h->loc[i].eof;
}

static bool fin_seen(struct h *h, size_t i)
{
	return h->seen[i].fins > 0;
}

static bool reply_seen(struct h *h, size_t i)
{
	return h->seen[i].replies > 0;
}

static bool no_streams(struct h *h, size_t unused)
{
	struct stp_mux_counts c;

	(void)unused;
	if (!h->m)
		return true;
	stp_mux_counts(h->m, &c);
	return c.live == 0;
}

/* The engine stopped reading stream 0's socket, having sent n bytes. */
static bool stalled_at(struct h *h, size_t n)
{
	return h->seen[0].len >= n &&
	       !(stp_loop_mask(h->l, h->loc[0].efd) & STP_EV_READ);
}

static size_t live(struct h *h)
{
	struct stp_mux_counts c;

	if (!h->m)
		return (size_t)-1;
	stp_mux_counts(h->m, &c);
	return c.live;
}

/* OPEN id to 127.0.0.1:80; the local server answers success (plus extra). */
static void open_stream(struct h *h, uint32_t id, const uint8_t *extra, size_t n)
{
	static const uint8_t open[] = { STP_CMD_CONNECT, STP_ATYP_IPV4, 127, 0, 0, 1, 0, 80 };
	static const uint8_t ok[] = { 5, 0, 0, STP_ATYP_IPV4, 0, 0, 0, 0, 0, 0 };
	struct local *lo = &h->loc[idx(id)];
	uint8_t *out;

	peer(h, STP_MUX_OPEN, id, open, sizeof(open));
	if (lo->fd < 0)
		return;
	out = malloc(sizeof(ok) + n);
	if (!out)
		exit(1);
	memcpy(out, ok, sizeof(ok));
	if (n)
		memcpy(out + sizeof(ok), extra, n);
	lo->out = lo->own = out;
	lo->outlen = sizeof(ok) + n;
	pump(h, reply_seen, (size_t)idx(id), 5000);
}

static size_t count_good(const uint8_t *b, size_t n, size_t from, int mul, int add)
{
	size_t i = 0;

	while (i < n && b[i] == (uint8_t)((from + i) * (size_t)mul + (size_t)add))
		i++;
	return i;
}

/* --- the tests ------------------------------------------------------------- */

/* The engine sends at most the credit, stops reading the socket there,
 * and goes on by exactly what each WINDOW gives. */
static void test_send_credit(void)
{
	struct h h;
	size_t total = STP_MUX_CREDIT + 50000;
	uint8_t *src = malloc(total);

	if (!src)
		exit(1);
	for (size_t i = 0; i < total; i++)
		src[i] = (uint8_t)(i * 7 + 3);
	h_init(&h);
	open_stream(&h, 1, src, total);
	static const uint8_t req[] = { 5, STP_CMD_CONNECT, 0, STP_ATYP_IPV4, 127, 0, 0, 1, 0, 80 };
	CHECK(h.opened == 1 && h.reqlen == sizeof(req) && !memcmp(h.req, req, sizeof(req)),
	      "send credit: OPEN becomes the SOCKS5 request for the local server");
	CHECK(h.seen[0].replies == 1 && h.seen[0].rep == 0, "its reply becomes REPLY success");
	CHECK(pump(&h, stalled_at, STP_MUX_CREDIT, 5000), "stops reading at the credit");
	pump(&h, NULL, 0, 30);
	CHECK_INT(h.seen[0].len, STP_MUX_CREDIT, "sent exactly the credit (262144), no more");
	peer_window(&h, 1, 1000);
	CHECK(pump(&h, stalled_at, STP_MUX_CREDIT + 1000, 5000), "WINDOW 1000: reads again");
	pump(&h, NULL, 0, 30);
	CHECK_INT(h.seen[0].len, STP_MUX_CREDIT + 1000, "... and sends exactly 1000 more");
	peer_window(&h, 1, STP_MUX_CREDIT);
	CHECK(pump(&h, data_at_least, total, 5000), "a larger WINDOW: the rest comes");
	CHECK_INT(count_good(h.seen[0].data, h.seen[0].len, 0, 7, 3), total,
		  "every byte, in order");
	struct stp_mux_counts c;
	stp_mux_counts(h.m, &c);
	CHECK_INT(c.bytes_out, total, "counted as DATA sent");
	CHECK(!h.done && h.seen[0].rsts == 0, "no error, no reset");
	h_free(&h);
	free(src);
}

/* The peer may send the credit plus what WINDOW gave back; a byte more
 * is a protocol error. */
static void test_recv_credit(void)
{
	struct h h;
	int small = 4096;
	size_t sent = 0;

	h_init(&h);
	open_stream(&h, 1, NULL, 0);
	/* the local server does not read: a small socket buffer keeps the
	 * bytes in the engine's queue (credit is given back as they leave it) */
	setsockopt(h.loc[0].efd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	for (int round = 0; round < 100; round++) {
		size_t allowed = STP_MUX_CREDIT + h.seen[0].window;
		if (sent == allowed)
			break;
		peer_data(&h, 1, sent, allowed - sent);
		sent = allowed;
	}
	CHECK(!h.done, "recv credit: the credit and every WINDOW's worth: accepted");
	CHECK_INT(sent, STP_MUX_CREDIT + h.seen[0].window, "(sent all that was allowed)");
	peer_data(&h, 1, sent, 1);
	CHECK(h.done && h.err == EPROTO, "one byte beyond: the connection ends (EPROTO)");
	CHECK_STR(h.why, "DATA beyond the credit", "... saying why");
	CHECK(h.released == 1 && h.released_abort && h.released_user == &h.user[0],
	      "the stream's user is released with abort");
	h_free(&h);
}

/* As the local server reads, WINDOW gives the credit back in steps of at
 * least a quarter; the peer may then send more than the first credit. */
static void test_window_back(void)
{
	struct h h;
	size_t first = 200000;

	h_init(&h);
	open_stream(&h, 1, NULL, 0);
	h.loc[0].reading = true;
	peer_data(&h, 1, 0, first);
	CHECK(pump(&h, local_got, first, 5000), "window back: the local server got 200000 bytes");
	uint64_t w = h.seen[0].window;
	CHECK(w > first - STP_MUX_CREDIT / 4 && w <= first,
	      "credit given back for all but less than a quarter of them");
	CHECK(h.seen[0].min_window >= STP_MUX_CREDIT / 4, "in steps of at least a quarter");
	size_t more = STP_MUX_CREDIT + w - first;
	peer_data(&h, 1, first, more);
	CHECK(pump(&h, local_got, first + more, 5000) && !h.done,
	      "the peer sends what the returned credit allows, beyond the first credit");
	CHECK_INT(count_good(h.loc[0].in, h.loc[0].inlen, 0, 13, 5), first + more,
		  "every byte, in order");
	h_free(&h);
}

static void test_bad_window(void)
{
	struct h h;

	h_init(&h);
	open_stream(&h, 1, NULL, 0);
	peer_window(&h, 1, 0);
	CHECK(h.done && h.err == EPROTO && !strcmp(h.why, "bad WINDOW"), "WINDOW 0: EPROTO");
	h_free(&h);
	h_init(&h);
	open_stream(&h, 1, NULL, 0);
	peer_window(&h, 1, 0x7fffffffu - STP_MUX_CREDIT);
	CHECK(!h.done, "WINDOW up to 2^31-1 in all: fine");
	peer_window(&h, 1, 1);
	CHECK(h.done && h.err == EPROTO && !strcmp(h.why, "bad WINDOW"), "one more: EPROTO");
	h_free(&h);
}

/* The peer's FIN first: the local server sees the data then EOF, and may
 * still answer; its EOF then sends FIN and frees the stream. */
static void test_fin_peer_first(void)
{
	struct h h;
	static const char world[] = "world";

	h_init(&h);
	open_stream(&h, 1, NULL, 0);
	h.loc[0].reading = true;
	peer(&h, STP_MUX_DATA, 1, "hello", 5);
	peer(&h, STP_MUX_FIN, 1, NULL, 0);
	CHECK(pump(&h, local_eof, 0, 5000), "peer FIN: the local server reads EOF");
	CHECK(h.loc[0].inlen == 5 && !memcmp(h.loc[0].in, "hello", 5), "... after the data");
	CHECK_INT(live(&h), 1, "half-closed: the stream lives on");
	CHECK(h.seen[0].fins == 0 && h.released == 0, "no FIN back yet, user not released");
	h.loc[0].out = (const uint8_t *)world;
	h.loc[0].outlen = 5;
	h.loc[0].outoff = 0;
	CHECK(pump(&h, data_at_least, 5, 5000), "the local server still answers");
	CHECK(h.seen[0].len == 5 && !memcmp(h.seen[0].data, "world", 5), "... as DATA");
	h.loc[0].shut_after = true;
	CHECK(pump(&h, no_streams, 0, 5000), "its EOF: the stream is freed");
	CHECK_INT(h.seen[0].fins, 1, "... after a FIN to the peer");
	CHECK(h.released == 1 && !h.released_abort && h.released_user == &h.user[0],
	      "... and its user released without abort");
	errno = 0;
	CHECK(send(h.loc[0].fd, "x", 1, MSG_NOSIGNAL) < 0 && errno == EPIPE,
	      "the engine closed its socket");
	peer(&h, STP_MUX_DATA, 1, "late", 4);
	peer(&h, STP_MUX_FIN, 1, NULL, 0);
	CHECK(!h.done && h.seen[0].rsts == 0, "frames for the freed stream are ignored");
	h_free(&h);
}

/* The local server's EOF first: FIN to the peer, whose data still reach
 * the local server until its own FIN frees the stream. */
static void test_fin_local_first(void)
{
	struct h h;

	h_init(&h);
	open_stream(&h, 1, NULL, 0);
	h.loc[0].reading = true;
	h.loc[0].shut_after = true;
	CHECK(pump(&h, fin_seen, 0, 5000), "local EOF: FIN to the peer");
	CHECK_INT(live(&h), 1, "half-closed: the stream lives on");
	peer(&h, STP_MUX_DATA, 1, "late", 4);
	CHECK(pump(&h, local_got, 4, 5000), "the peer's data still reach the local server");
	CHECK(!h.loc[0].eof && h.released == 0, "no EOF for it yet");
	peer(&h, STP_MUX_FIN, 1, NULL, 0);
	CHECK(pump(&h, no_streams, 0, 5000), "the peer's FIN: the stream is freed");
	CHECK(pump(&h, local_eof, 0, 5000), "the local server reads EOF");
	CHECK(h.loc[0].inlen == 4 && !memcmp(h.loc[0].in, "late", 4), "after the data");
	CHECK(h.released == 1 && !h.released_abort, "user released without abort");
	CHECK(!h.done, "the connection goes on");
	h_free(&h);
}

/* A second stream is not disturbed by the first one's half-close. */
static void test_fin_two_streams(void)
{
	struct h h;

	h_init(&h);
	open_stream(&h, 1, NULL, 0);
	open_stream(&h, 3, NULL, 0);
	h.loc[0].reading = h.loc[1].reading = true;
	peer(&h, STP_MUX_FIN, 1, NULL, 0);
	peer(&h, STP_MUX_DATA, 3, "three", 5);
	CHECK(pump(&h, local_eof, 0, 5000), "two streams: FIN on the first reaches it");
	CHECK(!h.loc[1].eof, "not the second");
	h.loc[0].shut_after = true;
	CHECK(pump(&h, fin_seen, 0, 5000), "the first ends both ways");
	CHECK_INT(live(&h), 1, "one stream left");
	CHECK(h.loc[1].inlen == 5 && !memcmp(h.loc[1].in, "three", 5), "the second got its data");
	h_free(&h);
	CHECK(h.released == 2, "freeing the engine releases the stream still open");
}

static void test_after_fin(void)
{
	struct h h;

	h_init(&h);
	open_stream(&h, 1, NULL, 0);
	peer(&h, STP_MUX_FIN, 1, NULL, 0);
	CHECK(!h.done, "FIN: fine");
	peer(&h, STP_MUX_DATA, 1, "x", 1);
	CHECK(h.done && h.err == EPROTO, "DATA after FIN: the connection ends (EPROTO)");
	CHECK_STR(h.why, "DATA after FIN", "... saying why");
	CHECK(h.released == 1 && h.released_abort, "the stream's user is released with abort");
	h_free(&h);

	h_init(&h);
	open_stream(&h, 1, NULL, 0);
	peer(&h, STP_MUX_FIN, 1, NULL, 0);
	peer(&h, STP_MUX_FIN, 1, NULL, 0);
	CHECK(h.done && h.err == EPROTO, "FIN twice: EPROTO");
	CHECK_STR(h.why, "FIN twice", "... saying why");
	h_free(&h);
}

int main(void)
{
	test_send_credit();
	test_recv_credit();
	test_window_back();
	test_bad_window();
	test_fin_peer_first();
	test_fin_local_first();
	test_fin_two_streams();
	test_after_fin();
	return tap_done();
}
