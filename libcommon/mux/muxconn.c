/* muxconn.c - the MUX engine (see muxconn.h): frames in and out of one
 * connection, streams on local sockets, credit per stream.
 *
 * Everything that can end the connection only marks it dead (fatal());
 * each entry point from the loop checks that last and then calls
 * ops->done, which frees the engine: no frame of the call stack touches a
 * freed engine. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mux/muxconn.h"
#include "proto/socks.h"

#define IN_CAP (4 * (STP_MUX_HDR + STP_MUX_MAX))
#define OUT_DATA_LIMIT 65536     /* streams read their sockets while less is queued */
#define OUT_HARD (1u << 20)      /* the connection is not read while more is queued */
#define HS_CAP 600               /* a greeting and a request, or a reply */
#define GRANT_AT (STP_MUX_CREDIT / 4)
#define CREDIT_MAX 0x7fffffffu
#define HASH 256
#define READS_PER_EVENT 4

enum mstate {
	M_GREETING,   /* client role: the local client's greeting */
	M_REQUEST,    /* client role: its request */
	M_OPENING,    /* client role: OPEN sent, waiting for the REPLY */
	M_REPLYING,   /* server role: the local server's reply */
	M_OPEN,       /* DATA both ways */
	M_CLOSING,    /* client role: a refusal being written, then close */
};

struct mstream {
	struct stp_mux *m;
	struct mstream *hnext;         /* in m->tab while the id means something */
	struct mstream *prev, *next;   /* m->all */
	bool hashed;
	uint32_t id;
	int fd;
	enum mstate st;
	uint8_t cmd;
	void *user;
	uint8_t hs[HS_CAP];            /* handshake bytes read from the socket */
	size_t hslen;
	uint8_t *q;                    /* bytes for the socket, only while there are */
	size_t qoff, qlen, qcap;
	size_t q_hs;                   /* leading bytes of q that are not DATA */
	uint32_t send_credit;          /* DATA we may still send */
	uint32_t recv_left;            /* DATA the peer may still send */
	uint32_t unacked;              /* DATA written to the socket, credit not given back */
	bool peer_fin, shut_wr, eof, fin_sent;
};

struct stp_mux {
	struct stp_loop *l;
	enum stp_mux_role role;
	struct stp_mux_ops ops;
	uint8_t *in;
	size_t inlen;
	uint8_t *out;
	size_t ooff, olen, ocap;
	struct mstream *tab[HASH];
	struct mstream *all;
	size_t live;
	uint32_t next_id;     /* client: the next id to open; server: the last opened */
	bool blocked;         /* streams stopped reading for want of output room */
	bool in_paused;       /* the connection is not read: output over OUT_HARD */
	unsigned want_mask;
	bool dead;
	int err;
	const char *why;
	struct stp_timer ka;
	uint64_t keepalive_ms, last_rx, pings;
	int unanswered;
	struct stp_mux_counts n;
};

static void fatal(struct stp_mux *m, int err, const char *why)
{
	if (m->dead)
		return;
	m->dead = true;
	m->err = err;
	m->why = why;
}

/* --- the stream table ------------------------------------------------------ */

static struct mstream **slot(struct stp_mux *m, uint32_t id)
{
	return &m->tab[(id >> 1) % HASH];
}

static struct mstream *find(struct stp_mux *m, uint32_t id)
{
	for (struct mstream *s = *slot(m, id); s; s = s->hnext)
		if (s->id == id)
			return s;
	return NULL;
}

static void hash_add(struct mstream *s, uint32_t id)
{
	struct mstream **h = slot(s->m, id);

	s->id = id;
	s->hnext = *h;
	*h = s;
	s->hashed = true;
}

/* The id means nothing any more: frames for it are ignored from now on. */
static void hash_del(struct mstream *s)
{
	if (!s->hashed)
		return;
	for (struct mstream **p = slot(s->m, s->id); *p; p = &(*p)->hnext) {
		if (*p == s) {
			*p = s->hnext;
			break;
		}
	}
	s->hashed = false;
}

