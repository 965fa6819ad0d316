/* test-dgtx.c - the UDP relay's batched sends (dgtx.c) on real loopback
 * sockets: a mixed queue (a run of alike datagrams for one destination,
 * a shorter one ending it, others for a second destination, one too big to
 * send) comes out at each receiver datagram by datagram, with the same
 * boundaries and order, and every entry's outcome reaches its owner: sent,
 * or the errno of its own failure. Then the same with GSO off. */
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/cmd/dgtx.h"
#include "tap.h"

#define N 20

struct outcome {
	int calls;
	int err;
	size_t len;
};

static void done(void *owner, size_t len, int err)
{
	struct outcome *o = owner;

	o->calls++;
	o->err = err;
	o->len = len;
}

static int udp_bound(struct sockaddr_in *sa)
{
	socklen_t sl = sizeof(*sa);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)sa, sizeof(*sa)) < 0 ||
	    getsockname(fd, (struct sockaddr *)sa, &sl) < 0) {
		perror("udp socket");
		exit(1);
	}
	return fd;
}

/* The next datagram at fd (up to 1 s), its length; -1 if none came. */
static ssize_t next_dgram(int fd, uint8_t *b, size_t cap)
{
	struct timeval tv = { 1, 0 };

	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
		return -1;
	return recv(fd, b, cap, 0);
}

static void round_trip(bool gso_off)
{
	static uint8_t data[N][1200];
	static uint8_t big[70000];
	static uint8_t in[2000];
	struct sockaddr_in a, b;
	int ra = udp_bound(&a), rb = udp_bound(&b);
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct dgtx *t = calloc(1, sizeof(*t));
	struct outcome out[N + 1];
	size_t len[N];
	int dest[N];

	memset(out, 0, sizeof(out));
	if (s < 0 || !t) {
		perror("sender");
		exit(1);
	}
	t->gso_off = gso_off;
	/* 0-9: 1000 bytes to a (a GSO run), 10: 700 to a (ends it), 11-15:
	 * 300 to b, 16: the oversize one (to a), 17-19: 1000 to a again */
	for (int i = 0; i < N; i++) {
		len[i] = i < 10 ? 1000 : i == 10 ? 700 : i < 16 ? 300 : 1000;
		dest[i] = i >= 11 && i < 16 ? 1 : 0;
		memset(data[i], 'a' + i, len[i]);
		data[i][0] = (uint8_t)i;
	}
	for (int i = 0; i < N; i++) {
		const struct sockaddr_in *to = dest[i] ? &b : &a;
		if (i == 16)
			dgtx_add(t, s, big, sizeof(big), (const struct sockaddr *)to, sizeof(*to),
				 done, &out[N], sizeof(big));
		else
			dgtx_add(t, s, data[i], len[i], (const struct sockaddr *)to, sizeof(*to),
				 done, &out[i], len[i]);
	}
	CHECK_INT(out[0].calls, 0, "%s: nothing is sent before the flush", gso_off ? "no GSO" : "GSO");
	dgtx_flush(t);
	CHECK_INT(t->n, 0, "%s: the queue is empty after the flush", gso_off ? "no GSO" : "GSO");
	int ok = 0;
	for (int i = 0; i < N; i++)
		if (i != 16)
			ok += out[i].calls == 1 && out[i].err == 0 && out[i].len == len[i];
	CHECK_INT(ok, N - 1, "%s: each datagram's owner hears once that it was sent",
		  gso_off ? "no GSO" : "GSO");
	CHECK(out[N].calls == 1 && out[N].err == EMSGSIZE,
	      "%s: the oversize one fails alone, with EMSGSIZE (calls %d err %d)",
	      gso_off ? "no GSO" : "GSO", out[N].calls, out[N].err);
	/* each receiver: its datagrams whole, in the order queued */
	int good = 0, want = 0;
	for (int i = 0; i < N; i++) {
		if (i == 16)
			continue;
		want++;
		ssize_t n = next_dgram(dest[i] ? rb : ra, in, sizeof(in));
		good += n == (ssize_t)len[i] && memcmp(in, data[i], len[i]) == 0;
	}
	CHECK_INT(good, want, "%s: every datagram arrives whole, in order, at its own receiver",
		  gso_off ? "no GSO" : "GSO");
	CHECK_INT((int)recv(ra, in, sizeof(in), MSG_DONTWAIT), -1, "%s: nothing more at a",
		  gso_off ? "no GSO" : "GSO");
	if (!gso_off)
		DIAG("UDP GSO %s", t->gso_off ? "refused here: sent one by one" : "taken");
	/* a flush of nothing sends nothing and reports nothing */
	dgtx_flush(t);
	CHECK_INT(out[0].calls, 1, "%s: an empty flush reports nothing", gso_off ? "no GSO" : "GSO");
	free(t);
	close(s);
	close(ra);
	close(rb);
}

/* Another socket's datagram sends what was queued for the first. */
static void fd_change(void)
{
	struct sockaddr_in a;
	int ra = udp_bound(&a);
	int s1 = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int s2 = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct dgtx *t = calloc(1, sizeof(*t));
	struct outcome o1 = { 0 }, o2 = { 0 };
	uint8_t in[16];

	if (s1 < 0 || s2 < 0 || !t)
		exit(1);
	dgtx_add(t, s1, "one", 3, (struct sockaddr *)&a, sizeof(a), done, &o1, 3);
	dgtx_add(t, s2, "two", 3, (struct sockaddr *)&a, sizeof(a), done, &o2, 3);
	CHECK(o1.calls == 1 && o1.err == 0 && o2.calls == 0,
	      "a datagram for another socket sends the first socket's before it");
	dgtx_flush(t);
	ssize_t n1 = next_dgram(ra, in, sizeof(in));
	bool first = n1 == 3 && memcmp(in, "one", 3) == 0;
	ssize_t n2 = next_dgram(ra, in, sizeof(in));
	CHECK(first && n2 == 3 && memcmp(in, "two", 3) == 0 && o2.calls == 1,
	      "both arrive, in the order queued");
	free(t);
	close(s1);
	close(s2);
	close(ra);
}

int main(void)
{
	round_trip(false);
	round_trip(true);
	fd_change();
	return tap_done();
}
