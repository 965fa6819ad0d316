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
/* Slack on the wrap overhead the context states (gss_wrap_size_limit is
 * for the largest message; a block cipher's padding may add a few bytes to
 * a shorter one). */
#define WRAP_SLACK 64

/* Buffers on need: an idle protected session holds none of them. Each is
 * allocated when a byte has to go in (the reader's on a read and an
 * unwrap: core/gssprot.h; wout on a wrap, dgbuf on the first datagram),
 * sized to one message of this context and level (msgcap; the reader
 * grows to a longer message the client sends, at most 65539 bytes). The
 * reader's and wout are freed as soon as they are empty again, so
 * thousands of idle sessions cost no more than their sockets; a busy one
 * pays a malloc and a free per message, nothing next to the gss_wrap /
 * gss_unwrap of 16 KiB. dgbuf stays for the association's life: the
 * sealed datagram it returns is read after the call (sessprot_dgram_seal),
 * and datagrams come one after another. */
struct sessprot {
	gss_ctx_id_t ctx;       /* sessgss.c's */
	int level;
	size_t chunk;           /* plaintext per message sent */
	size_t msgcap;          /* a message of chunk plaintext on the wire */
	struct stp_gssprot_rd rd; /* in: wire bytes to plaintext */
	/* out: the wrapped message being written, wout[woff..wlen) */
	uint8_t *wout;
	size_t woff, wlen;
	char res[160];          /* a refused message's reason: the session's result */
	uint8_t *dgbuf;         /* UDP ASSOCIATE, UDP_BIND, MCAST: the last sealed datagram */
	size_t dgcap;
};

static void wout_drop(struct sessprot *p)
{
	free(p->wout);
	p->wout = NULL;
	p->woff = p->wlen = 0;
}

struct sessprot *sessprot_new(gss_ctx_id_t ctx, int level, const uint8_t *out, size_t n)
{
	struct sessprot *p;
	size_t max;

	if (n == 0 || n > STP_GSS_MSG_MAX || !(p = calloc(1, sizeof(*p))))
		return NULL;
	p->ctx = ctx;
	p->level = level;
	max = stp_gssprot_plain_max(ctx, level);
	p->chunk = max && max < CHUNK ? max : CHUNK;
	/* what the level adds to a message: the wrap token's header, MIC
	 * and (confidentiality) confounder and padding */
	p->msgcap = max ? STP_GSS_HDR + p->chunk + (STP_GSS_TOKEN_MAX - max) + WRAP_SLACK
		: STP_GSS_MSG_MAX;
	if (p->msgcap > STP_GSS_MSG_MAX)
		p->msgcap = STP_GSS_MSG_MAX;
	stp_gssprot_rd_init(&p->rd, ctx, level, p->msgcap);
	/* the protection-level message: the first output, written as it is */
	if (!(p->wout = malloc(n))) {
		free(p);
		return NULL;
	}
	memcpy(p->wout, out, n);
	p->wlen = n;
	return p;
}

void sessprot_free(struct sessprot *p)
{
	if (!p)
		return;
	stp_gssprot_rd_clear(&p->rd);
	wout_drop(p);
	free(p->dgbuf);
	free(p);
}

bool sessprot_ready(const struct session *ss)
{
	struct sessprot *p = sessgss_prot(ss);

	return p && stp_gssprot_rd_ready(&p->rd);
}

/* The channel failed (a refused message, a wrap that failed, no memory):
 * the session's result says why (its one log line), errno EPROTO. */
static ssize_t chan_failed(struct session *ss, const char *what, const char *why)
{
	struct sessprot *p = sessgss_prot(ss);

	snprintf(p->res, sizeof(p->res), "%s%s", what, why);
	ss->result = p->res;
	errno = EPROTO;
	return -1;
}

static ssize_t refused(struct session *ss, const char *why)
{
	return chan_failed(ss, "GSS-API message refused: ", why);
}

const char *sessprot_why(const struct session *ss)
{
	const struct sessprot *p = sessgss_prot(ss);

	return p && p->res[0] ? p->res : NULL;
}

ssize_t sessprot_plain(struct session *ss, const uint8_t **out)
{
	struct sessprot *p = sessgss_prot(ss);
	const char *why = "malformed";

	for (;;) {
		ssize_t k = stp_gssprot_rd_plain(&p->rd, out, &why);
		if (k != 0)
			return k < 0 ? refused(ss, why) : k;
		/* no whole message: the rest of it, and what follows, from the wire */
		uint8_t *at;
		size_t room = stp_gssprot_rd_room(&p->rd, &at, false);
		if (!room)
			return chan_failed(ss, "", "out of memory");
		ssize_t n = session_raw_recv(ss, at, room);
		stp_gssprot_rd_got(&p->rd, n > 0 ? (size_t)n : 0);
		if (n == 0 && stp_gssprot_rd_inside(&p->rd))
			return refused(ss, "the connection ended inside a message");
		if (n <= 0)
			return n;
	}
}

int sessprot_push(struct session *ss, const uint8_t *b, size_t n)
{
	struct sessprot *p = sessgss_prot(ss);
	uint8_t *at;

	/* the reader is empty: it has room for at least its start size */
	while (n) {
		size_t room = stp_gssprot_rd_room(&p->rd, &at, false);
		if (!room) {
			chan_failed(ss, "", "out of memory");
			return -1;
		}
		if (room > n)
			room = n;
		memcpy(at, b, room);
		stp_gssprot_rd_got(&p->rd, room);
		b += room;
		n -= room;
	}
	return 0;
}

void sessprot_take(struct session *ss, size_t n)
{
	stp_gssprot_rd_take(&sessgss_prot(ss)->rd, n);
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
	wout_drop(p);  /* all written: nothing to hold */
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
	if (!(p->wout = malloc(p->msgcap)))
		return chan_failed(ss, "", "out of memory");
	k = stp_gssprot_wrap(p->ctx, p->level, buf, n, p->wout, p->msgcap, &why);
	if (k < 0) {
		wout_drop(p);
		return chan_failed(ss, "GSS-API: cannot wrap a message: ", why);
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

	/* what the level adds to a message of ours, on top of this one */
	size_t need = n + (p->msgcap - p->chunk);

	if (need > STP_GSS_MSG_MAX)
		need = STP_GSS_MSG_MAX;
	if (p->dgcap < need) {
		uint8_t *d = realloc(p->dgbuf, need);
		if (!d) {
			*why = "out of memory";
			return NULL;
		}
		p->dgbuf = d;
		p->dgcap = need;
	}
	k = stp_gssprot_wrap(p->ctx, p->level, b, n, p->dgbuf, p->dgcap, why);
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
	/* each datagram between the client and the relay endpoint sealed
	 * (dgsess.c: dgsess_unseal, to_relay); with TCP delivery, frames in
	 * the stream as below. MCAST's membership stays the server's: only
	 * the datagrams to and from the client are the session's */
	case STP_CMD_UDP:
	case STP_CMD_UDP_BIND:
	case STP_CMD_MCAST:
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
	/* a command not listed above (one added later): refused rather than
	 * let a byte pass unprotected */
	stp_log(&ss->srv->cfg.log, STP_LOG_INFO, "command %s from %s refused: not carried under "
		"GSS-API protection %s", stp_cmd_str(ss->cmd),
		stp_sa_host((const struct sockaddr *)&ss->peer, host, sizeof(host)),
		stp_gss_level_name(sessgss_prot(ss)->level));
	session_reply_error(ss, STP_REP_CMD_UNSUPPORTED);
	return false;
}