/* --- output to the connection ---------------------------------------------- */

static bool out_room(const struct stp_mux *m)
{
	return m->olen - m->ooff < OUT_DATA_LIMIT;
}

/* Room for n more bytes at m->out + m->olen, or NULL (dead) on ENOMEM. */
static uint8_t *out_reserve(struct stp_mux *m, size_t n)
{
	if (m->ocap - m->olen >= n)
		return m->out + m->olen;
	if (m->ooff) {
		memmove(m->out, m->out + m->ooff, m->olen - m->ooff);
		m->olen -= m->ooff;
		m->ooff = 0;
		if (m->ocap - m->olen >= n)
			return m->out + m->olen;
	}
	size_t cap = m->ocap ? m->ocap : 4 * (STP_MUX_HDR + STP_MUX_MAX);
	while (cap - m->olen < n)
		cap *= 2;
	uint8_t *b = realloc(m->out, cap);
	if (!b) {
		fatal(m, ENOMEM, "out of memory");
		return NULL;
	}
	m->out = b;
	m->ocap = cap;
	return b + m->olen;
}

static void put_frame(struct stp_mux *m, uint8_t type, uint32_t id, const void *p, uint16_t len)
{
	uint8_t *o = out_reserve(m, STP_MUX_HDR + (size_t)len);

	if (o)
		m->olen += stp_mux_frame_put(o, STP_MUX_HDR + (size_t)len, type, id, p, len);
}

static void put_u32_frame(struct stp_mux *m, uint8_t type, uint32_t id, uint32_t v)
{
	uint8_t b[4] = { v >> 24, (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff };

	put_frame(m, type, id, b, 4);
}

static void stream_update(struct mstream *s);

static void flush(struct stp_mux *m)
{
	while (!m->dead && m->ooff < m->olen) {
		ssize_t n = m->ops.send(m->ops.arg, m->out + m->ooff, m->olen - m->ooff);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			fatal(m, n < 0 ? errno : EPIPE, "write to the connection failed");
			return;
		}
		m->ooff += (size_t)n;
		m->n.last_active = stp_loop_now(m->l);
	}
	if (m->ooff == m->olen) {
		m->ooff = m->olen = 0;
		if (m->ocap > 4 * (STP_MUX_HDR + STP_MUX_MAX)) {
			/* a burst of control frames is over: give the memory back */
			free(m->out);
			m->out = NULL;
			m->ocap = 0;
		}
	}
	if (m->in_paused && m->olen - m->ooff < OUT_HARD / 2)
		m->in_paused = false;
	if (m->blocked && out_room(m)) {
		m->blocked = false;
		for (struct mstream *s = m->all; s; s = s->next)
			stream_update(s);
	}
}

static void set_want(struct stp_mux *m)
{
	unsigned mask = (m->in_paused ? 0 : STP_EV_READ) | (m->olen > m->ooff ? STP_EV_WRITE : 0);

	if (mask != m->want_mask) {
		m->want_mask = mask;
		m->ops.want(m->ops.arg, mask);
	}
}

/* --- streams ---------------------------------------------------------------- */

static void on_stream(struct stp_loop *l, int fd, unsigned ev, void *arg);

static struct mstream *stream_new(struct stp_mux *m, int fd)
{
	struct mstream *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->m = m;
	s->fd = fd;
	s->send_credit = s->recv_left = STP_MUX_CREDIT;
	s->next = m->all;
	if (m->all)
		m->all->prev = s;
	m->all = s;
	m->live++;
	m->n.streams++;
	return s;
}

/* Frees s and closes its socket, and lets its user go (abort: its work is
 * over too). */
static void stream_drop(struct mstream *s, bool abort)
{
	struct stp_mux *m = s->m;
	void *user = s->user;

	hash_del(s);
	if (s->prev)
		s->prev->next = s->next;
	else
		m->all = s->next;
	if (s->next)
		s->next->prev = s->prev;
	m->live--;
	if (s->fd >= 0) {
		stp_loop_unwatch(m->l, s->fd);
		close(s->fd);
	}
	free(s->q);
	free(s);
	if (user && m->ops.release)
		m->ops.release(m->ops.arg, user, abort);
}

