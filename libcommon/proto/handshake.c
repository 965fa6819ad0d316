/* handshake.c - client handshake state machine over a chain of hops. */
#include <stdio.h>
#include <string.h>

#include "proto/addr.h"
#include "proto/cmd.h"
#include "proto/handshake.h"

/* "HOST:PORT", or "unix:PATH" for a Unix-socket hop (client.h,
 * stp_client_unix: the mux master), for messages. */
static const char *proxy_name(const struct stp_proxy *p, char *buf, size_t cap)
{
	if (strcmp(p->scheme, "unix") == 0) {
		snprintf(buf, cap, "unix:%s", p->host);
		return buf;
	}
	return stp_proxy_hostport(p, buf, cap);
}

static const char *hop_name(const struct stp_hs *h, char *buf, size_t cap)
{
	return proxy_name(&h->hops[h->hop], buf, cap);
}

static uint8_t hop_cmd(const struct stp_hs *h)
{
	return h->hop == h->nhops - 1 ? h->cmd : STP_CMD_CONNECT;
}

/* Queues this hop's opening message. Returns 0 or -1. */
static int hop_start(struct stp_hs *h, struct stp_err *e)
{
	const struct stp_proxy *p = &h->hops[h->hop];
	const struct stp_addr *d = &h->dest[h->hop];
	char hn[STP_HOSTPORT_MAX];

	h->answered = false;
	if (p->proto == STP_PROTO_HTTP) {
		/* hop_cmd is CONNECT here: stp_hs_init_opts refused the rest */
		stp_http_resp_init(&h->http);
		h->outlen = stp_http_connect_put(h->out, sizeof(h->out), d,
						 p->has_user ? p->user : NULL,
						 p->has_pass ? p->pass : "");
		h->st = HS_HTTP;
	} else if (p->proto == STP_PROTO_SOCKS4) {
		uint8_t c = hop_cmd(h);
		if (c != STP_CMD_CONNECT && c != STP_CMD_BIND)
			return stp_err_set(e, STP_EXIT_UNSUPPORTED,
					   "proxy %s speaks SOCKS4, which has no %s",
					   hop_name(h, hn, sizeof(hn)), stp_cmd_str(c));
		if (d->atyp == STP_ATYP_IPV6)
			return stp_err_set(e, STP_EXIT_USAGE,
					   "proxy %s speaks SOCKS4, which cannot reach IPv6 "
					   "addresses; use socks5://", hop_name(h, hn, sizeof(hn)));
		h->outlen = stp4_request_put(h->out, sizeof(h->out), c == STP_CMD_BIND ? STP4_BIND : STP4_CONNECT,
					     d, p->has_user ? p->user : "");
		h->st = HS_REPLY4;
	} else {
		/* GSS-API asked for: it is what the user wants, so no-auth is
		 * not offered beside it (a proxy that needs nothing would take
		 * X'00' and the ticket would go unused without a word) */
		uint8_t m[3];
		size_t nm = 0;
		if (p->gssapi)
			m[nm++] = STP_METHOD_GSSAPI;
		else
			m[nm++] = STP_METHOD_NONE;
		if (p->has_user)
			m[nm++] = STP_METHOD_USERPASS;
		h->outlen = stp5_greeting_put(h->out, sizeof(h->out), m, nm);
		h->st = HS_METHOD;
	}
	if (!h->outlen)
		return stp_err_set(e, STP_EXIT_USAGE, "cannot encode the request to %s",
				   hop_name(h, hn, sizeof(hn)));
	return 0;
}

int stp_hs_init(struct stp_hs *h, const struct stp_proxy *hops, int nhops,
		const struct stp_addr *dest, uint8_t cmd, struct stp_err *e)
{
	return stp_hs_init_opts(h, hops, nhops, dest, cmd, NULL, e);
}

