/* sessgss.c - a session's RFC 1961 exchange after method X'01':
 *
 *   S_GSS       a context token (mtyp 1) is read, bounded by TOKEN_MAX;
 *   S_GSS_WAIT  gss_accept_sec_context runs on gssauth's worker (the loop
 *               does not read meanwhile); its answer token goes back, and
 *               either the next token is awaited (S_GSS, at most
 *               STP_GSS_ROUNDS_MAX rounds) or the context is established:
 *               the client principal becomes the session's user;
 *   S_GSS_PROT  the protection-level message (mtyp 2, §4): the client's
 *               proposal, gss_unwrap'ed (or one clear octet, as NEC's
 *               reference implementation and curl --socks5-gssapi-nec send
 *               it), answered with the server's choice wrapped the same way;
 *   then S_REQUEST.
 * The handshake timer started at accept bounds all of it. Every failure
 * sends the abort message X'01' X'FF', logs one line naming why, and
 * closes. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto/addr.h"
#include "proto/gssmsg.h"
#include "core/gssprot.h"
#include "core/logesc.h"
#include "server/policy/gssauth.h"
#include "server/server_priv.h"
#include "server/sessprot.h"

/* The longest context token taken: a Kerberos AP-REQ is 1-2 KB from an MIT
 * KDC and up to ~12 KB with a large Windows PAC; the buffer exists only
 * during the handshake. The protection-level token is a wrapped octet. */
#define TOKEN_MAX 12288
#define PROT_TOKEN_MAX 1024

struct sess_gss {
	struct stp_gss_job *job;   /* the context while it is being established */
	gss_ctx_id_t ctx;          /* ... once it is */
	bool conf, integ;          /* what the context can protect */
	int level;                 /* granted (enum stp_gss_level) */
	struct sessprot *prot;     /* level 1 or 2: the §5 channel (sessprot.h) */
};

struct sessprot *sessgss_prot(const struct session *ss)
{
	return ss->gss ? ss->gss->prot : NULL;
}

size_t sessgss_in_max(enum sstate st)
{
	return st == S_GSS || st == S_GSS_WAIT || st == S_GSS_PROT ? STP_GSS_HDR + TOKEN_MAX : 0;
}

void sessgss_begin(struct session *ss)
{
	ss->gss = calloc(1, sizeof(*ss->gss));
	/* short of memory: the first token finds no state and is refused */
	ss->state = S_GSS;
}

void sessgss_free(struct session *ss)
{
	OM_uint32 m;

	if (!ss->gss)
		return;
	sessprot_free(ss->gss->prot);
	if (ss->gss->job)
		stp_gss_job_cancel(session_gssauth(ss), ss->gss->job);
	if (ss->gss->ctx != GSS_C_NO_CONTEXT)
		gss_delete_sec_context(&m, &ss->gss->ctx, GSS_C_NO_BUFFER);
	free(ss->gss);
	ss->gss = NULL;
}

/* The one line of a failed exchange, then X'01' X'FF' and the close. */
static void refuse(struct session *ss, const char *why)
{
	uint8_t b[STP_GSS_ABORT_LEN];
	char host[STP_ADDRSTRLEN], w[STP_LOGESC_SIZE(256)];

	stp_logesc(w, sizeof(w), why, true);  /* GSS-API's words, spaces kept */
	stp_log(&ss->srv->cfg.log, STP_LOG_INFO, "GSS-API authentication from %s failed: %s",
		stp_sa_host((const struct sockaddr *)&ss->peer, host, sizeof(host)), w);
	ss->srv->stats.auth_failures++;
	session_fail(ss, b, stp_gss_build_abort(b), "GSS-API authentication failed");
}

/* Sends token as a message of type mtyp. Returns 0, or -1 when ss is gone
 * (or refused: the token does not fit the reply buffer). */