/* The peer is told (RST rep) if the id still means something to it. */
static void stream_reset(struct mstream *s, uint8_t rep)
{
	if (s->hashed)
		put_frame(s->m, STP_MUX_RST, s->id, &rep, 1);
	stream_drop(s, true);
}

/* Queues bytes for the local socket; hs: handshake bytes, no credit. */
static int q_add(struct mstream *s, const uint8_t *b, size_t n, bool hs)
{
	if (s->qoff == s->qlen)
		s->qoff = s->qlen = 0;
	if (s->qcap - s->qlen < n) {
		if (s->qoff) {
			memmove(s->q, s->q + s->qoff, s->qlen - s->qoff);
			s->qlen -= s->qoff;
			s->qoff = 0;
		}
		if (s->qcap - s->qlen < n) {
			size_t cap = s->qcap ? s->qcap : 16384;
			while (cap - s->qlen < n)
				cap *= 2;
			uint8_t *q = realloc(s->q, cap);
			if (!q)
				return -1;
			s->q = q;
			s->qcap = cap;
		}
	}
	memcpy(s->q + s->qlen, b, n);
	s->qlen += n;
	if (hs)
		s->q_hs += n;
	return 0;
}

static bool stream_over(const struct mstream *s)
{
	return s->st == M_OPEN && s->eof && s->fin_sent && s->peer_fin && s->shut_wr;
}

/* Sets the socket's interest from the stream's state and credit. */
static void stream_update(struct mstream *s)
{
	struct stp_mux *m = s->m;
	unsigned mask = s->qlen > s->qoff ? STP_EV_WRITE : 0;

	switch (s->st) {
	case M_GREETING:
	case M_REQUEST:
		if (s->hslen < HS_CAP)
			mask |= STP_EV_READ;
		break;
	case M_REPLYING:
		mask |= STP_EV_READ;
		break;
	case M_OPEN:
		if (s->eof || s->send_credit == 0)
			break;
		if (!out_room(m)) {
			m->blocked = true;
			break;
		}
		mask |= STP_EV_READ;
		break;
	case M_OPENING:
	case M_CLOSING:
		break;
	}
	stp_loop_set(m->l, s->fd, mask);
}

/* Writes the queue to the socket; passes FIN on as shutdown once it is
 * empty; gives credit back. Returns -1 when s is gone. */
static int stream_write(struct mstream *s)
{
	struct stp_mux *m = s->m;

	while (s->qoff < s->qlen) {
		ssize_t n = send(s->fd, s->q + s->qoff, s->qlen - s->qoff, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			stream_reset(s, STP_REP_FAIL);
			return -1;
		}
		size_t hs = (size_t)n < s->q_hs ? (size_t)n : s->q_hs;
		s->q_hs -= hs;
		s->unacked += (uint32_t)((size_t)n - hs);
		s->qoff += (size_t)n;
	}
	if (s->qoff == s->qlen) {
		free(s->q);  /* buffers only while bytes are in flight */
		s->q = NULL;
		s->qoff = s->qlen = s->qcap = 0;
	}
	if (s->unacked >= GRANT_AT && s->hashed) {
		put_u32_frame(m, STP_MUX_WINDOW, s->id, s->unacked);
		s->recv_left += s->unacked;
		s->unacked = 0;
	}
	if (s->qlen)
		return 0;
	if (s->st == M_CLOSING) {
		stream_drop(s, false);
		return -1;
	}
	if (s->peer_fin && !s->shut_wr && (s->st == M_OPEN || s->st == M_REPLYING)) {
		shutdown(s->fd, SHUT_WR);
		s->shut_wr = true;
	}
	if (stream_over(s)) {
		stream_drop(s, false);
		return -1;
	}
	return 0;
}

