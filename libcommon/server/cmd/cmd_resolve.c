/* cmd_resolve.c - Tor's RESOLVE (X'F0': a name -> one address) and
 * RESOLVE_PTR (X'F1': an address -> its name), PROTOCOL.md §1. The lookup
 * runs on the loop through c-ares; the reply carries the answer in BND with
 * port 0, and the connection closes after it, as Tor does. Any failure to
 * resolve is reply 4 (host unreachable); the session timer (the connect
 * timeout) ends a lookup that takes too long with reply 6. With --upstream
 * a name (RESOLVE) or an address (RESOLVE_PTR) is asked of the upstream
 * chain instead (upstream.c), so that no lookup leaves from here. */
#include <string.h>

#include "proto/addr.h"
#include "server/server_priv.h"
#include "server/upmux.h"
#include "server/upstream.h"

/* Sends the success reply with bnd and closes once it is written. */
static void answer(struct session *ss, const struct stp_addr *bnd)
{
	uint8_t b[STP_REPLY_MAX];
	size_t n = stp5_reply_put(b, sizeof(b), ss->cmd, STP_REP_OK, bnd, NULL);

	if (n == 0) {
		session_reply_error(ss, STP_REP_FAIL);
		return;
	}
	ss->rep = STP_REP_OK;
	session_fail(ss, b, n, "ok");  /* may free ss */
}

/* Reply 4, with c-ares's reason in the log line; closes. */
static void not_resolved(struct session *ss, int status)
{
	uint8_t b[32];
	size_t n = stp5_reply_put(b, sizeof(b), ss->cmd, STP_REP_HOST_UNREACH, NULL, NULL);

	ss->rep = STP_REP_HOST_UNREACH;
	session_fail(ss, b, n, ares_strerror(status));  /* may free ss */
}

static void on_addr(void *arg, int status, const struct ares_addrinfo *ai)
{
	struct session *ss = arg;
	const struct ares_addrinfo_node *pick = NULL;
	struct stp_addr bnd;

	ss->lookup = NULL;
	if (status != ARES_SUCCESS || !ai) {
		not_resolved(ss, status);
		return;
	}
	/* IPv4 first, as Tor answers; else the first IPv6 address */
	for (const struct ares_addrinfo_node *n = ai->nodes; n; n = n->ai_next) {
		if (n->ai_family == AF_INET) {
			pick = n;
			break;
		}
		if (n->ai_family == AF_INET6 && !pick)
			pick = n;
	}
	if (!pick || stp_addr_from_sa(&bnd, pick->ai_addr) < 0) {
		not_resolved(ss, ARES_ENODATA);
		return;
	}
	bnd.port = 0;
	answer(ss, &bnd);
}

static void on_name(void *arg, int status, const char *name)
{
	struct session *ss = arg;
	struct stp_addr bnd;
	size_t len;

	ss->lookup = NULL;
	if (status != ARES_SUCCESS || !name) {
		not_resolved(ss, status);
		return;
	}
	len = strlen(name);
	if (len == 0 || len > 255) {
		not_resolved(ss, ARES_EBADNAME);
		return;
	}
	memset(&bnd, 0, sizeof(bnd));
	bnd.atyp = STP_ATYP_NAME;
	bnd.namelen = (uint8_t)len;
	memcpy(bnd.u.name, name, len + 1);
	answer(ss, &bnd);
}

/* Stops reading the client and bounds the lookup by the connect timeout. */
static void start_wait(struct session *ss)
{
	struct stp_server *s = ss->srv;

	stp_loop_set(s->loop, ss->cfd, 0);
	stp_timer_start(s->loop, &ss->timer, (uint64_t)s->cfg.connect_timeout_ms);
	ss->state = S_RESOLVING;
}

/* RESOLVE: DST a name (an address literal is answered as it is). */
void cmd_resolve(struct session *ss)
{
	struct stp_lookup *q;

	if (ss->dst.atyp != STP_ATYP_NAME) {
		struct stp_addr bnd = ss->dst;
		bnd.port = 0;
		answer(ss, &bnd);
		return;
	}
	if (upstream_enabled(ss->srv)) {
		upmux_route(ss);  /* the name goes to the upstream, not to DNS */
		return;
	}
	start_wait(ss);
	/* the answer may come at once (and end the session): only a pending
	 * lookup is remembered */
	q = stp_lookup_start(ss->srv->res, ss->dst.u.name, AF_UNSPEC, on_addr, ss);
	if (q)
		ss->lookup = q;
}

/* RESOLVE_PTR: DST an IPv4 or IPv6 address. */
void cmd_resolve_ptr(struct session *ss)
{
	struct sockaddr_storage sa;
	struct stp_lookup *q;

	if (ss->dst.atyp == STP_ATYP_NAME || !stp_addr_to_sa(&ss->dst, &sa)) {
		session_reply_error(ss, STP_REP_ATYP_UNSUPPORTED);
		return;
	}
	if (upstream_enabled(ss->srv)) {
		upmux_route(ss);
		return;
	}
	start_wait(ss);
	q = stp_ptr_start(ss->srv->res, (const struct sockaddr *)&sa, on_name, ss);
	if (q)
		ss->lookup = q;
}
