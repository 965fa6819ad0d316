/* test-frameq.c - LEN(2)-framed datagrams on a client's TCP connection
 * (frameq.c): the queue towards the client (its bound, what it writes and
 * when it asks for write events), and the splitter of what comes from the
 * client, fed split at every byte and several frames at once, directly and
 * through a socket. The session is a bare struct session on a socketpair. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/frameq.h"
#include "server/server_priv.h"
#include "tap.h"

static struct stp_server srv;

/* A session whose client connection is fds[0] (non-blocking, watched by
 * the loop); the test is the client on fds[1]. */
static int fake_session(struct session *ss, int fds[2])
{
	memset(ss, 0, sizeof(*ss));
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) < 0 ||
	    fcntl(fds[0], F_SETFL, O_NONBLOCK) < 0 ||
	    stp_loop_watch(srv.loop, fds[0], STP_EV_READ, NULL, NULL) < 0)
		return -1;
	ss->srv = &srv;
	ss->cfd = fds[0];
	return 0;
}

static void end_session(int fds[2])
{
	stp_loop_unwatch(srv.loop, fds[0]);
	close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
}

/* Byte i of datagram k. */
static uint8_t pat(size_t k, size_t i)
{
	return (uint8_t)(k * 31 + i * 7 + 1);
}

static void fill(uint8_t *d, size_t k, size_t n)
{
	for (size_t i = 0; i < n; i++)
		d[i] = pat(k, i);
}

static void test_push_bounds(void)
{
	struct stp_frameq q = { .max = 100 };
	uint8_t d[65536];

	fill(d, 1, sizeof(d));
	CHECK(stp_frameq_push(&q, d, 50), "50 bytes into 100: queued");
	CHECK_INT(q.len, 52, "with their LEN");
	CHECK(q.buf[0] == 0 && q.buf[1] == 50 && q.buf[2] == d[0] && q.buf[51] == d[49],
	      "LEN big-endian, then the bytes");
	CHECK(stp_frameq_push(&q, d, 46), "46 more: exactly full");
	CHECK_INT(q.len, 100, "100 bytes queued");
	CHECK(!stp_frameq_push(&q, d, 0), "even an empty frame does not fit now");
	CHECK_INT(q.len, 100, "a refused frame changes nothing");
	CHECK(q.cap <= q.max, "the buffer never outgrows the bound");
	stp_frameq_free(&q);
	CHECK(q.buf == NULL && q.len == 0, "free empties it");

	q.max = 1 << 20;
	CHECK(!stp_frameq_push(&q, d, 65536), "a frame over 65535 bytes: refused");
	CHECK(stp_frameq_push(&q, d, 65535), "65535 bytes: queued");
	CHECK(q.buf[0] == 0xFF && q.buf[1] == 0xFF && !memcmp(q.buf + 2, d, 65535), "whole");
	CHECK(q.cap >= q.len && q.cap <= q.max, "grown within the bound");
	stp_frameq_free(&q);
}

/* Reads what is waiting on fd into out (at most cap). */
static size_t drain(int fd, uint8_t *out, size_t cap)
{
	size_t got = 0;

	for (;;) {
		ssize_t n = recv(fd, out + got, cap - got, MSG_DONTWAIT);
		if (n <= 0)
			return got;
		got += (size_t)n;
	}
}

/* Checks that b holds frames 0..nframes-1 of the sizes given, in order. */
static int frames_ok(const uint8_t *b, size_t n, const size_t *sizes, size_t nframes)
{
	size_t off = 0;

	for (size_t k = 0; k < nframes; k++) {
		if (n - off < 2 || ((size_t)b[off] << 8 | b[off + 1]) != sizes[k])
			return 0;
		for (size_t i = 0; i < sizes[k]; i++)
			if (b[off + 2 + i] != pat(k, i))
				return 0;
		off += 2 + sizes[k];
	}
	return off == n;
}