/* Sends what the socket has, as DATA, within credit and output room. */
static int stream_read_data(struct mstream *s)
{
	struct stp_mux *m = s->m;

	for (int i = 0; i < READS_PER_EVENT && s->send_credit && out_room(m) && !s->eof; i++) {
		size_t want = s->send_credit < STP_MUX_MAX ? s->send_credit : STP_MUX_MAX;
		uint8_t *o = out_reserve(m, STP_MUX_HDR + want);
		if (!o)
			return -1;
		ssize_t n = read(s->fd, o + STP_MUX_HDR, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n < 0) {
			stream_reset(s, STP_REP_FAIL);
			return -1;
		}
		if (n == 0) {
			s->eof = s->fin_sent = true;
			put_frame(m, STP_MUX_FIN, s->id, NULL, 0);
			if (stream_over(s)) {
				stream_drop(s, false);
				return -1;
			}
			break;
		}
		m->olen += stp_mux_frame_put(o, STP_MUX_HDR + (size_t)n, STP_MUX_DATA, s->id,
					     o + STP_MUX_HDR, (uint16_t)n);
		s->send_credit -= (uint32_t)n;
		m->n.bytes_out += (uint64_t)n;
	}
	return 0;
}

/* Handshake bytes left behind the request or reply go out as DATA. */
static void send_leftover(struct mstream *s, size_t used)
{
	size_t rest = s->hslen - used;

	if (rest) {
		put_frame(s->m, STP_MUX_DATA, s->id, s->hs + used, (uint16_t)rest);
		s->send_credit -= (uint32_t)rest;
		s->m->n.bytes_out += rest;
	}
	s->hslen = 0;
}

/* Server role: the local server's SOCKS5 reply becomes the REPLY frame. */
static int stream_read_reply(struct mstream *s)
{
	struct stp5_msg msg;
	ssize_t n = read(s->fd, s->hs + s->hslen, HS_CAP - s->hslen);

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0) {
		stream_reset(s, STP_REP_FAIL);
		return -1;
	}
	s->hslen += (size_t)n;
	ssize_t k = stp5_reply_get(s->hs, s->hslen, s->cmd, &msg);
	if (k == 0 && s->hslen < HS_CAP)
		return 0;
	if (k <= 0) {
		stream_reset(s, STP_REP_FAIL);
		return -1;
	}
	/* REPLY is the reply without VER and RSV */
	uint8_t rep = s->hs[1];
	s->hs[2] = rep;
	put_frame(s->m, STP_MUX_REPLY, s->id, s->hs + 2, (uint16_t)(k - 2));
	if (rep != STP_REP_OK) {
		hash_del(s);  /* gone on both ends: no FIN, no RST */
		stream_drop(s, true);
		return -1;
	}
	s->st = M_OPEN;
	send_leftover(s, (size_t)k);
	return 0;
}

/* Client role: a refusal of our own, written before the socket closes. */
static int local_refuse(struct mstream *s, uint8_t rep, uint8_t cmd)
{
	uint8_t b[32];
	size_t n = stp5_reply_put(b, sizeof(b), cmd, rep, NULL, NULL);

	hash_del(s);
	s->st = M_CLOSING;
	if (q_add(s, b, n, true) < 0) {
		stream_drop(s, false);
		return -1;
	}
	return stream_write(s);
}

/* Client role: the local client's greeting and request; the request goes
 * out as OPEN. */