int stp_hs_init_opts(struct stp_hs *h, const struct stp_proxy *hops, int nhops,
		     const struct stp_addr *dest, uint8_t cmd, const struct stp_opts *opts,
		     struct stp_err *e)
{
	memset(h, 0, sizeof(*h));
	h->opts = opts;
	h->hops = hops;
	h->nhops = nhops;
	h->dest = dest;
	h->cmd = cmd;
	if (nhops < 1 || nhops > STP_MAX_HOPS)
		return stp_err_set(e, STP_EXIT_USAGE, "between 1 and %d proxies", STP_MAX_HOPS);
	if (hops[nhops - 1].proto == STP_PROTO_HTTP && cmd != STP_CMD_CONNECT) {
		char hn[STP_HOSTPORT_MAX];
		/* decided before any byte is sent (SPEC 2.1) */
		h->st = HS_FAILED;
		return stp_err_set(e, STP_EXIT_UNSUPPORTED,
				   "proxy %s is an HTTP proxy, which carries only TCP streams "
				   "(CONNECT), not %s; the last proxy of the chain must be a "
				   "SOCKS5 one for that", proxy_name(&hops[nhops - 1], hn, sizeof(hn)),
				   stp_cmd_str(cmd));
	}
	return hop_start(h, e);
}

static int queue_request(struct stp_hs *h, struct stp_err *e)
{
	char hn[STP_HOSTPORT_MAX];

	const struct stp_opts *o = h->hop == h->nhops - 1 ? h->opts : NULL;
	h->outlen = stp5_request_put(h->out, sizeof(h->out), hop_cmd(h), &h->dest[h->hop], o);
	h->st = HS_REPLY;
	if (!h->outlen)
		return stp_err_set(e, STP_EXIT_USAGE, "cannot encode the request to %s",
				   hop_name(h, hn, sizeof(hn)));
	return 0;
}

/* The hop said yes: on to the next hop, or done. */
static int hop_done(struct stp_hs *h, struct stp_err *e)
{
	if (h->hop == h->nhops - 1) {
		h->st = HS_DONE;
		return 0;
	}
	h->hop++;
	return hop_start(h, e);
}

static int refused(struct stp_hs *h, uint8_t rep, int code, struct stp_err *e)
{
	char hn[STP_HOSTPORT_MAX], dn[STP_HOSTPORT_MAX], rc[STP_REP_CODE_MAX];

	h->rep = rep;
	h->st = HS_FAILED;
	if (h->hop < h->nhops - 1 && rep >= STP_REP_NET_UNREACH && rep <= STP_REP_TTL)
		/* what failed is reaching the next proxy: for the user that
		 * proxy is unreachable (exit 3), whoever reported it */
		return stp_err_set(e, STP_EXIT_REACH, "cannot reach proxy %s through proxy %s: %s (reply %s)",
				   stp_addr_str(&h->dest[h->hop], dn, sizeof(dn)),
				   hop_name(h, hn, sizeof(hn)), stp_rep_str(rep), stp_rep_code(rep, rc));
	return stp_err_set(e, code, "proxy %s refused %s %s: %s (reply %s)",
			   hop_name(h, hn, sizeof(hn)), stp_cmd_str(hop_cmd(h)),
			   stp_addr_str(&h->dest[h->hop], dn, sizeof(dn)), stp_rep_str(rep),
			   stp_rep_code(rep, rc));
}

/* An HTTP hop answered CONNECT with a non-2xx status (its body read as far
 * as httpconn.c keeps it): the exit code and message of SPEC 2.3, the
 * status line quoted. Returns -1. */
