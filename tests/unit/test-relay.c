/* test-relay.c - the event loop and the relay over real loopback sockets:
 * bytes both ways, half-close passed on only after the data, splice and
 * buffer modes, early bytes, timers. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/evloop.h"
#include "core/relay.h"
#include "tap.h"

/* A connected TCP pair on 127.0.0.1. */
static int tcp_pair(int fds[2])
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM, 0);

	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 1) < 0 ||
	    getsockname(l, (struct sockaddr *)&a, &len) < 0)
		return -1;
	fds[0] = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(fds[0], (struct sockaddr *)&a, sizeof(a)) < 0)
		return -1;
	fds[1] = accept(l, NULL, NULL);
	close(l);
	return fds[1] < 0 ? -1 : 0;
}

struct ctx {
	struct stp_loop *loop;
	int err, done;
};

static void on_done(struct stp_relay *r, void *arg, int err)
{
	struct ctx *c = arg;

	(void)r;
	c->err = err;
	c->done = 1;
	stp_loop_stop(c->loop);
}

/* The test's own ends, driven from loop callbacks: end_a sends `total`
 * bytes then shuts down; end_b echoes the count back after EOF. */
struct peer {
	int fd;
	size_t sent, total, got;
	unsigned char sum_out, sum_in;
	bool eof_seen, wrote_back, shut;
	char back[32];
	size_t backlen, backoff;
};

static void on_peer_a(struct stp_loop *l, int fd, unsigned ev, void *arg)
{
	struct peer *p = arg;
	char buf[65536];

	if ((ev & STP_EV_WRITE) && p->sent < p->total) {
		size_t n = p->total - p->sent < sizeof(buf) ? p->total - p->sent : sizeof(buf);
		for (size_t i = 0; i < n; i++)
			buf[i] = (char)((p->sent + i) * 7);
		ssize_t w = send(fd, buf, n, MSG_NOSIGNAL);
		if (w > 0) {
			for (ssize_t i = 0; i < w; i++)
				p->sum_out += (unsigned char)buf[i];
			p->sent += (size_t)w;
		}
	}
	if (p->sent == p->total && !p->shut) {
		shutdown(fd, SHUT_WR);
		p->shut = true;
		stp_loop_set(l, fd, STP_EV_READ);
	}
	if (ev & STP_EV_READ) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n > 0 && p->backlen + (size_t)n < sizeof(p->back)) {
			memcpy(p->back + p->backlen, buf, (size_t)n);
			p->backlen += (size_t)n;
		} else if (n == 0) {
			p->eof_seen = true;
			stp_loop_set(l, fd, 0);
		}
	}
}

static void on_peer_b(struct stp_loop *l, int fd, unsigned ev, void *arg)
{
	struct peer *p = arg;
	char buf[65536];

	if (ev & STP_EV_READ) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n > 0) {
			for (ssize_t i = 0; i < n; i++)
				p->sum_in += (unsigned char)buf[i];
			p->got += (size_t)n;
		} else if (n == 0) {
			/* only now, after EOF, answer: proves the half-close */
			p->eof_seen = true;
			p->backlen = (size_t)snprintf(p->back, sizeof(p->back), "%zu", p->got);
			stp_loop_set(l, fd, STP_EV_WRITE);
		}
	}
	if ((ev & STP_EV_WRITE) && p->eof_seen && !p->wrote_back) {
		if (send(fd, p->back, p->backlen, MSG_NOSIGNAL) == (ssize_t)p->backlen) {
			p->wrote_back = true;
			shutdown(fd, SHUT_WR);
			stp_loop_set(l, fd, 0);
		}
	}
}

