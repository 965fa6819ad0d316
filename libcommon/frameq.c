/* frameq.c - LEN(2)-framed datagrams on a client's TCP connection. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "frameq.h"
#include "server_priv.h"

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

int stp_frameq_flush(struct stp_frameq *q, struct session *ss)
{
	/* the session's own reply bytes go first */
	while (q->len && ss->outlen == 0) {
		ssize_t n = session_write(ss, q->buf + q->off, q->len);
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
	stp_loop_set(ss->srv->loop, ss->cfd,
		     STP_EV_READ | (q->len || ss->outlen ? STP_EV_WRITE : 0));
	return 0;
}

void stp_frameq_free(struct stp_frameq *q)
{
	free(q->buf);
	memset(q, 0, sizeof(*q));
}

void stp_frames_split(uint8_t *buf, size_t *len,
		      void (*cb)(void *arg, const uint8_t *frame, size_t n), void *arg)
{
	size_t off = 0;

	while (*len - off >= 2) {
		size_t fl = (size_t)buf[off] << 8 | buf[off + 1];
		if (*len - off < 2 + fl)
			break;
		cb(arg, buf + off + 2, fl);
		off += 2 + fl;
	}
	memmove(buf, buf + off, *len - off);
	*len -= off;
}