static int http_refused(struct stp_hs *h, struct stp_err *e)
{
	const struct stp_proxy *p = &h->hops[h->hop];
	const struct stp_http_resp *r = &h->http;
	char hn[STP_HOSTPORT_MAX], dn[STP_HOSTPORT_MAX], sch[120], why[80] = "";
	uint8_t rep = stp_http_resp_rep(r);

	h->st = HS_FAILED;
	hop_name(h, hn, sizeof(hn));
	stp_addr_str(&h->dest[h->hop], dn, sizeof(dn));
	if (r->status == 407) {
		stp_http_resp_schemes(r, sch, sizeof(sch));
		if (p->has_user && stp_http_resp_offers_basic(r))
			return stp_err_set(e, STP_EXIT_AUTH, "proxy %s rejected the credentials of "
					   "user '%s' (%s)", hn, p->user, r->line);
		if (sch[0] && !stp_http_resp_offers_basic(r))
			return stp_err_set(e, STP_EXIT_AUTH, "proxy %s requires authentication (%s) "
					   "by %s, which stp does not speak (only Basic)", hn,
					   r->line, sch);
		return stp_err_set(e, STP_EXIT_AUTH, "proxy %s requires authentication (%s%s%s); "
				   "give -U USER or USER:PASSWORD@ in the proxy URL", hn, r->line,
				   sch[0] ? ", it offers " : "", sch);
	}
	h->rep = rep;
	if (stp_http_resp_why(r)[0])
		snprintf(why, sizeof(why), " (%s)", stp_http_resp_why(r));
	if (h->hop < h->nhops - 1 && rep >= STP_REP_NET_UNREACH && rep <= STP_REP_TTL)
		/* as for a SOCKS hop: the next proxy is what cannot be reached */
		return stp_err_set(e, STP_EXIT_REACH, "cannot reach proxy %s through proxy %s: %s%s",
				   dn, hn, r->line, why);
	if (rep == STP_REP_CMD_UNSUPPORTED)
		return stp_err_set(e, STP_EXIT_UNSUPPORTED, "proxy %s does not support CONNECT "
				   "(%s); is it an HTTP proxy?", hn, r->line);
	return stp_err_set(e, stp_rep_exit(rep), "proxy %s refused CONNECT %s: %s%s", hn, dn,
			   r->line, why);
}

static int malformed(struct stp_hs *h, const char *what, struct stp_err *e)
{
	char hn[STP_HOSTPORT_MAX];

	h->st = HS_FAILED;
	return stp_err_set(e, STP_EXIT_PROTO, "proxy %s: %s", hop_name(h, hn, sizeof(hn)), what);
}