static int stream_read_hello(struct mstream *s)
{
	struct stp_mux *m = s->m;
	ssize_t n = read(s->fd, s->hs + s->hslen, HS_CAP - s->hslen);

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0) {
		stream_drop(s, false);  /* no OPEN yet: nothing to tell the peer */
		return -1;
	}
	s->hslen += (size_t)n;
	if (s->st == M_GREETING) {
		struct stp5_greeting g;
		uint8_t b[2];
		ssize_t k = stp5_greeting_get(s->hs, s->hslen, &g);
		if (k == 0)
			return 0;
		if (k < 0) {
			stream_drop(s, false);
			return -1;
		}
		uint8_t method = memchr(g.methods, STP_METHOD_NONE, g.nmethods) ?
			STP_METHOD_NONE : STP_METHOD_NOACCEPT;
		memmove(s->hs, s->hs + k, s->hslen - (size_t)k);
		s->hslen -= (size_t)k;
		s->st = method == STP_METHOD_NONE ? M_REQUEST : M_CLOSING;
		if (q_add(s, b, stp5_method_put(b, sizeof(b), method), true) < 0 ||
		    stream_write(s) < 0)
			return -1;
		if (s->st == M_CLOSING)
			return 0;
	}
	struct stp5_msg msg;
	uint8_t rep = STP_REP_FAIL;
	ssize_t k = stp5_request_get(s->hs, s->hslen, &msg, &rep);
	if (k == 0 && s->hslen < HS_CAP)
		return 0;
	if (k <= 0)
		return local_refuse(s, k == 0 ? STP_REP_FAIL : rep, s->hslen > 1 ? s->hs[1] : 0);
	/* OPEN is the request without VER and RSV */
	s->cmd = msg.code;
	s->hs[2] = s->hs[1];
	hash_add(s, m->next_id);
	m->next_id += 2;
	put_frame(m, STP_MUX_OPEN, s->id, s->hs + 2, (uint16_t)(k - 2));
	memmove(s->hs, s->hs + k, s->hslen - (size_t)k);
	s->hslen -= (size_t)k;
	s->st = M_OPENING;
	return 0;
}

/* --- frames from the peer ------------------------------------------------- */

static void open_stream(struct stp_mux *m, uint32_t id, const uint8_t *p, uint16_t len)
{
	uint8_t req[STP_MUX_MAX + 2], rep = STP_REP_FAIL;
	struct mstream *s;

	if (m->role != STP_MUX_SERVER || !(id & 1) || id <= m->next_id || len < 2) {
		fatal(m, EPROTO, "bad OPEN");
		return;
	}
	m->next_id = id;
	if (m->live >= STP_MUX_STREAMS_MAX || !(s = stream_new(m, -1))) {
		rep = STP_REP_LIMIT;
		put_frame(m, STP_MUX_RST, id, &rep, 1);
		return;
	}
	hash_add(s, id);
	s->cmd = p[0];
	s->st = M_REPLYING;
	req[0] = 5;
	req[1] = p[0];
	req[2] = 0;
	memcpy(req + 3, p + 1, len - 1u);
	/* open may hand s->user to a session that ends at once (detach) */
	int fd = m->ops.open(m->ops.arg, id, req, (size_t)len + 2, &s->user, &rep);
	if (fd < 0) {
		put_frame(m, STP_MUX_RST, id, &rep, 1);
		stream_drop(s, false);
		return;
	}
	s->fd = fd;
	if (stp_loop_watch(m->l, fd, STP_EV_READ, on_stream, s) < 0)
		stream_reset(s, STP_REP_FAIL);
}

/* Client role: the REPLY, as a SOCKS5 reply to the local client. */
static void reply_stream(struct stp_mux *m, struct mstream *s, const uint8_t *p, uint16_t len)
{
	uint8_t b[STP_MUX_MAX + 2];

	if (s->st != M_OPENING || len < 2) {
		fatal(m, EPROTO, "unexpected REPLY");
		return;
	}
	b[0] = 5;
	b[1] = p[0];
	b[2] = 0;
	memcpy(b + 3, p + 1, len - 1u);
	if (q_add(s, b, (size_t)len + 2, true) < 0) {
		stream_reset(s, STP_REP_FAIL);
		return;
	}
	if (p[0] != STP_REP_OK) {
		hash_del(s);
		s->st = M_CLOSING;
	} else {
		s->st = M_OPEN;
		send_leftover(s, 0);
	}
	if (stream_write(s) == 0)
		stream_update(s);
}

static void data_frame(struct stp_mux *m, struct mstream *s, const uint8_t *p, uint16_t len)
{
	if (s->peer_fin || len > s->recv_left) {
		fatal(m, EPROTO, s->peer_fin ? "DATA after FIN" : "DATA beyond the credit");
		return;
	}
	s->recv_left -= len;
	m->n.bytes_in += len;
	if (q_add(s, p, len, false) < 0) {
		stream_reset(s, STP_REP_FAIL);
		return;
	}
	if (stream_write(s) == 0)
		stream_update(s);
}