static void test_flush(void)
{
	enum { N = 400 };
	static uint8_t got[N * 1100];
	static size_t sizes[N];
	struct stp_frameq q = { .max = 64 * 1024 };
	struct session ss;
	uint8_t d[1100];
	size_t n = 0, nf = 0, pushed = 0;
	int fds[2], sz = 4096, partial = 0, bounded = 1;

	if (!CHECK(fake_session(&ss, fds) == 0, "a session on a socketpair"))
		return;
	setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	setsockopt(fds[1], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));

	/* the client reads slowly: frames are pushed as the queue takes them
	 * and flushed; what is refused is pushed again later */
	while (nf < N) {
		size_t len = (nf * 37) % 1100;
		fill(d, nf, len);
		if (stp_frameq_push(&q, d, len)) {
			sizes[nf++] = len;
			pushed += 2 + len;
		} else {
			if (q.len + 2 + len <= q.max)
				bounded = 0;  /* refused though it fit */
			if (stp_frameq_flush(&q, &ss) < 0)
				break;
			if (q.len > 0) {
				partial++;
				if (!(stp_loop_mask(srv.loop, fds[0]) & STP_EV_WRITE))
					bounded = 0;
			}
			n += drain(fds[1], got + n, sizeof(got) - n);
		}
		if (q.len > q.max || q.cap > q.max)
			bounded = 0;
	}
	CHECK_INT(nf, N, "every frame queued in the end");
	CHECK(bounded, "refused only when full, never over the bound; write interest while "
	      "bytes wait");
	CHECK(partial > 0, "the socket took only part of the queue at times");
	for (int i = 0; i < 1000 && q.len; i++) {
		if (stp_frameq_flush(&q, &ss) < 0)
			break;
		n += drain(fds[1], got + n, sizeof(got) - n);
	}
	n += drain(fds[1], got + n, sizeof(got) - n);
	CHECK_INT(q.len, 0, "all flushed");
	CHECK_INT(stp_loop_mask(srv.loop, fds[0]), STP_EV_READ, "then read interest only");
	CHECK_INT(n, pushed, "the client got every byte");
	CHECK(frames_ok(got, n, sizes, N), "every frame whole and in order");

	/* the session's own reply bytes go first: nothing of the queue yet */
	fill(d, 0, 10);
	stp_frameq_push(&q, d, 10);
	ss.outlen = 3;
	CHECK_INT(stp_frameq_flush(&q, &ss), 0, "flush with a reply pending");
	CHECK_INT(q.len, 12, "the queue waits for the reply");
	CHECK_INT(stp_loop_mask(srv.loop, fds[0]), STP_EV_READ | STP_EV_WRITE, "write interest");
	ss.outlen = 0;

	/* the client is gone */
	close(fds[1]);
	fds[1] = -1;
	CHECK_INT(stp_frameq_flush(&q, &ss), -1, "flush to a closed client: -1");
	stp_frameq_free(&q);
	end_session(fds);
}

struct sink {
	uint8_t *buf;      /* the frames seen, each as LEN | bytes again */
	size_t len, cap;
	size_t frames;
};

static void on_frame(void *arg, const uint8_t *f, size_t n)
{
	struct sink *s = arg;

	if (s->len + 2 + n > s->cap)
		return;
	s->buf[s->len++] = (uint8_t)(n >> 8);
	s->buf[s->len++] = (uint8_t)n;
	memcpy(s->buf + s->len, f, n);
	s->len += n;
	s->frames++;
}

/* A stream of frames of these sizes; returns its length. */
static size_t make_stream(uint8_t *b, const size_t *sizes, size_t nframes)
{
	size_t off = 0;

	for (size_t k = 0; k < nframes; k++) {
		b[off++] = (uint8_t)(sizes[k] >> 8);
		b[off++] = (uint8_t)sizes[k];
		fill(b + off, k, sizes[k]);
		off += sizes[k];
	}
	return off;
}

static void test_split(void)
{
	static const size_t sizes[] = { 0, 1, 3, 300, 5000, 2, 0, 4097 };
	static uint8_t stream[16384], seen[16384];
	size_t n = make_stream(stream, sizes, 8);
	int bad = -1, bounded = 1;

	for (size_t cut = 0; cut <= n; cut++) {
		struct stp_framein fi = { 0 };
		struct sink s = { seen, 0, sizeof(seen), 0 };
		int rc = stp_framein_put(&fi, stream, cut, on_frame, &s);
		rc |= stp_framein_put(&fi, stream + cut, n - cut, on_frame, &s);
		if (fi.cap > 2 + 65535)
			bounded = 0;
		if ((rc || s.frames != 8 || s.len != n || memcmp(seen, stream, n) || fi.len) &&
		    bad < 0)
			bad = (int)cut;
		stp_framein_free(&fi);
	}
	CHECK_INT(bad, -1, "8 frames split in two at every byte: all, whole, in order");
	CHECK(bounded, "the buffer stays within one frame's size");

	struct stp_framein fi = { 0 };
	struct sink s = { seen, 0, sizeof(seen), 0 };
	for (size_t i = 0; i < n; i++)
		stp_framein_put(&fi, stream + i, 1, on_frame, &s);
	CHECK(s.frames == 8 && s.len == n && !memcmp(seen, stream, n) && fi.len == 0,
	      "the same stream a byte at a time");
	stp_framein_free(&fi);
	CHECK(fi.buf == NULL && fi.cap == 0, "free empties it");
}

