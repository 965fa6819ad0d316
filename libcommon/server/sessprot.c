/* sessprot.c - a session's RFC 1961 §5 channel: wire bytes in, plaintext
 * out; plaintext in, wrapped messages out (sessprot.h). */
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>

#include "core/gssprot.h"
#include "core/logesc.h"
#include "proto/addr.h"
#include "proto/cmd.h"
#include "proto/gssmsg.h"
#include "server/server_priv.h"
#include "server/sessprot.h"

/* Plaintext per message we send: 16 KiB, as the clients send (a Kerberos
 * wrap token adds under 100 bytes), so each message is well inside the
 * 65535 a length can say and a reader never holds more than one. */
#define CHUNK 16384

struct sessprot {
	gss_ctx_id_t ctx;       /* sessgss.c's */
	int level;
	size_t chunk;           /* plaintext per message sent */
	/* in: wire bytes rin[roff..rlen), at most one message and a part;
	 * plain[poff..plen) unwrapped and not yet taken */
	uint8_t *rin;
	size_t roff, rlen;
	uint8_t *plain;
	size_t poff, plen;
	/* out: the wrapped message being written, wout[woff..wlen) */
	uint8_t *wout;
	size_t woff, wlen;
	char res[160];          /* a refused message's reason: the session's result */
	uint8_t *dgbuf;         /* UDP ASSOCIATE: a sealed datagram, once one is sent */
};

struct sessprot *sessprot_new(gss_ctx_id_t ctx, int level, const uint8_t *out, size_t n)
{
	struct sessprot *p = calloc(1, sizeof(*p));
	size_t max;

	if (!p)
		return NULL;
	p->ctx = ctx;
	p->level = level;
	/* the buffers take what a peer may send: a message of 65535 bytes */
	p->rin = malloc(STP_GSS_MSG_MAX);
	p->plain = malloc(STP_GSS_TOKEN_MAX);
	p->wout = malloc(STP_GSS_MSG_MAX);
	if (!p->rin || !p->plain || !p->wout || n > STP_GSS_MSG_MAX) {
		sessprot_free(p);
		return NULL;
	}
	max = stp_gssprot_plain_max(ctx, level);
	p->chunk = max && max < CHUNK ? max : CHUNK;
	memcpy(p->wout, out, n);
	p->wlen = n;
	return p;
}

void sessprot_free(struct sessprot *p)
{
	if (!p)
		return;
	/* the plaintext was the user's data */
	if (p->plain)
		OPENSSL_cleanse(p->plain, STP_GSS_TOKEN_MAX);
	free(p->rin);
	free(p->plain);
	free(p->wout);
	free(p->dgbuf);
	free(p);
}

/* The message at rin[roff..rlen) as a parse sees it: > 0 its length, 0 not
 * whole yet, -1 malformed (*why). */
static ssize_t next_msg(struct sessprot *p, struct stp_gss_msg *m, const char **why)
{
	return stp_gss_parse(p->rin + p->roff, p->rlen - p->roff, STP_GSS_MT_ENCAP,
			     STP_GSS_TOKEN_MAX, m, why);
}

bool sessprot_ready(const struct session *ss)
{
	struct sessprot *p = sessgss_prot(ss);
	struct stp_gss_msg m;
	const char *why;

	if (!p)
		return false;
	if (p->poff < p->plen)
		return true;
	/* a malformed one counts too: the reader says why */
	return p->roff < p->rlen && next_msg(p, &m, &why) != 0;
}

/* A refused message: the session's result says why (its one log line). */
static ssize_t refused(struct session *ss, const char *why)
{
	struct sessprot *p = sessgss_prot(ss);

	snprintf(p->res, sizeof(p->res), "GSS-API message refused: %s", why);
	ss->result = p->res;
	errno = EPROTO;
	return -1;
}

const char *sessprot_why(const struct session *ss)
{
	const struct sessprot *p = sessgss_prot(ss);

	return p && p->res[0] ? p->res : NULL;
}

/* Unwraps the whole message at rin[roff..) into plain. Returns 1 done, 0
 * not whole yet, -1 refused. */
static int unwrap_next(struct session *ss, struct sessprot *p)
{
	struct stp_gss_msg m;
	const char *why = "malformed";
	ssize_t k = next_msg(p, &m, &why), n;

	if (k == 0)
		return 0;
	if (k < 0)
		return (int)refused(ss, why);
	if (m.mtyp == STP_GSS_MT_ABORT)
		return (int)refused(ss, "the client aborted (X'01' X'FF')");
	n = stp_gssprot_unwrap(p->ctx, p->level, m.token, m.token_len, p->plain,
			       STP_GSS_TOKEN_MAX, &why);
	if (n < 0)
		return (int)refused(ss, why);
	p->roff += (size_t)k;
	if (p->roff == p->rlen)
		p->roff = p->rlen = 0;
	p->poff = 0;
	p->plen = (size_t)n;
	return 1;
}

ssize_t sessprot_plain(struct session *ss, const uint8_t **out)
{
	struct sessprot *p = sessgss_prot(ss);

	/* an empty message (a token of no plaintext) is skipped */
	while (p->poff == p->plen) {
		int u = unwrap_next(ss, p);
		if (u < 0)
			return -1;
		if (u > 0)
			continue;
		/* not whole: the rest of it, and what follows, from the wire */
		if (p->roff) {
			memmove(p->rin, p->rin + p->roff, p->rlen - p->roff);
			p->rlen -= p->roff;
			p->roff = 0;
		}
		ssize_t n = session_raw_recv(ss, p->rin + p->rlen, STP_GSS_MSG_MAX - p->rlen);
		if (n == 0 && p->rlen)
			return refused(ss, "the connection ended inside a message");
		if (n <= 0)
			return n;
		p->rlen += (size_t)n;
	}
	*out = p->plain + p->poff;
	return (ssize_t)(p->plen - p->poff);
}