static void run_case(const char *name, bool splice, size_t total, const char *prefill)
{
	int a[2], b[2];
	struct stp_err e;
	struct ctx c = { 0 };
	struct peer pa = { 0 }, pb = { 0 };

	if (tcp_pair(a) < 0 || tcp_pair(b) < 0) {
		CHECK(0, "%s: socket pairs", name);
		return;
	}
	c.loop = stp_loop_new(1024, &e);
	for (int i = 0; i < 2; i++) {
		fcntl(a[i], F_SETFL, O_NONBLOCK);
		fcntl(b[i], F_SETFL, O_NONBLOCK);
	}
	pa.fd = a[0];
	pa.total = total;
	pb.fd = b[1];
	stp_loop_watch(c.loop, a[0], STP_EV_WRITE | STP_EV_READ, on_peer_a, &pa);
	stp_loop_watch(c.loop, b[1], STP_EV_READ, on_peer_b, &pb);
	struct stp_relay_cfg cfg = { .a_rfd = a[1], .a_wfd = a[1], .b_rfd = b[0], .b_wfd = b[0],
				     .splice = splice, .ab_prefill = prefill,
				     .ab_prefill_len = prefill ? strlen(prefill) : 0 };
	struct stp_relay *r = stp_relay_new(c.loop, &cfg, on_done, &c, &e);
	CHECK(r != NULL, "%s: relay set up", name);
	if (!r)
		return;
	stp_loop_run(c.loop);
	/* the relay may end before this end has read the answer: read the rest */
	fcntl(a[0], F_SETFL, 0);
	for (ssize_t n; !pa.eof_seen && pa.backlen < sizeof(pa.back) - 1 &&
	     (n = read(a[0], pa.back + pa.backlen, sizeof(pa.back) - 1 - pa.backlen)) >= 0;) {
		if (n == 0)
			pa.eof_seen = true;
		pa.backlen += (size_t)n;
	}
	CHECK(pa.eof_seen, "%s: the half-close came back too", name);
	size_t want = total + (prefill ? strlen(prefill) : 0);
	CHECK_INT(c.err, 0, "%s: relay ended cleanly", name);
	CHECK_INT(pb.got, want, "%s: every byte arrived", name);
	CHECK_INT(stp_relay_bytes(r, STP_RELAY_AB), want, "%s: A->B count", name);
	char expect[32];
	snprintf(expect, sizeof(expect), "%zu", want);
	pa.back[pa.backlen] = '\0';
	CHECK_STR(pa.back, expect, "%s: answer after EOF came back", name);
	if (!prefill)
		CHECK_INT(pb.sum_in, pa.sum_out, "%s: checksum", name);
	stp_relay_free(r);
	stp_loop_unwatch(c.loop, a[0]);
	stp_loop_unwatch(c.loop, b[1]);
	close(a[0]);
	close(b[1]);
	stp_loop_free(c.loop);
}

static int fired[3], order[3], norder;
static void on_t(struct stp_loop *l, struct stp_timer *t, void *arg)
{
	int i = (int)(long)arg;

	(void)t;
	fired[i]++;
	order[norder++] = i;
	if (norder == 2)
		stp_loop_stop(l);
}

static void timers(void)
{
	struct stp_err e;
	struct stp_loop *l = stp_loop_new(64, &e);
	struct stp_timer t[3];

	for (long i = 0; i < 3; i++)
		stp_timer_init(&t[i], on_t, (void *)i);
	stp_timer_start(l, &t[0], 30);
	stp_timer_start(l, &t[1], 10);
	stp_timer_start(l, &t[2], 20);
	stp_timer_stop(l, &t[2]);
	uint64_t t0 = stp_clock_ms();
	stp_loop_run(l);
	CHECK(order[0] == 1 && order[1] == 0, "timers fire in deadline order");
	CHECK_INT(fired[2], 0, "a stopped timer does not fire");
	CHECK(stp_clock_ms() - t0 >= 29, "no timer fires early");
	stp_loop_free(l);
}

int main(void)
{
	run_case("buffer mode, 3 MB", false, 3u << 20, NULL);
	run_case("splice mode, 3 MB", true, 3u << 20, NULL);
	run_case("buffer mode, empty stream", false, 0, NULL);
	run_case("splice mode, early bytes", true, 100000, "early");
	run_case("buffer mode, early bytes", false, 100000, "early");
	timers();
	return tap_done();
}
