/* httpfwd.c - a forwarded absolute-form request and its answer
 * (httpfwd.h). Not the relay: the proxy must see where each message ends
 * to keep the client's connection for its next request, and must rewrite
 * the answer's head.
 *
 * Buffers: ss->in holds what goes to the origin (the rewritten head, then
 * the body as the client sends it; [0,sent) written, [sent,parsed) this
 * request's bytes still to write, [parsed,inlen) not read by the request
 * parser yet, or, once the request is whole, the client's next request).
 * d holds the origin's bytes not yet passed on (a whole head is rewritten
 * from it); o holds what goes to the client. The origin is read only when
 * o is empty, so o never holds more than one read of d plus a rewritten
 * head: both bounded, and a slow client slows the origin down. */
#include <errno.h>
#include <stddef.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/tls.h"
#include "proto/httpmsg.h"
#include "proto/httpreq.h"
#include "server/httpfwd.h"
#include "server/httpidle.h"
#include "server/httpsrv.h"
#include "server/server_priv.h"

#define D_CAP STP_HTTP_RESP_HEAD_MAX
#define O_CAP (D_CAP + STP_HTTP_RESP_HEAD_MAX + 256)
/* Rounds of reading and writing per event: enough to move what the
 * sockets hold, bounded so that one session cannot hold the loop. */
#define PUMP_ROUNDS 16

struct hfwd {
	struct stp_http_msg rq, rs;
	size_t sent, parsed;        /* in ss->in, see above */
	size_t in_hw;               /* how far ss->in was ever written */
	bool req_done;              /* the request is whole (parsed ends it) */
	bool c_eof, o_eof;          /* the client's, the origin's end of input */
	size_t dlen, dpos, fwd;     /* d: bytes, parsed, passed on */
	bool in_head;               /* the origin's current head is being read */
	bool final_head;            /* the final (non-1xx) head went to the client */
	bool resp_done;             /* the final answer is whole */
	bool keep;                  /* the client keeps the connection after it */
	bool no_reuse;              /* the request was cut short: close after the answer */
	bool origin_keep;           /* the origin's answer lets its connection be used again */
	bool origin_extra;          /* the origin sent bytes past its answer */
	bool in_moved;              /* the request's start left ss->in (sent, room made) */
	size_t olen, ooff;
	uint64_t last;              /* loop time of the last bytes moved */
	/* the buffers last: only the fields above are cleared per request
	 * (clearing ~100 KiB cost page faults on every request) */
	uint8_t d[D_CAP];
	uint8_t o[O_CAP];
};

static void finish(struct session *ss);

void httpfwd_free(struct session *ss)
{
	struct hfwd *h = ss->hfwd;

	if (!h)
		return;
	ss->hfwd = NULL;
	free(h);
}

static ssize_t origin_recv(struct session *ss, void *b, size_t n)
{
	if (ss->tssl)
		return stp_tls_recv(ss->tssl, b, n);
	return read(ss->tfd, b, n);
}

static ssize_t origin_send(struct session *ss, const void *b, size_t n)
{
	if (ss->tssl)
		return stp_tls_send(ss->tssl, b, n);
	return send(ss->tfd, b, n, MSG_NOSIGNAL);
}

/* Ends the session: an answer already begun cannot become an error
 * answer, so the client sees the close (as from any proxy). */
static void abort_fwd(struct session *ss, const char *why)
{
	ss->result = why;
	session_free(ss);
}

/* Fails before any of the answer went to the client: an HTTP error. */
static void fail_fwd(struct session *ss, int status, const char *body, const char *why)
{
	httpfwd_free(ss);
	http_answer_error(ss, status, body, why);
}

static int append(struct hfwd *h, const uint8_t *b, size_t n)
{
	if (n > sizeof(h->o) - h->olen)
		return -1;
	memcpy(h->o + h->olen, b, n);
	h->olen += n;
	return 0;
}

/* The final head is in d[0..end): rewritten into o, and what the client
 * is told about the connection decided. Returns 0, or -1 (the session is
 * answered and gone). */
