/* gssauth.c - RFC 1961 §3-§4, the client's side. */
#include <errno.h>
#include <gssapi/gssapi.h>
#include <gssapi/gssapi_krb5.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/gssauth.h"
#include "client/gsserr.h"
#include "client/gssstream.h"
#include "client/hslog.h"
#include "core/evloop.h"
#include "proto/gssmsg.h"

/* What one exchange holds besides the connection. */
struct gx {
	struct stp_conn *conn;
	const char *hn;          /* "HOST:PORT" of the hop, for messages */
	char target[300];        /* the service name asked for */
	uint8_t *in;             /* STP_GSS_MSG_MAX bytes: one message */
	size_t inlen;
	uint8_t *buf;            /* the caller's read buffer */
	size_t *have, cap;
	uint64_t deadline;
	long timeout_ms;
	const struct stp_log *lg;
};

/* Sends one message of type mtyp with token tok. Returns 0 or -1 with e. */
static int send_msg(struct gx *x, uint8_t mtyp, const void *tok, size_t len, struct stp_err *e)
{
	uint8_t *m = malloc(STP_GSS_MSG_MAX);
	ssize_t k;
	int rc = 0;

	if (!m)
		return stp_err_set(e, STP_EXIT_FAIL, "out of memory");
	k = stp_gss_build(m, STP_GSS_MSG_MAX, mtyp, tok, len);
	if (k < 0)
		rc = stp_err_set(e, STP_EXIT_FAIL, "GSS-API: a token of %zu bytes does not fit "
				 "a message (at most %d)", len, STP_GSS_TOKEN_MAX);
	else if (stp_conn_write_all(x->conn, m, (size_t)k, x->deadline) < 0)
		rc = stp_err_set(e, errno == ETIMEDOUT ? STP_EXIT_PROTO : STP_EXIT_FAIL,
				 "proxy %s: sending a GSS-API message: %s", x->hn,
				 errno == ETIMEDOUT ? "timed out" : strerror(errno));
	free(m);
	return rc;
}

/* Tells the proxy we give up (§3: X'01' X'FF'); nothing to do if that fails. */
static void send_abort(struct gx *x)
{
	uint8_t a[STP_GSS_ABORT_LEN];

	stp_gss_build_abort(a);
	(void)stp_conn_write_all(x->conn, a, sizeof(a), x->deadline);
}

/* Reads one message of type expect into x->in; *m points into it. Returns
 * 0, or -1 with e (the proxy's abort: exit 4; a close, malformed: 5). */
static int recv_msg(struct gx *x, uint8_t expect, struct stp_gss_msg *m, struct stp_err *e)
{
	const char *why = "";

	for (;;) {
		/* what the caller had already read comes first */
		if (*x->have) {
			size_t k = *x->have;
			if (k > STP_GSS_MSG_MAX - x->inlen)
				k = STP_GSS_MSG_MAX - x->inlen;
			memcpy(x->in + x->inlen, x->buf, k);
			x->inlen += k;
			memmove(x->buf, x->buf + k, *x->have - k);
			*x->have -= k;
		}
		ssize_t k = stp_gss_parse(x->in, x->inlen, expect, STP_GSS_TOKEN_MAX, m, &why);
		if (k < 0)
			return stp_err_set(e, STP_EXIT_PROTO, "proxy %s: GSS-API message: %s", x->hn, why);
		if (k > 0) {
			/* bytes after it go back to the caller; the token is
			 * used before the next message is read */
			size_t rest = x->inlen - (size_t)k;
			if (rest > x->cap - *x->have)
				return stp_err_set(e, STP_EXIT_PROTO, "proxy %s: oversized answer", x->hn);
			memmove(x->buf + rest, x->buf, *x->have);
			memcpy(x->buf, x->in + k, rest);
			*x->have += rest;
			x->inlen = (size_t)k;
			if (m->mtyp == STP_GSS_MT_ABORT)
				return stp_err_set(e, STP_EXIT_AUTH, "proxy %s refused the GSS-API "
						   "authentication of %s (X'FF')", x->hn, x->target);
			x->inlen = 0;  /* m->token stays valid: in is not touched */
			return 0;
		}
		struct pollfd pfd = { .fd = x->conn->fd, .events = POLLIN };
		int rc = stp_conn_pending(x->conn) ? 1 : poll(&pfd, 1, stp_ms_left(x->deadline));
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc == 0)
			return stp_err_set(e, STP_EXIT_PROTO, "proxy %s: no GSS-API answer within %ld s",
					   x->hn, x->timeout_ms / 1000);
		ssize_t n = stp_conn_read(x->conn, x->in + x->inlen, STP_GSS_MSG_MAX - x->inlen);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0)
			return stp_err_set(e, STP_EXIT_AUTH, "proxy %s closed the connection during "
					   "the GSS-API exchange (it refused %s)", x->hn, x->target);
		x->inlen += (size_t)n;
	}
}

/* The proxy's name as GSS-API wants it: NAME@HOST (host-based service),
 * or NAME itself when it holds a '/' (a whole Kerberos principal, as
 * curl takes it). Returns 0 with *name, or -1 with e (exit 2). */