static int send_token(struct session *ss, uint8_t mtyp, const void *token, size_t n)
{
	uint8_t b[STP_REPLY_MAX];
	ssize_t bl = stp_gss_build(b, sizeof(b), mtyp, token, n);

	if (bl < 0) {
		/* Kerberos answers take ~100 bytes; a mechanism with more to say
		 * is not one this server offers */
		refuse(ss, "the answer token is too long to send");
		return -1;
	}
	if (session_send(ss, b, (size_t)bl) < 0) {
		session_free(ss);
		return -1;
	}
	return 0;
}

static void on_step(void *arg, const struct stp_gss_result *r)
{
	struct session *ss = arg;
	struct sess_gss *g = ss->gss;
	struct stp_gssauth *ga = session_gssauth(ss);

	if (r->state == STP_GSS_FAILED) {
		char why[256];
		snprintf(why, sizeof(why), "%s", r->why);
		stp_gss_job_cancel(ga, g->job);  /* not busy: freed now */
		g->job = NULL;
		refuse(ss, why);
		return;
	}
	if (r->out && send_token(ss, STP_GSS_MT_AUTH, r->out, r->outlen) < 0)
		return;  /* ss is gone; its job went with it */
	if (r->state == STP_GSS_DONE) {
		snprintf(ss->user, sizeof(ss->user), "%s", r->principal);
		ss->authenticated = ss->gss_auth = true;
		g->conf = r->conf;
		g->integ = r->integ;
		g->ctx = stp_gss_job_finish(ga, g->job);
		g->job = NULL;
		if (ss->srv->cfg.log.level >= STP_LOG_DEBUG) {
			char u[STP_LOGESC_SIZE(sizeof(ss->user))];
			stp_log(&ss->srv->cfg.log, STP_LOG_DEBUG, "GSS-API: context established "
				"for '%s'", stp_logesc(u, sizeof(u), ss->user, false));
		}
		ss->state = S_GSS_PROT;
	} else {
		ss->state = S_GSS;
	}
	stp_loop_set(ss->srv->loop, ss->cfd, STP_EV_READ);
	session_process_input(ss);
}

/* The level granted to a client that proposed want (RFC 1961 §4: the
 * server's choice): the proposal raised to the server's least
 * (--gssapi-protection), bounded by confidentiality (selective, X'03', is
 * not spoken) and by what the context can protect. A client that asked
 * for less than the least gets the least, and may close (the RFC's
 * way of saying no). Returns the level, or -1 when the context cannot
 * give the least. */
static int choose_level(const struct session *ss, int want)
{
	const struct sess_gss *g = ss->gss;
	int least = session_gss_least(ss), lv = want > least ? want : least;
	int can = g->conf ? STP_GSS_LEVEL_CONFIDENTIALITY :
		  g->integ ? STP_GSS_LEVEL_INTEGRITY : STP_GSS_LEVEL_NONE;

	if (lv > STP_GSS_LEVEL_CONFIDENTIALITY)
		lv = STP_GSS_LEVEL_CONFIDENTIALITY;
	if (lv > can)
		lv = can;
	return lv < least ? -1 : lv;
}

/* The §4 message: the proposal, answered with the choice in the same
 * form (wrapped, or in clear), through core/gssprot. */