static int final_head(struct session *ss, struct hfwd *h, size_t end)
{
	uint8_t *out = h->o + h->olen;
	size_t n;

	/* kept only when the client asked for it and the answer's end can be
	 * seen without the origin's close */
	h->keep = ss->http_keep && !h->rs.eof_body && !h->c_eof && !h->no_reuse;
	n = stp_http_resp_rewrite(h->d, end, http_via(), h->keep, out, sizeof(h->o) - h->olen);
	if (n == 0) {
		fail_fwd(ss, 502, "stp-serve: the origin's answer head is malformed or too large",
			 "bad response head");
		return -1;
	}
	h->olen += n;
	h->final_head = true;
	/* its Connection (and HTTP version) allow another request, and the
	 * answer's end is framed, not the close */
	h->origin_keep = h->rs.keep_alive && !h->rs.eof_body;
	ss->http_status = h->rs.status;
	if (!ss->replied_at) {
		uint64_t now = stp_loop_now(ss->srv->loop);
		ss->replied_at = now ? now : 1;
	}
	return 0;
}

/* Passes on what d holds of the origin's answer. Returns 0, or -1 when the
 * session is gone. */
static int down(struct session *ss, struct hfwd *h)
{
	while (h->dpos < h->dlen && !h->resp_done) {
		enum stp_http_ev ev;
		ssize_t n = stp_http_msg_feed(&h->rs, h->d + h->dpos, h->dlen - h->dpos, &ev);
		if (n < 0) {
			if (!h->final_head && h->olen == 0) {
				fail_fwd(ss, 502, "stp-serve: the origin's answer is not HTTP",
					 "bad response");
				return -1;
			}
			abort_fwd(ss, "bad response");
			return -1;
		}
		h->dpos += (size_t)n;
		if (h->in_head) {
			if (ev == STP_HTTP_EV_NONE)
				break;
			/* EV_HEAD: the head ends after the LF at dpos */
			size_t end = h->dpos + 1;
			h->in_head = false;
			h->fwd = end;
			if (h->rs.status == 101) {
				/* the request's Upgrade was not passed on */
				abort_fwd(ss, "origin switched protocols");
				return -1;
			}
			if (h->rs.status / 100 == 1) {
				/* 100 Continue and the like: only to HTTP/1.1 clients
				 * (RFC 9110 §15.2) */
				if (ss->http_minor >= 1) {
					size_t k = stp_http_resp_rewrite(h->d, end, http_via(), -1,
									 h->o + h->olen,
									 sizeof(h->o) - h->olen);
					if (k == 0) {
						abort_fwd(ss, "bad interim response");
						return -1;
					}
					h->olen += k;
				}
			} else if (final_head(ss, h, end) < 0) {
				return -1;
			}
			continue;
		}
		/* the body: the bytes the parser took past the head */
		if (h->dpos > h->fwd) {
			if (append(h, h->d + h->fwd, h->dpos - h->fwd) < 0) {
				abort_fwd(ss, "out of buffer");
				return -1;
			}
			h->fwd = h->dpos;
		}
		if (ev == STP_HTTP_EV_DONE) {
			if (h->final_head) {
				h->resp_done = true;  /* more from the origin is not ours */
				break;
			}
			/* an interim answer ended: the next head starts at d[0] */
			memmove(h->d, h->d + h->dpos, h->dlen - h->dpos);
			h->dlen -= h->dpos;
			h->dpos = h->fwd = 0;
			h->in_head = true;
		}
	}
	if (h->in_head) {
		if (h->dlen == sizeof(h->d)) {
			if (h->final_head) {
				abort_fwd(ss, "bad response head");
				return -1;
			}
			fail_fwd(ss, 502, "stp-serve: the origin's answer head is too large",
				 "response head too large");
			return -1;
		}
	} else if (h->dpos == h->dlen || h->resp_done) {
		if (h->resp_done && h->dpos < h->dlen)
			h->origin_extra = true;  /* not ours: the connection is not reused */
		h->dlen = h->dpos = h->fwd = 0;
	}
	return 0;
}

/* Reads the request's bytes in ss->in as far as they go. Returns 0, or -1
 * when the session is gone. */
static int up_parse(struct session *ss, struct hfwd *h)
{
	while (!h->req_done && h->parsed < ss->inlen) {
		enum stp_http_ev ev;
		ssize_t n = stp_http_msg_feed(&h->rq, ss->in + h->parsed, ss->inlen - h->parsed, &ev);
		if (n < 0) {
			abort_fwd(ss, "malformed request body");
			return -1;
		}
		h->parsed += (size_t)n;
		if (ev == STP_HTTP_EV_DONE)
			h->req_done = true;
		else if (ev == STP_HTTP_EV_NONE)
			break;
	}
	return 0;
}

