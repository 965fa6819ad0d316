/* cmd_dns.c - the STP DNS channel (X'D5', PROTOCOL.md §3): after the reply,
 * DNS over TCP framing both ways (LEN(2) | message, RFC 7766). Each query
 * goes to the server's resolvers through c-ares (ares_send, on the loop);
 * several are in flight and answers go back in the order they come, each
 * with the client's ID restored (c-ares sends its own).
 *
 * Bounds: at most DNS_INFLIGHT queries per channel, counting those whose
 * answers wait to be written; at that count the client is not read, so a
 * client that does not read its answers stops being read itself (the memory
 * of a channel is at most DNS_INFLIGHT answers of 64 KiB plus one input
 * message). Malformed input never ends the channel: a message shorter than
 * a header, a response, or LEN 0 is dropped; one with a header but a bad
 * question gets FORMERR, another opcode NOTIMP. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/dns.h"
#include "server/server_priv.h"
#include "server/sessprot.h"

#define DNS_INFLIGHT 64
#define DNS_IN_START 4096
#define DNS_IN_MAX (2 + STP_DNS_MAX)
#define DNS_HEAD_MAX (STP_DNS_HDR + 255 + 4)  /* header + one question */

struct dns_chan;

struct dnsq {
	struct dns_chan *ch;
	int slot;                  /* index in ch->q */
	struct dnsq *next;         /* in the answer queue */
	struct stp_lookup *lookup; /* while c-ares has the query */
	uint16_t id;               /* the client's */
	uint8_t *head;             /* header and question, for an error answer */
	size_t headlen;
	uint8_t *ans;              /* LEN(2) | answer, once there */
	size_t alen, aoff;
};

struct dns_chan {
	struct session *ss;
	uint8_t *in;               /* client bytes: in[inoff..inlen) unread */
	size_t inoff, inlen, incap;
	struct dnsq *q[DNS_INFLIGHT];
	int nq;
	struct dnsq *ahead, *atail; /* answered, waiting to be written */
	bool eof;                  /* the client sent its last query */
	uint64_t last_active;
};

static void dns_on_client(struct session *ss, unsigned events);
static void dns_on_timer(struct session *ss);
static void dns_free(struct session *ss);

static const struct cmd_ops dns_ops = {
	.on_client = dns_on_client,
	.on_timer = dns_on_timer,
	.free = dns_free,
};

static void q_free(struct dnsq *q)
{
	stp_lookup_cancel(q->lookup);
	free(q->head);
	free(q->ans);
	free(q);
}

/* Ends the session (frees ch too). */
static void chan_end(struct dns_chan *ch, const char *why)
{
	ch->ss->result = why;
	session_free(ch->ss);
}

/* Puts an answer (LEN(2) | msg, owned by q now) on the write queue. */
static void q_answered(struct dnsq *q, uint8_t *framed, size_t len)
{
	struct dns_chan *ch = q->ch;

	q->ans = framed;
	q->alen = len;
	q->next = NULL;
	if (ch->atail)
		ch->atail->next = q;
	else
		ch->ahead = q;
	ch->atail = q;
}

/* Frames msg (len bytes) with the client's ID. Returns NULL when out of memory. */
static uint8_t *frame(const uint8_t *msg, size_t len, uint16_t id)
{
	uint8_t *f = malloc(len + 2);

	if (!f)
		return NULL;
	f[0] = (uint8_t)(len >> 8);
	f[1] = (uint8_t)len;
	memcpy(f + 2, msg, len);
	f[2] = (uint8_t)(id >> 8);
	f[3] = (uint8_t)id;
	return f;
}

/* Answers q with rcode and no records. Returns 0, or -1 out of memory. */
static int q_error(struct dnsq *q, int rcode)
{
	uint8_t b[DNS_HEAD_MAX];
	size_t n = stp_dns_error_reply(b, sizeof(b), q->head, q->headlen, rcode);
	uint8_t *f = n ? frame(b, n, q->id) : NULL;

	if (!f)
		return -1;
	q_answered(q, f, n + 2);
	return 0;
}

static int rcode_of(int status)
{
	switch (status) {
	case ARES_ENOTIMP: return STP_DNS_NOTIMP;
	case ARES_EREFUSED: return STP_DNS_REFUSED;
	case ARES_EFORMERR:
	case ARES_EBADQUERY:
	case ARES_EBADNAME: return STP_DNS_FORMERR;
	}
	return STP_DNS_SERVFAIL;
}

static void chan_kick(struct dns_chan *ch);

