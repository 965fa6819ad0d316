/* frameq.c - LEN(2)-framed datagrams on a client's TCP connection. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "server/frameq.h"
#include "server/server_priv.h"
#include "server/sessprot.h"

bool stp_frameq_push(struct stp_frameq *q, const uint8_t *d, size_t fl)
{
	size_t need = 2 + fl;

	if (fl > 65535 || q->len + need > q->max)
		return false;
	if (q->off + q->len + need > q->cap) {
		if (q->off) {
			memmove(q->buf, q->buf + q->off, q->len);
			q->off = 0;
		}
		if (q->len + need > q->cap) {
			size_t want = q->cap ? q->cap : 16384;
			while (want < q->len + need)
				want *= 2;
			if (want > q->max)
				want = q->max;
			uint8_t *nb = realloc(q->buf, want);
			if (!nb)
				return false;
			q->buf = nb;
			q->cap = want;
		}
	}
	uint8_t *w = q->buf + q->off + q->len;
	w[0] = (uint8_t)(fl >> 8);
	w[1] = (uint8_t)fl;
	memcpy(w + 2, d, fl);
	q->len += need;
	return true;
}

int stp_frameq_drain(struct stp_frameq *q, stp_frameq_write *wr, void *arg)
{
	while (q->len) {
		ssize_t n = wr(arg, q->buf + q->off, q->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0)
			return -1;
		q->off += (size_t)n;
		q->len -= (size_t)n;
	}
	if (q->len == 0)
		q->off = 0;
	return 0;
}

static ssize_t to_client(void *arg, const void *b, size_t n)
{
	return session_write(arg, b, n);
}

int stp_frameq_flush(struct stp_frameq *q, struct session *ss)
{
	/* the session's own reply bytes go first */
	if (ss->outlen == 0 && stp_frameq_drain(q, to_client, ss) < 0)
		return -1;
	/* a wrapped message partly written (GSS-API) waits for a write event */
	stp_loop_set(ss->srv->loop, ss->cfd,
		     STP_EV_READ | (q->len || ss->outlen || sessprot_out_pending(ss) ? STP_EV_WRITE : 0));
	return 0;
}

void stp_frameq_free(struct stp_frameq *q)
{
	free(q->buf);
	memset(q, 0, sizeof(*q));
}

#define FRAME_MAX (2 + 65535)

/* Hands every whole frame in fi to cb and keeps the rest at the front. */
static void split(struct stp_framein *fi, stp_frame_cb *cb, void *arg)
{
	size_t off = 0;

	while (fi->len - off >= 2) {
		size_t fl = (size_t)fi->buf[off] << 8 | fi->buf[off + 1];
		if (fi->len - off < 2 + fl)
			break;
		cb(arg, fi->buf + off + 2, fl);
		off += 2 + fl;
	}
	memmove(fi->buf, fi->buf + off, fi->len - off);
	fi->len -= off;
}

/* Room for want bytes in all (at most FRAME_MAX): twice as much as before,
 * so that small frames come several at a time. Returns 0 or -1. */
static int reserve(struct stp_framein *fi, size_t want)
{
	size_t cap = fi->cap ? fi->cap * 2 : 4096;

	if (want <= fi->cap)
		return 0;
	if (want > FRAME_MAX)
		return -1;
	if (cap < want)
		cap = want;
	if (cap > FRAME_MAX)
		cap = FRAME_MAX;
	uint8_t *b = realloc(fi->buf, cap);
	if (!b)
		return -1;
	fi->buf = b;
	fi->cap = cap;
	return 0;
}

int stp_framein_put(struct stp_framein *fi, const uint8_t *b, size_t n,
		    stp_frame_cb *cb, void *arg)
{
	while (n) {
		if (fi->len == fi->cap && reserve(fi, fi->len + 1) < 0)
			return -1;
		size_t k = n < fi->cap - fi->len ? n : fi->cap - fi->len;
		memcpy(fi->buf + fi->len, b, k);
		fi->len += k;
		b += k;
		n -= k;
		split(fi, cb, arg);
	}
	return 0;
}

int stp_control_read(struct session *ss, struct stp_framein *fi, size_t budget,
		     stp_frame_cb *cb, void *arg)
{
	uint8_t junk[4096];
	int extra = 0;

	/* past the budget, what TLS or the GSS-API channel already holds is
	 * read too: no fd event would say it is there (a few reads at most:
	 * each holds one record or message and a part) */
	while (budget || (session_pending(ss) && extra++ < 8)) {
		uint8_t *p = junk;
		size_t room = sizeof(junk);
		if (fi) {
			/* full: the frame at the front is not whole yet; make
			 * room for all of it (split took every whole one) */
			if (fi->len == fi->cap &&
			    reserve(fi, fi->len >= 2 ? 2 + ((size_t)fi->buf[0] << 8 | fi->buf[1])
				    : fi->len + 1) < 0)
				return -1;
			p = fi->buf + fi->len;
			room = fi->cap - fi->len;
		}
		ssize_t n = session_recv(ss, p, budget && budget < room ? budget : room);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n <= 0)
			return -1;
		budget -= (size_t)n < budget ? (size_t)n : budget;
		if (fi) {
			fi->len += (size_t)n;
			split(fi, cb, arg);
		}
	}
	return 0;
}

void stp_framein_free(struct stp_framein *fi)
{
	free(fi->buf);
	fi->buf = NULL;
	fi->len = fi->cap = 0;
}