/* A kept origin connection (httpidle.h) that the origin closed just as
 * the request went out, before any byte of an answer: the request, whole
 * in ss->in still and idempotent, goes again on a new connection, once
 * (RFC 9112 §9.3.1). Returns true when it did (the forwarding state is
 * gone, the session connecting). */
static bool retry_fresh(struct session *ss, struct hfwd *h)
{
	if (!ss->http_oreused || h->dlen > 0 || h->final_head || h->in_moved || !h->req_done ||
	    h->olen > 0)
		return false;
	ss->http_oreused = false;
	stp_loop_unwatch(ss->srv->loop, ss->tfd);
	close(ss->tfd);
	ss->tfd = -1;
	ss->bytes_up = 0;
	httpfwd_free(ss);
	stp_log(&ss->srv->cfg.log, STP_LOG_DEBUG,
		"HTTP: the kept origin connection closed; the request goes on a new one");
	cmd_connect(ss);
	return true;
}

/* One round of I/O both ways. Returns 1 when something moved, 0 when not,
 * -1 when the session is gone. */
static int pump_once(struct session *ss, struct hfwd *h)
{
	int moved = 0;
	ssize_t n;

	/* client -> ss->in */
	if (!h->req_done && !h->c_eof && ss->inlen < ss->incap) {
		n = session_recv(ss, ss->in + ss->inlen, ss->incap - ss->inlen);
		if (n > 0) {
			ss->inlen += (size_t)n;
			if (ss->inlen > h->in_hw)
				h->in_hw = ss->inlen;
			moved = 1;
		} else if (n == 0) {
			h->c_eof = true;
			if (!h->req_done) {
				abort_fwd(ss, "client closed during the request");
				return -1;
			}
		} else if (errno != EAGAIN && errno != EINTR) {
			abort_fwd(ss, strerror(errno));
			return -1;
		}
		if (up_parse(ss, h) < 0)
			return -1;
	}
	/* ss->in -> origin */
	if (h->sent < h->parsed) {
		n = origin_send(ss, ss->in + h->sent, h->parsed - h->sent);
		if (n > 0) {
			h->sent += (size_t)n;
			ss->bytes_up += (uint64_t)n;
			moved = 1;
		} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
			/* the origin may have answered already: read that first */
			h->sent = h->parsed;
			h->req_done = h->no_reuse = true;
		}
	}
	if (h->sent == h->parsed && !h->req_done && h->sent > 0) {
		/* all of the request so far went out: room for more */
		h->in_moved = true;
		memmove(ss->in, ss->in + h->sent, ss->inlen - h->sent);
		ss->inlen -= h->sent;
		h->parsed -= h->sent;
		h->sent = 0;
	}
	/* origin -> d -> o */
	if (h->olen == 0 && !h->resp_done && !h->o_eof && h->dlen < sizeof(h->d)) {
		n = origin_recv(ss, h->d + h->dlen, sizeof(h->d) - h->dlen);
		if (n > 0) {
			h->dlen += (size_t)n;
			moved = 1;
			if (down(ss, h) < 0)
				return -1;
		} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			h->o_eof = true;
			if (retry_fresh(ss, h))
				return -1;
			if (!h->final_head) {
				fail_fwd(ss, 502, "stp-serve: the origin closed without an answer",
					 "no response");
				return -1;
			}
			if (!stp_http_msg_eof_ok(&h->rs) || n < 0) {
				abort_fwd(ss, "origin closed during the answer");
				return -1;
			}
			h->resp_done = true;  /* a body that ends with the close */
		}
	}
	/* o -> client */
	if (h->ooff < h->olen) {
		n = session_write(ss, h->o + h->ooff, h->olen - h->ooff);
		if (n > 0) {
			h->ooff += (size_t)n;
			ss->bytes_down += (uint64_t)n;
			moved = 1;
		} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
			abort_fwd(ss, "client gone");
			return -1;
		}
		if (h->ooff == h->olen)
			h->olen = h->ooff = 0;
	}
	return moved;
}