static int target_name(struct gx *x, const char *service, const char *host, gss_name_t *name,
		       struct stp_err *e)
{
	gss_buffer_desc b;
	OM_uint32 maj, min;
	bool whole = strchr(service, '/') != NULL;

	snprintf(x->target, sizeof(x->target), whole ? "%s" : "%s@%s", service, host);
	b.value = x->target;
	b.length = strlen(x->target);
	maj = gss_import_name(&min, &b, whole ? GSS_KRB5_NT_PRINCIPAL_NAME
			      : GSS_C_NT_HOSTBASED_SERVICE, name);
	if (GSS_ERROR(maj))
		return stp_gss_err(e, STP_EXIT_USAGE, maj, min, "service name");
	return 0;
}

/* gss_init_sec_context failed: why, in the user's words. Returns -1. */
static int init_failed(struct gx *x, OM_uint32 maj, OM_uint32 min, struct stp_err *e)
{
	char t[200];

	stp_gss_minor_text(maj, min, t, sizeof(t));
	/* MIT's minor codes are krb5 error codes; their texts are stable */
	if (strstr(t, "Server not found") || strstr(t, "not found in Kerberos database"))
		return stp_err_set(e, STP_EXIT_AUTH, "proxy %s: GSS-API: no Kerberos service %s "
				   "(%s); see --gssapi-service", x->hn, x->target, t);
	if (GSS_ROUTINE_ERROR(maj) == GSS_S_CREDENTIALS_EXPIRED || strstr(t, "xpired"))
		return stp_err_set(e, STP_EXIT_AUTH, "proxy %s: GSS-API: Kerberos ticket expired: "
				   "run kinit (%s)", x->hn, t);
	if (GSS_ROUTINE_ERROR(maj) == GSS_S_NO_CRED || strstr(t, "No Kerberos credentials") ||
	    strstr(t, "No credentials"))
		return stp_err_set(e, STP_EXIT_AUTH, "proxy %s: GSS-API: no Kerberos ticket: run "
				   "kinit (%s)", x->hn, t);
	return stp_err_set(e, STP_EXIT_AUTH, "proxy %s: GSS-API for %s: %s", x->hn, x->target, t);
}

/* §3: context establishment. Returns 0 with *ctx established, or -1 with e. */
static int establish(struct gx *x, gss_name_t target, gss_ctx_id_t *ctx, OM_uint32 *flags,
		     struct stp_err *e)
{
	gss_buffer_desc in = GSS_C_EMPTY_BUFFER, out;
	OM_uint32 maj, min, rel;
	struct stp_gss_msg m;

	for (int round = 0; round < STP_GSS_ROUNDS; round++) {
		out = (gss_buffer_desc)GSS_C_EMPTY_BUFFER;
		maj = gss_init_sec_context(&min, GSS_C_NO_CREDENTIAL, ctx, target,
					   GSS_C_NO_OID, GSS_C_MUTUAL_FLAG | GSS_C_REPLAY_FLAG |
					   GSS_C_SEQUENCE_FLAG | GSS_C_INTEG_FLAG | GSS_C_CONF_FLAG,
					   0, GSS_C_NO_CHANNEL_BINDINGS, &in, NULL, &out, flags,
					   NULL);
		if (GSS_ERROR(maj)) {
			gss_release_buffer(&rel, &out);
			/* the proxy waits for a token only once we sent one */
			if (round > 0)
				send_abort(x);
			return init_failed(x, maj, min, e);
		}
		if (out.length) {
			stp_log(x->lg, STP_LOG_STEPS, "proxy %s: GSS-API token of %zu bytes for %s",
				x->hn, out.length, x->target);
			int rc = send_msg(x, STP_GSS_MT_AUTH, out.value, out.length, e);
			gss_release_buffer(&rel, &out);
			if (rc < 0)
				return -1;
		}
		if (!(maj & GSS_S_CONTINUE_NEEDED))
			return 0;
		if (recv_msg(x, STP_GSS_MT_AUTH, &m, e) < 0)
			return -1;
		stp_log(x->lg, STP_LOG_STEPS, "proxy %s: GSS-API token of %zu bytes back", x->hn,
			m.token_len);
		in.value = (void *)m.token;
		in.length = m.token_len;
	}
	send_abort(x);
	return stp_err_set(e, STP_EXIT_PROTO, "proxy %s: GSS-API context not established after "
			   "%d rounds", x->hn, STP_GSS_ROUNDS);
}

/* §4: asks for level want, takes the proxy's choice if it is at least
 * that. The one-byte level travels gss_wrap'ed without confidentiality
 * both ways, as RFC 1961 says and curl and Dante do (X'00' too).
 * Returns the level, or -1 with e. */