/* The largest frame, a byte at a time and then with another behind it. */
static void test_split_max(void)
{
	static const size_t sizes[] = { 65535, 7, 65535 };
	static uint8_t stream[3 * 65540], seen[3 * 65540];
	size_t n = make_stream(stream, sizes, 3);
	struct stp_framein fi = { 0 };
	struct sink s = { seen, 0, sizeof(seen), 0 };
	int rc = 0;

	for (size_t i = 0; i < 65537; i++)
		rc |= stp_framein_put(&fi, stream + i, 1, on_frame, &s);
	CHECK(rc == 0 && s.frames == 1 && fi.len == 0, "65535 bytes a byte at a time: one frame");
	rc = stp_framein_put(&fi, stream + 65537, n - 65537, on_frame, &s);
	CHECK(rc == 0 && s.frames == 3 && s.len == n && !memcmp(seen, stream, n),
	      "then two more at once");
	CHECK(fi.cap <= 2 + 65535, "never more than one frame's room");
	stp_framein_free(&fi);
}

/* Bytes waiting in fd's receive queue. */
static int waiting(int fd)
{
	int n = -1;

	return ioctl(fd, FIONREAD, &n) < 0 ? -1 : n;
}

static void test_control_read(void)
{
	static const size_t sizes[] = { 65535, 0, 12, 700, 65535, 1 };
	static uint8_t stream[2 * 65540 + 1000], seen[sizeof(stream)];
	size_t n = make_stream(stream, sizes, 6), off = 0;
	struct stp_framein fi = { 0 };
	struct sink s = { seen, 0, sizeof(seen), 0 };
	struct session ss;
	int fds[2], rc = 0;

	if (!CHECK(fake_session(&ss, fds) == 0, "a session on a socketpair"))
		return;
	fcntl(fds[1], F_SETFL, O_NONBLOCK);
	/* the client writes what the socket takes; the session reads with a
	 * small budget per event */
	for (int guard = 0; guard < 100000 && rc == 0 && s.frames < 6; guard++) {
		ssize_t w = off < n ? send(fds[1], stream + off, n - off, MSG_NOSIGNAL) : 0;
		if (w > 0)
			off += (size_t)w;
		rc = stp_control_read(&ss, &fi, 3000, on_frame, &s);
	}
	CHECK_INT(rc, 0, "reading frames: 0 while the client is there");
	CHECK(s.frames == 6 && s.len == n && !memcmp(seen, stream, n),
	      "six frames (two of 65535 bytes) through the socket, whole and in order");
	CHECK(fi.cap <= 2 + 65535, "the buffer stays within one frame");

	/* the budget bounds one call */
	static uint8_t junk[10000];
	CHECK_INT(send(fds[1], junk, sizeof(junk), 0), sizeof(junk), "10000 bytes more");
	stp_control_read(&ss, NULL, 4096, NULL, NULL);
	CHECK_INT(waiting(fds[0]), 10000 - 4096, "a budget of 4096 reads 4096 bytes");
	CHECK_INT(stp_control_read(&ss, NULL, 1 << 20, NULL, NULL), 0,
		  "without a splitter the bytes are discarded; 0 when none are left");
	CHECK_INT(waiting(fds[0]), 0, "all read");
	close(fds[1]);
	fds[1] = -1;
	CHECK_INT(stp_control_read(&ss, &fi, 4096, on_frame, &s), -1, "EOF: -1");
	stp_framein_free(&fi);
	end_session(fds);
}

int main(void)
{
	struct stp_err e;

	srv.loop = stp_loop_new(1024, &e);
	if (!srv.loop) {
		DIAG("loop: %s", e.msg);
		return 1;
	}
	test_push_bounds();
	test_flush();
	test_split();
	test_split_max();
	test_control_read();
	stp_loop_free(srv.loop);
	return tap_done();
}