static int prot_step(struct session *ss, const struct stp_gss_msg *m)
{
	struct sess_gss *g = ss->gss;
	uint8_t b[STP_REPLY_MAX];
	const char *why = NULL;
	bool clear;
	int want = stp_gssprot_level_read(g->ctx, m->token, m->token_len, true, &clear, &why);
	ssize_t bl;

	if (want < 0) {
		refuse(ss, why);
		return 1;
	}
	g->level = choose_level(ss, want);
	if (g->level < 0) {
		refuse(ss, "the context cannot protect messages as --gssapi-protection requires");
		return 1;
	}
	bl = stp_gssprot_level_msg(g->ctx, g->level, clear, b, sizeof(b), &why);
	if (bl < 0) {
		refuse(ss, why);
		return 1;
	}
	if (g->level == STP_GSS_LEVEL_NONE) {
		if (session_send(ss, b, (size_t)bl) < 0) {
			session_free(ss);
			return 1;
		}
	} else {
		/* §5 from the next byte on: the level message itself is the
		 * channel's first output, written as it is */
		int r;
		g->prot = sessprot_new(g->ctx, g->level, b, (size_t)bl);
		if (!g->prot) {
			refuse(ss, "out of memory");
			return 1;
		}
		r = sessprot_flush(ss);
		if (r < 0) {
			session_free(ss);
			return 1;
		}
		if (r > 0)
			stp_loop_set(ss->srv->loop, ss->cfd, STP_EV_READ | STP_EV_WRITE);
	}
	if (ss->srv->cfg.log.level >= STP_LOG_DEBUG)
		stp_log(&ss->srv->cfg.log, STP_LOG_DEBUG, "GSS-API: protection %s asked%s, %s "
			"granted%s%s", stp_gss_level_name(want), clear ? " (in clear)" : "",
			stp_gss_level_name(g->level), ss->ssl ? ", inside " : "",
			ss->ssl ? SSL_get_version(ss->ssl) : "");
	ss->state = S_REQUEST;
	return 0;
}

/* Bytes the client sent after its protection-level message are wire
 * bytes of the §5 channel: they go there, and the plaintext of whole
 * messages among them back to ss->in for the request's parser. Returns 0,
 * or -1 when ss is gone (a refused message). */
static int pipelined(struct session *ss)
{
	if (sessprot_push(ss, ss->in, ss->inlen) < 0) {
		session_free(ss);
		return -1;
	}
	ss->inlen = 0;
	while (sessprot_ready(ss) && ss->inlen < ss->incap) {
		ssize_t k = sessprot_recv(ss, ss->in + ss->inlen, ss->incap - ss->inlen);
		if (k < 0 && errno == EAGAIN)
			break;  /* empty messages, and the wire has no more now */
		if (k <= 0) {
			session_free(ss);
			return -1;
		}
		ss->inlen += (size_t)k;
	}
	return 0;
}

int sessgss_step(struct session *ss)
{
	struct stp_gss_msg m;
	const char *why = "malformed";
	bool prot = ss->state == S_GSS_PROT;
	ssize_t n = stp_gss_parse(ss->in, ss->inlen, prot ? STP_GSS_MT_PROT : STP_GSS_MT_AUTH,
				  prot ? PROT_TOKEN_MAX : TOKEN_MAX, &m, &why);

	if (n == 0)
		return 1;
	if (n < 0) {
		refuse(ss, why);
		return 1;
	}
	if (m.mtyp == STP_GSS_MT_ABORT) {
		char host[STP_ADDRSTRLEN];
		stp_log(&ss->srv->cfg.log, STP_LOG_INFO, "GSS-API authentication from %s: the "
			"client gave up (abort message)",
			stp_sa_host((const struct sockaddr *)&ss->peer, host, sizeof(host)));
		session_fail(ss, NULL, 0, "GSS-API aborted by the client");
		return 1;
	}
	if (!ss->gss) {
		refuse(ss, "out of memory");
		return 1;
	}
	if (prot) {
		int rc = prot_step(ss, &m);
		if (rc == 0) {
			session_consume(ss, (size_t)n);
			if (ss->gss->prot && ss->inlen && pipelined(ss) < 0)
				return 1;
		}
		return rc;
	}
	if (stp_gssauth_step(session_gssauth(ss), &ss->gss->job, m.token, m.token_len,
			     (const struct sockaddr *)&ss->peer, on_step, ss) < 0) {
		refuse(ss, "too many GSS-API logins in progress");
		return 1;
	}
	session_consume(ss, (size_t)n);
	ss->state = S_GSS_WAIT;
	stp_loop_set(ss->srv->loop, ss->cfd, 0);
	return 1;
}