static void handle_frame(struct stp_mux *m, const struct stp_mux_frame *f)
{
	struct mstream *s = NULL;

	m->unanswered = 0;
	if (f->type == STP_MUX_PING) {
		put_frame(m, STP_MUX_PONG, f->stream, f->payload, f->len);
		return;
	}
	if (f->type == STP_MUX_PONG)
		return;
	if (f->type == STP_MUX_OPEN) {
		open_stream(m, f->stream, f->payload, f->len);
		return;
	}
	/* frames for a stream that is gone here (a reset crossed them) */
	if (!(s = find(m, f->stream)))
		return;
	switch (f->type) {
	case STP_MUX_REPLY:
		reply_stream(m, s, f->payload, f->len);
		return;
	case STP_MUX_DATA:
		data_frame(m, s, f->payload, f->len);
		return;
	case STP_MUX_WINDOW: {
		const uint8_t *p = f->payload;
		uint32_t inc = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
		if (inc == 0 || (uint64_t)s->send_credit + inc > CREDIT_MAX) {
			fatal(m, EPROTO, "bad WINDOW");
			return;
		}
		s->send_credit += inc;
		stream_update(s);
		return;
	}
	case STP_MUX_FIN:
		if (s->peer_fin) {
			fatal(m, EPROTO, "FIN twice");
			return;
		}
		s->peer_fin = true;
		if (stream_write(s) == 0)
			stream_update(s);
		return;
	case STP_MUX_RST:
		if (s->st == M_OPENING) {
			local_refuse(s, f->payload[0], s->cmd);
			return;
		}
		hash_del(s);
		stream_drop(s, true);
		return;
	}
}

/* Handles every whole frame in m->in; keeps the rest. */
static void parse_buffered(struct stp_mux *m)
{
	size_t off = 0;
	struct stp_mux_frame f;
	ssize_t k = 0;

	while (!m->dead && (k = stp_mux_frame_get(m->in + off, m->inlen - off, &f)) > 0) {
		handle_frame(m, &f);
		off += (size_t)k;
	}
	if (k < 0)
		fatal(m, EPROTO, "malformed frame");
	memmove(m->in, m->in + off, m->inlen - off);
	m->inlen -= off;
}

/* Reads the connection and handles every whole frame. */
static void read_conn(struct stp_mux *m)
{
	for (int round = 0; !m->dead; round++) {
		if (m->olen - m->ooff >= OUT_HARD) {
			m->in_paused = true;  /* a peer that does not read our answers */
			return;
		}
		bool more = m->ops.pending && m->ops.pending(m->ops.arg);
		if (round >= 16 && !more)
			return;  /* level-triggered epoll brings the rest */
		ssize_t n = m->ops.recv(m->ops.arg, m->in + m->inlen, IN_CAP - m->inlen);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			fatal(m, n < 0 ? errno : 0, n < 0 ? "read from the connection failed"
				 : "closed by the peer");
			return;
		}
		m->inlen += (size_t)n;
		m->last_rx = m->n.last_active = stp_loop_now(m->l);
		parse_buffered(m);
	}
}

/* Every entry point ends here: output, interest, or the end. */
static void finish(struct stp_mux *m)
{
	if (!m->dead)
		flush(m);
	if (m->dead) {
		m->ops.done(m->ops.arg, m->err, m->why);  /* frees m */
		return;
	}
	if (!m->in_paused && m->ops.pending && m->ops.pending(m->ops.arg)) {
		/* TLS holds bytes no fd event will announce */
		read_conn(m);
		if (!m->dead)
			flush(m);
		if (m->dead) {
			m->ops.done(m->ops.arg, m->err, m->why);
			return;
		}
	}
	set_want(m);
}

