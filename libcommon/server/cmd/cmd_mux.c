/* cmd_mux.c - MUX (X'D6', PROTOCOL.md §4): after the reply the connection
 * carries frames, and each stream's request is served by a session of its
 * own on one end of a socketpair (muxconn.c holds the other end). So a
 * stream is dialled, resolved, checked against the rules, limited, counted
 * and logged exactly like a session, with the MUX session's client address,
 * user and policy: authenticated once, for the connection. */
#include <errno.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mux/muxconn.h"
#include "server/server_priv.h"
#include "server/sessprot.h"

struct mux_sess {
	struct session *ss;
	struct stp_mux *m;
	/* streams whose sessions live: the engine's count also holds streams
	 * whose session ended and that wait for the client's FIN, which an
	 * idle client never sends */
	long children;
	uint64_t quiet_since;     /* loop time the last of them ended */
};

static void mux_on_client(struct session *ss, unsigned events);
static void mux_on_timer(struct session *ss);
static void mux_free(struct session *ss);
static const struct cmd_ops mux_ops = {
	.on_client = mux_on_client, .on_timer = mux_on_timer, .free = mux_free,
};

static ssize_t m_recv(void *arg, void *buf, size_t n)
{
	return session_recv(arg, buf, n);
}

static ssize_t m_send(void *arg, const void *buf, size_t n)
{
	return session_write(arg, buf, n);
}

static bool m_pending(void *arg)
{
	return session_pending(arg);
}

static void m_want(void *arg, unsigned mask)
{
	struct session *ss = arg;

	/* GSS-API: a wrapped message partly written needs the write event the
	 * engine does not know of */
	if (sessprot_out_pending(ss))
		mask |= STP_EV_WRITE;
	stp_loop_set(ss->srv->loop, ss->cfd, mask);
}

/* The commands a stream may carry; the rest get RST X'07'. */
static bool stream_cmd(uint8_t cmd)
{
	return cmd == STP_CMD_CONNECT || cmd == STP_CMD_RESOLVE ||
	       cmd == STP_CMD_RESOLVE_PTR || cmd == STP_CMD_DNS;
}

static int m_open(void *arg, uint32_t id, const uint8_t *req, size_t n, void **user,
		  uint8_t *rep)
{
	struct session *ss = arg;
	struct stp_server *s = ss->srv;
	struct mux_sess *ms = ss->cst;
	int sv[2];

	*rep = STP_REP_FAIL;
	if (!stream_cmd(req[1]))
		*rep = STP_REP_CMD_UNSUPPORTED;
	else if (s->draining || !server_room(s, STREAM_FDS))
		*rep = STP_REP_LIMIT;
	else if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		*rep = errno == EMFILE || errno == ENFILE ? STP_REP_LIMIT : STP_REP_FAIL;
	else {
		ms->children++;  /* first: the stream's session may end at once */
		if (session_open_stream(ss, sv[1], id, req, n, user, rep)) {
			s->stats.mux_streams++;
			return sv[0];
		}
		ms->children--;
		close(sv[0]);
	}
	s->stats.mux_refused++;
	return -1;
}

/* A stream's session ended or was let go: one child fewer. */
static void child_left(struct session *parent)
{
	struct mux_sess *ms = parent->cst;

	if (ms && --ms->children == 0)  /* ms NULL: mux_free is under way */
		ms->quiet_since = stp_loop_now(parent->srv->loop);
}

static void m_release(void *arg, void *user, bool abort)
{
	struct session *child = user;

	child->mux_parent = NULL;
	child_left(arg);
	if (abort) {
		child->result = "MUX stream reset";
		session_free(child);
	}
}

static void take_counts(struct session *ss, struct stp_mux *m)
{
	struct stp_mux_counts c;

	stp_mux_counts(m, &c);
	ss->bytes_up = c.bytes_in;
	ss->bytes_down = c.bytes_out;
}