void sessprot_push(struct session *ss, const uint8_t *b, size_t n)
{
	struct sessprot *p = sessgss_prot(ss);

	memcpy(p->rin, b, n);
	p->roff = 0;
	p->rlen = n;
}

void sessprot_take(struct session *ss, size_t n)
{
	struct sessprot *p = sessgss_prot(ss);

	p->poff += n;
	if (p->poff == p->plen)
		p->poff = p->plen = 0;
}

ssize_t sessprot_recv(struct session *ss, void *buf, size_t n)
{
	const uint8_t *pl;
	ssize_t k = sessprot_plain(ss, &pl);

	if (k <= 0)
		return k;
	if ((size_t)k > n)
		k = (ssize_t)n;
	memcpy(buf, pl, (size_t)k);
	sessprot_take(ss, (size_t)k);
	return k;
}

int sessprot_flush(struct session *ss)
{
	struct sessprot *p = sessgss_prot(ss);

	while (p->woff < p->wlen) {
		ssize_t n = session_raw_write(ss, p->wout + p->woff, p->wlen - p->woff);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 1;
		if (n <= 0)
			return -1;
		p->woff += (size_t)n;
	}
	p->woff = p->wlen = 0;
	return 0;
}

bool sessprot_out_pending(const struct session *ss)
{
	const struct sessprot *p = sessgss_prot(ss);

	return p && p->woff < p->wlen;
}

size_t sessprot_chunk(const struct session *ss)
{
	return sessgss_prot(ss)->chunk;
}

ssize_t sessprot_write(struct session *ss, const void *buf, size_t n)
{
	struct sessprot *p = sessgss_prot(ss);
	const char *why;
	ssize_t k;
	int r = sessprot_flush(ss);

	if (r != 0) {
		if (r > 0)
			errno = EAGAIN;
		return -1;
	}
	if (n > p->chunk)
		n = p->chunk;
	k = stp_gssprot_wrap(p->ctx, p->level, buf, n, p->wout, STP_GSS_MSG_MAX, &why);
	if (k < 0) {
		refused(ss, why);
		return -1;
	}
	p->woff = 0;
	p->wlen = (size_t)k;
	/* the message is ours now: what the socket does not take waits for
	 * the next flush (a write event) */
	if (sessprot_flush(ss) < 0)
		return -1;
	return (ssize_t)n;
}

ssize_t sessprot_dgram_open(struct session *ss, uint8_t *b, size_t n, const char **why)
{
	struct sessprot *p = sessgss_prot(ss);
	struct stp_gss_msg m;
	ssize_t k = stp_gss_parse(b, n, STP_GSS_MT_ENCAP, STP_GSS_TOKEN_MAX, &m, why);

	if (k <= 0 || (size_t)k != n || m.mtyp != STP_GSS_MT_ENCAP) {
		*why = "not one encapsulated message";
		return -1;
	}
	/* the plaintext is shorter than the token: it fits where the
	 * datagram was (gss_unwrap has read the token before the copy) */
	return stp_gssprot_unwrap_dgram(p->ctx, p->level, m.token, m.token_len, b, n, why);
}

const uint8_t *sessprot_dgram_seal(struct session *ss, const uint8_t *b, size_t n, size_t *outn,
				   const char **why)
{
	struct sessprot *p = sessgss_prot(ss);
	ssize_t k;

	if (!p->dgbuf && !(p->dgbuf = malloc(STP_GSS_MSG_MAX))) {
		*why = "out of memory";
		return NULL;
	}
	k = stp_gssprot_wrap(p->ctx, p->level, b, n, p->dgbuf, STP_GSS_MSG_MAX, why);
	if (k < 0)
		return NULL;
	*outn = (size_t)k;
	return p->dgbuf;
}

bool sessprot_carries(struct session *ss)
{
	char host[STP_ADDRSTRLEN];

	if (!sessgss_prot(ss))
		return true;
	switch (ss->cmd) {
	case STP_CMD_CONNECT:
	case STP_CMD_BIND:
	case STP_CMD_RESOLVE:
	case STP_CMD_RESOLVE_PTR:
	case STP_CMD_FEATURES:
	case STP_CMD_UDP:  /* each datagram sealed (cmd_udp.c, dgsess.c) */
	/* their frames after the reply are read and written through
	 * session_recv/session_write (frameq.c, cmd_dns.c, cmd_mux.c), so
	 * they travel in encapsulated messages like a CONNECT's relay */
	case STP_CMD_UDP_TCP:
	case STP_CMD_DNS:
	case STP_CMD_MUX:
	/* a BIND_MULTI control channel writes its reply and NOTICEs with
	 * session_send (so each goes out in a message); an ATTACH connection
	 * is a session of its own, with its own context and level, relayed by
	 * protrelay.c (or, handed to another worker, through a socketpair
	 * that its worker relays the same way: handoff.c) */
	case STP_CMD_BIND_MULTI:
	case STP_CMD_ATTACH:
	/* its reply and the document go out with session_send (cmd_config.c) */
	case STP_CMD_CONFIG:
		return true;
	}
	/* UDP_BIND's and MCAST's datagrams: not carried in encapsulated
	 * messages yet; refused rather than let a byte pass unprotected */
	stp_log(&ss->srv->cfg.log, STP_LOG_INFO, "command %s from %s refused: not carried under "
		"GSS-API protection %s", stp_cmd_str(ss->cmd),
		stp_sa_host((const struct sockaddr *)&ss->peer, host, sizeof(host)),
		stp_gss_level_name(sessgss_prot(ss)->level));
	session_reply_error(ss, STP_REP_CMD_UNSUPPORTED);
	return false;
}