static int subnegotiate(struct gx *x, gss_ctx_id_t ctx, int want, struct stp_err *e)
{
	uint8_t lv = (uint8_t)want;
	gss_buffer_desc in = { 1, &lv }, tok = GSS_C_EMPTY_BUFFER, pt = GSS_C_EMPTY_BUFFER;
	OM_uint32 maj, min, rel;
	struct stp_gss_msg m;
	int got;

	maj = gss_wrap(&min, ctx, 0, GSS_C_QOP_DEFAULT, &in, NULL, &tok);
	if (GSS_ERROR(maj))
		return stp_gss_err(e, STP_EXIT_FAIL, maj, min, "gss_wrap");
	int rc = send_msg(x, STP_GSS_MT_PROT, tok.value, tok.length, e);
	gss_release_buffer(&rel, &tok);
	if (rc < 0 || recv_msg(x, STP_GSS_MT_PROT, &m, e) < 0)
		return -1;
	in.value = (void *)m.token;
	in.length = m.token_len;
	maj = gss_unwrap(&min, ctx, &in, &pt, NULL, NULL);
	if (GSS_ERROR(maj)) {
		send_abort(x);
		stp_gss_err(e, STP_EXIT_PROTO, maj, min, "protection level from the proxy");
		return stp_err_prefix(e, "proxy %s", x->hn);
	}
	got = pt.length == 1 ? ((uint8_t *)pt.value)[0] : -1;
	gss_release_buffer(&rel, &pt);
	if (got < 0 || got > STP_GSS_LEVEL_CONFIDENTIALITY) {
		send_abort(x);
		if (got == STP_GSS_LEVEL_SELECTIVE)
			return stp_err_set(e, STP_EXIT_AUTH, "proxy %s chose GSS-API protection "
					   "selective (X'03'), which stp does not speak", x->hn);
		return stp_err_set(e, STP_EXIT_PROTO, "proxy %s: malformed GSS-API protection "
				   "level", x->hn);
	}
	if (got < want) {
		send_abort(x);
		return stp_err_set(e, STP_EXIT_AUTH, "proxy %s granted GSS-API protection %s, less "
				   "than the %s asked for", x->hn, stp_gss_level_name(got),
				   stp_gss_level_name(want));
	}
	return got;
}

/* Our own principal as the context names it, into buf (empty if unknown). */
static void own_name(gss_ctx_id_t ctx, char *buf, size_t cap)
{
	gss_name_t src = GSS_C_NO_NAME;
	gss_buffer_desc t;
	OM_uint32 min, rel;

	buf[0] = '\0';
	if (GSS_ERROR(gss_inquire_context(&min, ctx, &src, NULL, NULL, NULL, NULL, NULL, NULL)))
		return;
	if (!GSS_ERROR(gss_display_name(&min, src, &t, NULL))) {
		snprintf(buf, cap, "%.*s", (int)t.length, (const char *)t.value);
		gss_release_buffer(&rel, &t);
	}
	gss_release_name(&rel, &src);
}

int stp_gss_client_run(struct stp_conn *conn, const struct stp_gss_cfg *cfg,
		       const struct stp_proxy *hop, uint8_t *buf, size_t *have, size_t cap,
		       uint64_t deadline, long timeout_ms, const struct stp_log *lg,
		       struct stp_err *e)
{
	char hn[STP_HOSTPORT_MAX];
	struct gx x = { .conn = conn, .hn = stp_proxy_hostport(hop, hn, sizeof(hn)), .buf = buf,
			.have = have, .cap = cap, .deadline = deadline, .timeout_ms = timeout_ms,
			.lg = lg };
	gss_name_t target = GSS_C_NO_NAME;
	gss_ctx_id_t ctx = GSS_C_NO_CONTEXT;
	OM_uint32 flags = 0, min;
	int level = -1;

	x.in = malloc(STP_GSS_MSG_MAX);
	if (!x.in)
		return stp_err_set(e, STP_EXIT_FAIL, "out of memory");
	if (target_name(&x, cfg->service ? cfg->service : "rcmd", hop->host, &target, e) < 0)
		goto out;
	if (establish(&x, target, &ctx, &flags, e) < 0)
		goto out;
	if (!(flags & GSS_C_MUTUAL_FLAG)) {
		send_abort(&x);
		stp_err_set(e, STP_EXIT_AUTH, "proxy %s: GSS-API: the proxy did not prove "
			    "its identity (no mutual authentication)", x.hn);
		goto out;
	}
	level = subnegotiate(&x, ctx, cfg->level, e);
	if (level < 0)
		goto out;
	own_name(ctx, conn->gss_principal, sizeof(conn->gss_principal));
	conn->gss_level = level;
	conn->gss_done = true;
	stp_log(lg, STP_LOG_STEPS, "proxy %s: GSS-API: %s authenticated to %s, protection %s",
		x.hn, conn->gss_principal, x.target, stp_gss_level_name(level));
	if (level != STP_GSS_LEVEL_NONE) {
		conn->gss = stp_gss_stream_new(ctx, level);
		if (!conn->gss) {
			stp_err_set(e, STP_EXIT_FAIL, "out of memory");
			level = -1;
			goto out;
		}
		ctx = GSS_C_NO_CONTEXT;  /* the stream's now */
	}
out:
	if (ctx != GSS_C_NO_CONTEXT)
		gss_delete_sec_context(&min, &ctx, GSS_C_NO_BUFFER);
	if (target != GSS_C_NO_NAME)
		gss_release_name(&min, &target);
	free(x.in);
	return level < 0 ? -1 : 0;
}