static void m_done(void *arg, int err, const char *why)
{
	struct session *ss = arg;
	struct mux_sess *ms = ss->cst;

	take_counts(ss, ms->m);
	/* a GSS-API message refused: its reason, not the engine's read error */
	if (err == EPROTO && sessprot_why(ss))
		why = sessprot_why(ss);
	ss->result = err ? why : "ok";
	session_free(ss);  /* frees the engine (mux_free) */
}

static void mux_on_client(struct session *ss, unsigned events)
{
	struct mux_sess *ms = ss->cst;

	stp_mux_on_io(ms->m, events);  /* may end ss */
}

#define DRAIN_POLL_MS 100

/* --idle-timeout: a MUX connection is idle when no stream's session lives
 * and no frame moved (a client's PINGs keep it). While the server drains,
 * it ends as soon as its last stream has. */
static void mux_on_timer(struct session *ss)
{
	struct mux_sess *ms = ss->cst;
	struct stp_mux_counts c;

	stp_mux_counts(ms->m, &c);
	take_counts(ss, ms->m);
	if (ss->srv->draining) {
		if (c.live == 0) {
			ss->result = "server stopping";
			session_free(ss);
			return;
		}
		stp_timer_start(ss->srv->loop, &ss->timer, DRAIN_POLL_MS);
		return;
	}
	if (ms->children)
		session_idle_check(ss, stp_loop_now(ss->srv->loop));
	else
		session_idle_check(ss, c.last_active > ms->quiet_since ? c.last_active
								       : ms->quiet_since);
}

void cmd_mux_drain(struct stp_server *s)
{
	for (struct session *ss = s->sessions; ss; ss = ss->next)
		if (ss->state == S_CMD && ss->ops == &mux_ops)
			stp_timer_start(s->loop, &ss->timer, 0);
}

static void mux_free(struct session *ss)
{
	struct mux_sess *ms = ss->cst;

	if (!ms)
		return;
	ss->cst = NULL;
	stp_mux_free(ms->m);  /* the streams' sessions end with it */
	free(ms);
}

void cmd_mux(struct session *ss)
{
	struct stp_server *s = ss->srv;
	struct mux_sess *ms = calloc(1, sizeof(*ms));
	uint8_t b[32];
	size_t n = stp5_reply_put(b, sizeof(b), STP_CMD_MUX, STP_REP_OK, NULL, NULL);
	const struct stp_mux_ops ops = {
		.recv = m_recv, .send = m_send, .pending = m_pending, .want = m_want,
		.open = m_open, .release = m_release, .done = m_done, .arg = ss,
	};

	if (!ms) {
		session_reply_error(ss, STP_REP_FAIL);
		return;
	}
	ss->rep = STP_REP_OK;
	if (session_send(ss, b, n) != 0) {
		free(ms);
		ss->result = "client gone before reply";
		session_free(ss);
		return;
	}
	/* frames the client sent behind its request are the engine's */
	ms->ss = ss;
	ms->m = stp_mux_new(s->loop, STP_MUX_SERVER, &ops, ss->in, ss->inlen, 0);
	if (!ms->m) {
		free(ms);
		ss->result = "out of memory";
		session_free(ss);
		return;
	}
	OPENSSL_cleanse(ss->in, ss->incap);
	free(ss->in);
	ss->in = NULL;
	ss->inlen = ss->incap = 0;
	ss->cst = ms;
	ss->ops = &mux_ops;
	ss->state = S_CMD;
	ss->result = "ok";
	stp_timer_stop(s->loop, &ss->timer);
	session_idle_check(ss, stp_loop_now(s->loop));
}

void cmd_mux_child_gone(struct session *ss)
{
	struct session *parent = ss->mux_parent;
	struct mux_sess *ms = parent->ops == &mux_ops ? parent->cst : NULL;

	ss->mux_parent = NULL;
	if (ms) {
		stp_mux_detach(ms->m, ss->mux_stream);
		child_left(parent);
	}
}