static void on_stream(struct stp_loop *l, int fd, unsigned ev, void *arg)
{
	struct mstream *s = arg;
	struct stp_mux *m = s->m;
	int r = 0;

	(void)l;
	(void)fd;
	if ((ev & STP_EV_WRITE) && s->qlen > s->qoff)
		r = stream_write(s);
	if (r == 0 && (ev & STP_EV_READ)) {
		switch (s->st) {
		case M_GREETING:
		case M_REQUEST:
			r = stream_read_hello(s);
			break;
		case M_REPLYING:
			r = stream_read_reply(s);
			break;
		case M_OPEN:
			r = stream_read_data(s);
			break;
		default:
			break;
		}
	}
	if (r == 0)
		stream_update(s);
	finish(m);
}

static void on_keepalive(struct stp_loop *l, struct stp_timer *t, void *arg)
{
	struct stp_mux *m = arg;
	uint64_t now = stp_loop_now(l);

	(void)t;
	if (now - m->last_rx >= m->keepalive_ms) {
		if (m->unanswered >= 3) {
			fatal(m, ETIMEDOUT, "keep-alive: no answer from the peer");
		} else {
			uint8_t b[8];
			uint64_t v = ++m->pings;
			for (int i = 7; i >= 0; i--, v >>= 8)
				b[i] = v & 0xff;
			put_frame(m, STP_MUX_PING, 0, b, 8);
			m->unanswered++;
			m->last_rx = now;  /* the next PING one interval later */
		}
	}
	if (!m->dead)
		stp_timer_start(l, &m->ka, m->keepalive_ms);
	finish(m);
}

/* --- the interface ---------------------------------------------------------- */

struct stp_mux *stp_mux_new(struct stp_loop *l, enum stp_mux_role role,
			    const struct stp_mux_ops *ops, const uint8_t *early, size_t n,
			    uint64_t keepalive_ms)
{
	struct stp_mux *m = calloc(1, sizeof(*m));

	if (!m || n > IN_CAP || !(m->in = malloc(IN_CAP))) {
		free(m);
		return NULL;
	}
	m->l = l;
	m->role = role;
	m->ops = *ops;
	m->next_id = role == STP_MUX_CLIENT ? 1 : 0;
	m->keepalive_ms = keepalive_ms;
	m->last_rx = m->n.last_active = stp_loop_now(l);
	stp_timer_init(&m->ka, on_keepalive, m);
	if (keepalive_ms)
		stp_timer_start(l, &m->ka, keepalive_ms);
	if (n)
		memcpy(m->in, early, n);
	m->inlen = n;
	m->want_mask = ~0u;
	/* frames that came with the request are handled at the first event */
	m->ops.want(m->ops.arg, STP_EV_READ | (n ? STP_EV_WRITE : 0));
	return m;
}

void stp_mux_free(struct stp_mux *m)
{
	if (!m)
		return;
	stp_timer_stop(m->l, &m->ka);
	while (m->all)
		stream_drop(m->all, true);
	free(m->in);
	free(m->out);
	free(m);
}

void stp_mux_on_io(struct stp_mux *m, unsigned events)
{
	if (m->inlen)
		parse_buffered(m);
	if (!m->dead && (events & STP_EV_WRITE))
		flush(m);
	if (!m->dead && (events & (STP_EV_READ | STP_EV_ERROR)) && !m->in_paused)
		read_conn(m);
	finish(m);
}

int stp_mux_attach(struct stp_mux *m, int fd)
{
	struct mstream *s;

	if (m->role != STP_MUX_CLIENT || m->live >= STP_MUX_STREAMS_MAX ||
	    !(s = stream_new(m, fd))) {
		close(fd);
		return -1;
	}
	s->st = M_GREETING;
	if (stp_loop_watch(m->l, fd, STP_EV_READ, on_stream, s) < 0) {
		s->fd = -1;
		stream_drop(s, false);
		close(fd);
		return -1;
	}
	return 0;
}

void stp_mux_detach(struct stp_mux *m, uint32_t id)
{
	struct mstream *s = find(m, id);

	if (s)
		s->user = NULL;
}

void stp_mux_counts(const struct stp_mux *m, struct stp_mux_counts *c)
{
	*c = m->n;
	c->live = m->live;
}