/* The interest each side needs now. */
static void interest(struct session *ss, struct hfwd *h)
{
	struct stp_loop *l = ss->srv->loop;
	unsigned c = 0, t = 0;

	if (!h->req_done && !h->c_eof && ss->inlen < ss->incap)
		c |= STP_EV_READ;
	if (h->ooff < h->olen)
		c |= STP_EV_WRITE;
	if (h->olen == 0 && !h->resp_done && !h->o_eof)
		t |= STP_EV_READ;
	if (h->sent < h->parsed)
		t |= STP_EV_WRITE;
	stp_loop_set(l, ss->cfd, c);
	stp_loop_set(l, ss->tfd, t);
}

/* Moves what can move; at the answer's end, the next request or the close. */
static void pump(struct session *ss)
{
	struct hfwd *h = ss->hfwd;
	int r = 1;

	for (int i = 0; i < PUMP_ROUNDS && r > 0; i++) {
		r = pump_once(ss, h);
		if (r < 0)
			return;  /* ss is gone */
		if (r > 0)
			h->last = stp_loop_now(ss->srv->loop);
	}
	if (h->resp_done && h->olen == 0) {
		finish(ss);
		return;
	}
	interest(ss, h);
}

static void on_origin(struct stp_loop *l, int fd, unsigned ev, void *arg)
{
	(void)l;
	(void)fd;
	(void)ev;
	pump(arg);
}

void httpfwd_on_client(struct session *ss, unsigned events)
{
	(void)events;
	pump(ss);
}

void httpfwd_on_timer(struct session *ss)
{
	struct hfwd *h = ss->hfwd;

	session_idle_check(ss, h->last);
}

/* The answer is whole and written. The origin connection is kept for the
 * client's next request (httpidle.h) when both sides keep their
 * connections, both messages ended by their framing and nothing came
 * after the answer; it goes otherwise, and always with an upstream's TLS
 * on it (whose state ends with ss->ops here). */
static void finish(struct session *ss)
{
	struct hfwd *h = ss->hfwd;
	bool reuse = h->keep && h->req_done && !h->no_reuse && h->origin_keep && !h->o_eof &&
		     !h->origin_extra && !ss->tssl;

	ss->result = "ok";
	if (ss->ops && ss->ops->free)
		ss->ops->free(ss);
	if (reuse) {
		httpidle_keep(ss, ss->tfd, &ss->dst);  /* watched there from now on */
	} else {
		stp_loop_unwatch(ss->srv->loop, ss->tfd);
		close(ss->tfd);
	}
	ss->tfd = -1;
	if (!h->keep || !h->req_done || h->no_reuse) {
		/* what the client sent is wiped as far as it was written, not
		 * all 33 KiB of the buffer (that showed in profiles) */
		OPENSSL_cleanse(ss->in, h->in_hw < ss->incap ? h->in_hw : ss->incap);
		free(ss->in);
		ss->in = NULL;
		ss->inlen = ss->incap = 0;
		httpfwd_free(ss);
		http_linger(ss);  /* told "Connection: close": the client closes */
		return;
	}
	/* the next request: what follows this one in ss->in */
	size_t from = h->parsed, hw = h->in_hw;
	httpfwd_free(ss);
	http_next(ss, from, hw);
}

void httpfwd_start(struct session *ss)
{
	struct hfwd *h = malloc(sizeof(*h));

	if (h)
		memset(h, 0, offsetof(struct hfwd, d));
	if (!h) {
		fail_fwd(ss, 502, "stp-serve: out of memory", "out of memory");
		return;
	}
	ss->hfwd = h;
	stp_http_msg_init(&h->rq, true);
	stp_http_msg_init(&h->rs, false);
	h->rs.skip_body = ss->http_head_req;
	h->in_head = true;
	h->in_hw = ss->inlen;
	h->last = stp_loop_now(ss->srv->loop);
	ss->state = S_HTTP_FWD;
	ss->result = "ok";
	if (stp_loop_watch(ss->srv->loop, ss->tfd, 0, on_origin, ss) < 0) {
		fail_fwd(ss, 502, "stp-serve: out of resources", "loop watch failed");
		return;
	}
	if (up_parse(ss, h) < 0)
		return;
	session_idle_check(ss, h->last);
	pump(ss);
}