static void on_answer(void *arg, int status, const uint8_t *a, size_t alen)
{
	struct dnsq *q = arg;
	uint8_t *f = NULL;

	q->lookup = NULL;
	if (status == ARES_SUCCESS && alen >= STP_DNS_HDR && alen <= STP_DNS_MAX &&
	    (f = frame(a, alen, q->id)) != NULL)
		q_answered(q, f, alen + 2);
	else if (q_error(q, status == ARES_SUCCESS ? STP_DNS_SERVFAIL : rcode_of(status)) < 0) {
		chan_end(q->ch, "out of memory");
		return;
	}
	chan_kick(q->ch);
}

/* Takes one message from the client. Returns 0, or -1 when out of memory. */
static int take_query(struct dns_chan *ch, const uint8_t *msg, size_t len)
{
	struct stp_dns_msg m;
	struct dnsq *q;
	int slot, rc = stp_dns_check_query(msg, len, &m);

	if (rc < 0) {
		stp_log(&ch->ss->srv->cfg.log, STP_LOG_DEBUG, "dns channel: dropped a %zu-byte message "
			"that is not a query", len);
		return 0;
	}
	for (slot = 0; slot < DNS_INFLIGHT && ch->q[slot]; slot++)
		;
	if (slot == DNS_INFLIGHT || !(q = calloc(1, sizeof(*q))))
		return -1;  /* the caller checks the count first: only ENOMEM */
	q->ch = ch;
	q->slot = slot;
	q->id = m.id;
	/* the question goes into error answers when it fits their buffer */
	q->headlen = m.qend <= DNS_HEAD_MAX ? m.qend : STP_DNS_HDR;
	if (!(q->head = malloc(q->headlen))) {
		free(q);
		return -1;
	}
	memcpy(q->head, msg, q->headlen);
	ch->q[slot] = q;
	ch->nq++;
	if (rc > 0)
		return q_error(q, rc);
	/* c-ares may answer at once (out of memory): then q is already queued */
	struct stp_lookup *h = stp_raw_start(ch->ss->srv->res, msg, len, on_answer, q);
	if (h)
		q->lookup = h;
	return 0;
}

/* Handles the complete messages in the input while there is room. Returns
 * how many it took, or -1 when out of memory. */
static int take_input(struct dns_chan *ch)
{
	int taken = 0;

	while (ch->nq < DNS_INFLIGHT && ch->inlen - ch->inoff >= 2) {
		const uint8_t *p = ch->in + ch->inoff;
		size_t len = (size_t)p[0] << 8 | p[1];
		if (ch->inlen - ch->inoff < 2 + len) {
			if (ch->incap < 2 + len) {
				/* room for this message: at most 64 KiB + 2 */
				uint8_t *bigger = realloc(ch->in, 2 + len);
				if (!bigger)
					return -1;
				ch->in = bigger;
				ch->incap = 2 + len;
			}
			break;
		}
		p = ch->in + ch->inoff;
		ch->inoff += 2 + len;
		taken++;
		if (len == 0)
			continue;  /* nothing to answer */
		if (take_query(ch, p + 2, len) < 0)
			return -1;
	}
	/* keep the unread part at the start: reads then always find room
	 * unless one whole message fills the buffer */
	if (ch->inoff) {
		memmove(ch->in, ch->in + ch->inoff, ch->inlen - ch->inoff);
		ch->inlen -= ch->inoff;
		ch->inoff = 0;
	}
	return taken;
}

/* Writes queued answers. Returns how many were completed, or -1 when the
 * client is gone. */
static int flush_answers(struct dns_chan *ch)
{
	struct session *ss = ch->ss;
	int done = 0;

	while (ch->ahead && ss->outlen == 0) {
		struct dnsq *q = ch->ahead;
		ssize_t n = session_write(ss, q->ans + q->aoff, q->alen - q->aoff);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return done;
		if (n <= 0)
			return -1;
		ss->bytes_down += (uint64_t)n;
		ch->last_active = stp_loop_now(ss->srv->loop);
		q->aoff += (size_t)n;
		if (q->aoff < q->alen)
			continue;
		ch->ahead = q->next;
		if (!ch->ahead)
			ch->atail = NULL;
		ch->q[q->slot] = NULL;
		ch->nq--;
		q_free(q);
		done++;
	}
	return done;
}

/* After any change: write what can be written, take buffered queries that
 * now fit, end the channel when the client is done and everything is
 * answered, and set the interest mask. May free the session. */