ssize_t stp_hs_feed(struct stp_hs *h, const uint8_t *in, size_t n, struct stp_err *e)
{
	char hn[STP_HOSTPORT_MAX];
	ssize_t k;

	h->outlen = 0;
	switch (h->st) {
	case HS_METHOD: {
		uint8_t m;
		if (n && in[0] != 5)
			return malformed(h, in[0] == 4 || in[0] == 0 ? "answered in SOCKS4, not SOCKS5"
					 : "not a SOCKS5 server (its first byte is wrong)", e);
		k = stp5_method_get(in, n, &m);
		if (k <= 0)
			return k == 0 ? 0 : malformed(h, "malformed method selection", e);
		h->answered = true;
		if (m == STP_METHOD_NOACCEPT) {
			const struct stp_proxy *p = &h->hops[h->hop];
			h->st = HS_FAILED;
			if (p->gssapi)
				return stp_err_set(e, STP_EXIT_AUTH,
						   "proxy %s does not offer GSS-API (it accepts none "
						   "of: GSS-API%s)", hop_name(h, hn, sizeof(hn)),
						   p->has_user ? ", username/password" : "");
			return stp_err_set(e, STP_EXIT_AUTH,
					   "proxy %s accepts none of our authentication methods (%s)%s",
					   hop_name(h, hn, sizeof(hn)),
					   p->has_user ? "none, username/password" : "none",
					   p->has_user ? "" : "; it may need -U USER");
		}
		if (m == STP_METHOD_GSSAPI && h->hops[h->hop].gssapi) {
			h->st = HS_GSS;  /* the driver's turn */
			return k;
		}
		if (m == STP_METHOD_USERPASS && h->hops[h->hop].has_user) {
			const struct stp_proxy *p = &h->hops[h->hop];
			h->outlen = stp_userpass_put(h->out, sizeof(h->out), p->user,
						     p->has_pass ? p->pass : "");
			if (!h->outlen) {
				h->st = HS_FAILED;
				return stp_err_set(e, STP_EXIT_USAGE,
						   "user and password must each be 1 to 255 bytes");
			}
			h->st = HS_AUTH;
			return k;
		}
		if (m != STP_METHOD_NONE || h->hops[h->hop].gssapi)
			return malformed(h, "chose a method we did not offer", e);
		return queue_request(h, e) < 0 ? -1 : k;
	}
	case HS_AUTH: {
		uint8_t st;
		k = stp_userpass_status_get(in, n, &st);
		if (k <= 0)
			return k == 0 ? 0 : malformed(h, "malformed authentication status", e);
		if (st != 0) {
			h->st = HS_FAILED;
			/* RFC 1929 has one "no" for both: name what it may mean */
			return stp_err_set(e, STP_EXIT_AUTH, "proxy %s rejected the credentials of user '%s' "
					   "(wrong user or password, or this address is blocked "
					   "after too many failed logins)",
					   hop_name(h, hn, sizeof(hn)), h->hops[h->hop].user);
		}
		return queue_request(h, e) < 0 ? -1 : k;
	}
	case HS_REPLY: {
		struct stp5_msg m;
		k = stp5_reply_get(in, n, hop_cmd(h), &m);
		if (k <= 0)
			return k == 0 ? 0 : malformed(h, "malformed reply", e);
		h->answered = true;
		if (m.code != STP_REP_OK)
			return refused(h, m.code, stp_rep_exit(m.code), e);
		h->bnd = m.addr;
		if (h->hop == h->nhops - 1 && m.has_opts)
			h->reply_opts = m.opts;
		return hop_done(h, e) < 0 ? -1 : k;
	}
	case HS_REPLY4: {
		uint8_t cd;
		struct stp_addr a;
		k = stp4_reply_get(in, n, &cd, &a);
		if (k <= 0)
			return k == 0 ? 0 : malformed(h, "not a SOCKS4 server (malformed reply)", e);
		h->answered = true;
		if (cd == STP4_REJECTED) {
			char dn[STP_HOSTPORT_MAX];
			h->rep = STP_REP_NOT_ALLOWED;
			h->st = HS_FAILED;
			return stp_err_set(e, STP_EXIT_REPLY + STP_REP_NOT_ALLOWED,
					   "proxy %s rejected %s %s (SOCKS4 reply 91)",
					   hop_name(h, hn, sizeof(hn)), stp_cmd_str(hop_cmd(h)),
					   stp_addr_str(&h->dest[h->hop], dn, sizeof(dn)));
		}
		if (cd == STP4_IDENTD || cd == STP4_IDENTD_MISMATCH) {
			h->st = HS_FAILED;
			return stp_err_set(e, STP_EXIT_AUTH, "proxy %s refused: identd check failed (SOCKS4 reply %u)",
					   hop_name(h, hn, sizeof(hn)), cd);
		}
		if (cd != STP4_GRANTED)
			return malformed(h, "unknown SOCKS4 reply code", e);
		h->bnd = a;
		return hop_done(h, e) < 0 ? -1 : k;
	}
	case HS_HTTP:
		if (n == 0)
			return 0;
		k = stp_http_resp_feed(&h->http, in, n);
		if (k < 0)
			return malformed(h, h->answered ? "malformed HTTP answer to CONNECT"
					 : "not an HTTP proxy (its answer to CONNECT is not HTTP)", e);
		h->answered = true;
		if (!stp_http_resp_ready(&h->http))
			return k;
		if (h->http.status >= 200 && h->http.status < 300) {
			/* HTTP names no bound address */
			memset(&h->bnd, 0, sizeof(h->bnd));
			h->bnd.atyp = STP_ATYP_IPV4;
			return hop_done(h, e) < 0 ? -1 : k;
		}
		http_refused(h, e);
		return -1;
	case HS_GSS:  /* the driver's: it must not feed the machine now */
	case HS_DONE:
		return 0;
	case HS_FAILED:
		break;
	}
	return stp_err_set(e, STP_EXIT_FAIL, "handshake already failed");
}