static void chan_kick(struct dns_chan *ch)
{
	struct session *ss = ch->ss;
	unsigned mask = 0;

	/* until nothing moves: written answers free room for buffered
	 * queries, and queries answered at once (FORMERR) can be written */
	for (;;) {
		int w = flush_answers(ch), t;
		if (w < 0) {
			/* EPROTO: gss_wrap failed, not the client; sessprot says why */
			chan_end(ch, errno == EPROTO && sessprot_why(ss) ? sessprot_why(ss)
				 : "client gone");
			return;
		}
		t = take_input(ch);
		if (t < 0) {
			chan_end(ch, "out of memory");
			return;
		}
		if (w == 0 && t == 0)
			break;
	}
	if (ch->eof && ch->nq == 0 && ss->outlen == 0) {
		chan_end(ch, "ok");
		return;
	}
	if (!ch->eof && ch->nq < DNS_INFLIGHT && ch->inlen < ch->incap)
		mask |= STP_EV_READ;
	if (ch->ahead || ss->outlen || sessprot_out_pending(ss))  /* GSS-API: a message partly written */
		mask |= STP_EV_WRITE;
	stp_loop_set(ss->srv->loop, ss->cfd, mask);
}

static void dns_on_client(struct session *ss, unsigned events)
{
	struct dns_chan *ch = ss->cst;

	if ((events & STP_EV_READ) && !ch->eof) {
		/* TLS may hold more than one record: read while there is room */
		for (int i = 0; i < 16 && ch->inlen < ch->incap && !ch->eof &&
		     (i == 0 || session_pending(ss)); i++) {
			ssize_t n = session_recv(ss, ch->in + ch->inlen, ch->incap - ch->inlen);
			if (n == 0) {
				ch->eof = true;  /* answer what is in flight, then close */
			} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
				/* EPROTO: a GSS-API message refused; sessprot set why */
				chan_end(ch, errno == EPROTO ? ss->result : "client gone");
				return;
			} else if (n > 0) {
				ch->inlen += (size_t)n;
				ss->bytes_up += (uint64_t)n;
				ch->last_active = stp_loop_now(ss->srv->loop);
			}
		}
	}
	chan_kick(ch);
}

/* The idle timer: a channel with nothing in flight for --idle-timeout ends. */
static void dns_on_timer(struct session *ss)
{
	struct dns_chan *ch = ss->cst;
	uint64_t idle = (uint64_t)ss->srv->cfg.idle_timeout_ms;
	uint64_t now = stp_loop_now(ss->srv->loop);

	if (ch->nq == 0 && now - ch->last_active >= idle) {
		chan_end(ch, "idle timeout");
		return;
	}
	uint64_t due = ch->last_active + idle;
	stp_timer_start(ss->srv->loop, &ss->timer, due > now ? due - now : idle);
}

static void dns_free(struct session *ss)
{
	struct dns_chan *ch = ss->cst;

	if (!ch)
		return;
	for (int i = 0; i < DNS_INFLIGHT; i++)
		if (ch->q[i])
			q_free(ch->q[i]);
	free(ch->in);
	free(ch);
	ss->cst = NULL;
}

/* DNS (X'D5'): reply with an empty option block, then serve the channel. */
void cmd_dns(struct session *ss)
{
	struct stp_server *s = ss->srv;
	struct dns_chan *ch = calloc(1, sizeof(*ch));
	uint8_t b[64];
	size_t n;

	if (!ch || !(ch->in = malloc(DNS_IN_START))) {
		free(ch);
		session_reply_error(ss, STP_REP_FAIL);
		return;
	}
	ch->incap = DNS_IN_START;
	ch->ss = ss;
	ch->last_active = stp_loop_now(s->loop);
	/* queries the client sent right behind its request */
	if (ss->inlen > ch->incap) {
		uint8_t *bigger = realloc(ch->in, ss->inlen);
		if (!bigger) {
			free(ch->in);
			free(ch);
			session_reply_error(ss, STP_REP_FAIL);
			return;
		}
		ch->in = bigger;
		ch->incap = ss->inlen;
	}
	memcpy(ch->in, ss->in, ss->inlen);
	ch->inlen = ss->inlen;
	ss->bytes_up += ss->inlen;
	ss->inlen = 0;
	ss->cst = ch;
	ss->ops = &dns_ops;
	ss->state = S_CMD;
	ss->rep = STP_REP_OK;
	ss->result = "ok";
	if (s->cfg.idle_timeout_ms > 0)
		stp_timer_start(s->loop, &ss->timer, (uint64_t)s->cfg.idle_timeout_ms);
	else
		stp_timer_stop(s->loop, &ss->timer);
	n = stp5_reply_put(b, sizeof(b), STP_CMD_DNS, STP_REP_OK, NULL, NULL);
	if (n == 0 || session_send(ss, b, n) < 0) {
		chan_end(ch, "client gone before reply");
		return;
	}
	chan_kick(ch);
}