int stp_hs_gss_done(struct stp_hs *h, struct stp_err *e)
{
	if (h->st != HS_GSS)
		return stp_err_set(e, STP_EXIT_FAIL, "GSS-API exchange finished out of turn");
	return queue_request(h, e);
}

int stp_hs_judge_reply(const struct stp_hs *h, const struct stp5_msg *m, struct stp_err *e)
{
	char hn[STP_HOSTPORT_MAX], dn[STP_HOSTPORT_MAX], rc[STP_REP_CODE_MAX];

	if (m->code == STP_REP_OK)
		return 0;
	return stp_err_set(e, stp_rep_exit(m->code), "proxy %s refused %s %s: %s (reply %s)",
			   proxy_name(&h->hops[h->nhops - 1], hn, sizeof(hn)),
			   stp_cmd_str(h->cmd),
			   stp_addr_str(&h->dest[h->nhops - 1], dn, sizeof(dn)),
			   stp_rep_str(m->code), stp_rep_code(m->code, rc));
}

int stp_hs_fail_eof(struct stp_hs *h, bool timed_out, long timeout_ms, struct stp_err *e)
{
	char hn[STP_HOSTPORT_MAX], dn[STP_HOSTPORT_MAX];
	bool request_sent = h->st == HS_REPLY || h->st == HS_REPLY4 || h->st == HS_HTTP;
	const char *during = h->st == HS_AUTH ? "authentication" :
			     h->st == HS_GSS ? "GSS-API exchange" : "greeting";

	hop_name(h, hn, sizeof(hn));
	if (h->st == HS_HTTP && h->http.headers_done && h->http.status >= 300)
		/* a refusal whose body ended with the connection */
		return http_refused(h, e);
	if (h->st == HS_HTTP && h->http.headers_done) {
		h->st = HS_FAILED;
		return stp_err_set(e, STP_EXIT_PROTO, "proxy %s: unexpected answer to CONNECT (%s)",
				   hn, h->http.line);
	}
	h->st = HS_FAILED;
	if (timed_out) {
		if (request_sent)
			return stp_err_set(e, STP_EXIT_REPLY + STP_REP_TTL,
					   "proxy %s did not reach %s within %ld s",
					   hn, stp_addr_str(&h->dest[h->hop], dn, sizeof(dn)),
					   timeout_ms / 1000);
		return stp_err_set(e, STP_EXIT_PROTO, "no answer from proxy %s within %ld s",
				   hn, timeout_ms / 1000);
	}
	if (request_sent && h->hops[h->hop].proto == STP_PROTO_HTTP)
		return stp_err_set(e, STP_EXIT_REPLY + STP_REP_FAIL,
				   "proxy %s closed the connection without an answer to CONNECT %s",
				   hn, stp_addr_str(&h->dest[h->hop], dn, sizeof(dn)));
	if (request_sent && hop_cmd(h) == STP_CMD_CONNECT)
		/* every SOCKS server has CONNECT: a close is a failure to reach
		 * the target, ssh -D's only way of saying so (SPEC 2.3) */
		return stp_err_set(e, STP_EXIT_REPLY + STP_REP_FAIL,
				   "proxy %s closed the connection without a reply to CONNECT %s "
				   "(ssh -D does that when it cannot reach the target)", hn,
				   stp_addr_str(&h->dest[h->hop], dn, sizeof(dn)));
	if (request_sent)
		/* what ssh -D does with commands it lacks (PROTOCOL.md §1) */
		return stp_err_set(e, STP_EXIT_UNSUPPORTED,
				   "proxy %s closed the connection without a reply to %s "
				   "(it does not support it)", hn, stp_cmd_str(hop_cmd(h)));
	return stp_err_set(e, STP_EXIT_PROTO, "proxy %s closed the connection during the %s",
			   hn, during);
}
