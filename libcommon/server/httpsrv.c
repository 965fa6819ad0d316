/* httpsrv.c - HTTP/1.1 proxy requests on the SOCKS port (httpsrv.h). The
 * head is parsed by proto/httpreq.c; from there on an HTTP session is a
 * SOCKS5 CONNECT session (ss->ver 5, ss->cmd CONNECT), so that rules,
 * limits, upstreams, the relay, logs and stats are the very same code;
 * only its answers are HTTP. */
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto/addr.h"
#include "proto/httpreq.h"
#include "server/httpidle.h"
#include "server/httploop.h"
#include "server/httpsrv.h"
#include "server/server_priv.h"

/* How long a refused client may take to close after its answer. */
#define HTTP_LINGER_MS 5000

/* This process's name in Via: a request that comes back carrying it went
 * round a loop through this proxy (508). Random, so that two stp-serves
 * chained on purpose do not take each other for themselves. */
static char via_name[32];

const char *http_via(void)
{
	if (!via_name[0]) {
		uint8_t r[4] = { 0 };
		if (RAND_bytes(r, sizeof(r)) != 1) {
			/* not secret, only distinct: the address of a local does */
			uintptr_t p = (uintptr_t)&r;
			memcpy(r, &p, sizeof(r));
		}
		snprintf(via_name, sizeof(via_name), "stp-serve-%02x%02x%02x%02x", r[0], r[1],
			 r[2], r[3]);
	}
	return via_name;
}

void http_linger(struct session *ss)
{
	struct stp_server *s = ss->srv;

	if (ss->ssl)
		SSL_shutdown(ss->ssl);  /* close_notify: the answer is whole */
	shutdown(ss->cfd, SHUT_WR);
	ss->state = S_LINGER;
	stp_loop_set(s->loop, ss->cfd, STP_EV_READ);
	stp_timer_start(s->loop, &ss->timer, HTTP_LINGER_MS);
}

/* Answers status with body text and extra header lines, records it for
 * the log (result why), and closes once it is written. */
static void http_fail(struct session *ss, int status, const char *extra, const char *body,
		      const char *why)
{
	uint8_t b[STP_REPLY_MAX];
	size_t n = stp_http_error_put(b, sizeof(b), status, extra, body);

	ss->http_status = status;
	ss->result = why;
	ss->state = S_CLOSING;
	if (ss->tfd >= 0) {
		stp_loop_unwatch(ss->srv->loop, ss->tfd);
		close(ss->tfd);
		ss->tfd = -1;
	}
	int r = n ? session_send(ss, b, n) : -1;
	if (r < 0) {
		session_free(ss);
		return;
	}
	if (r == 0)
		http_linger(ss);
	/* else on_client lingers once the answer is flushed */
}

void http_answer_error(struct session *ss, int status, const char *body, const char *why)
{
	http_fail(ss, status, NULL, body, why);
}

bool http_idle(const struct session *ss)
{
	return ss->http && ss->http_served > 0 && ss->state == S_HTTP && ss->inlen == 0;
}

void http_timeout(struct session *ss)
{
	if (http_idle(ss)) {
		/* a kept-alive connection nobody used again: closed quietly */
		session_free(ss);
		return;
	}
	http_fail(ss, 408, NULL, "stp-serve: the request head did not arrive in time",
		  "handshake timeout");
}

void http_reply_error(struct session *ss, uint8_t rep)
{
	char target[STP_ADDRSTRLEN + 256], body[400];
	int status;

	ss->rep = rep;
	stp_addr_str(&ss->dst, target, sizeof(target));
	switch (rep) {
	case STP_REP_NOT_ALLOWED:
		status = 403;
		snprintf(body, sizeof(body), "stp-serve: %s: not allowed by the rules", target);
		break;
	case STP_REP_TTL:
		status = 504;
		snprintf(body, sizeof(body), "stp-serve: %s: timed out", target);
		break;
	case STP_REP_LIMIT:
		status = 503;
		snprintf(body, sizeof(body), "stp-serve: session limit reached");
		break;
	case STP_REP_ATYP_UNSUPPORTED:
		status = 400;
		snprintf(body, sizeof(body), "stp-serve: %s: address type not supported", target);
		break;
	default:
		/* refused, unreachable, unresolvable, an upstream's failure */
		status = 502;
		snprintf(body, sizeof(body), "stp-serve: cannot reach %s: %s", target,
			 rep == STP_REP_HOST_UNREACH && ss->dst.atyp == STP_ATYP_NAME
				 ? "host unreachable or name not resolved" : stp_rep_str(rep));
		break;
	}
	http_fail(ss, status, NULL, body, stp_rep_str(rep));
}

size_t http_relay_reply(struct session *ss, uint8_t *b, size_t cap)
{
	static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";

	if (ss->http_fwd) {
		ss->http_status = 0;  /* the origin's answer passes unread */
		return 0;
	}
	ss->http_status = 200;
	if (cap < sizeof(ok) - 1)
		return 0;
	memcpy(b, ok, sizeof(ok) - 1);
	return sizeof(ok) - 1;
}

bool http_grow(struct session *ss)
{
	if (ss->incap >= STP_HTTP_HEAD_MAX)
		return false;
	uint8_t *bigger = realloc(ss->in, STP_HTTP_HEAD_MAX);
	if (!bigger)
		return false;
	ss->in = bigger;
	ss->incap = STP_HTTP_HEAD_MAX;
	return true;
}

void http_begin(struct session *ss)
{
	ss->http = true;
	ss->ver = 5;  /* a CONNECT of SOCKS5 for rules, logs and stats */
	ss->state = S_HTTP;
	snprintf(ss->http_method, sizeof(ss->http_method), "-");
	http_step(ss);
}

/* True when the request names one of this server's own listeners: it
 * would come back to this proxy (a loop), or a Via field carries this
 * process's name. */
static bool loops(const struct session *ss, const uint8_t *buf, const struct stp_http_req *r)
{
	const struct stp_server *s = ss->srv;
	struct sockaddr_storage d;
	const char *me = http_via();
	size_t mel = strlen(me);

	for (int i = 0; i < r->nfields; i++) {
		if (!stp_http_field_is(buf, r, i, "Via"))
			continue;
		const uint8_t *v = buf + r->f[i].val_off;
		for (size_t k = 0; k + mel <= r->f[i].val_len; k++)
			if (memcmp(v + k, me, mel) == 0)
				return true;
	}
	if (http_loops_by_name(s, &r->dst))
		return true;  /* "localhost", this host's name, --advertise */
	if (!stp_addr_to_sa(&r->dst, &d))
		return false;  /* another name: its addresses are judged as any target's */
	for (int i = 0; i < s->nls; i++) {
		const struct sockaddr *l = (const struct sockaddr *)&s->ls[i].addr;
		char a[STP_ADDRSTRLEN], b[STP_ADDRSTRLEN];
		if (stp_sa_port(l) != r->dst.port)
			continue;
		struct stp_addr la;
		if (stp_addr_from_sa(&la, l) == 0 && stp_addr_is_zero(&la) &&
		    stp_sa_is_loopback((const struct sockaddr *)&d))
			return true;
		if (strcmp(stp_sa_host(l, a, sizeof(a)),
			   stp_sa_host((const struct sockaddr *)&d, b, sizeof(b))) == 0)
			return true;
	}
	return false;
}

static void http_after_auth(void *arg, bool ok);

/* What the client of forwarded request r (parsed from buf) wants of the
 * connection: http-parser's reading of Connection (HTTP/1.1 keeps, 1.0
 * closes unless asked), and Proxy-Connection, the field old clients send
 * to proxies instead (RFC 9112 §9.6 and appendix C.2.2). */
static void keep_alive(struct session *ss, const uint8_t *buf, const struct stp_http_req *r)
{
	bool keep = r->keep_alive;

	for (int i = 0; i < r->nfields; i++) {
		if (!stp_http_field_is(buf, r, i, "Proxy-Connection"))
			continue;
		const char *v = (const char *)buf + r->f[i].val_off;
		size_t n = r->f[i].val_len;
		if (n == 5 && strncasecmp(v, "close", 5) == 0)
			keep = false;
		else if (n == 10 && strncasecmp(v, "keep-alive", 10) == 0 && r->minor == 0)
			keep = true;
	}
	ss->http_keep = keep;
	ss->http_minor = (uint8_t)r->minor;
	ss->http_head_req = strcmp(r->method, "HEAD") == 0;
}

void http_next(struct session *ss, size_t from, size_t hw)
{
	struct stp_server *s = ss->srv;
	size_t rest = ss->inlen - from;
	uint8_t *in;

	/* each request is a session line and a count of its own */
	session_log_end(ss);
	stats_session_end(s, ss);
	ss->http_served++;
	in = rest <= STP_HTTP_HEAD_MAX ? malloc(STP_HTTP_HEAD_MAX) : NULL;
	if (!in) {
		/* pipelined past a head's limit (or no memory): the requests
		 * not read are lost with the close, as a client expects of a
		 * closing connection */
		ss->inlen = 0;
		session_free(ss);
		return;
	}
	memcpy(in, ss->in + from, rest);
	OPENSSL_cleanse(ss->in, hw < ss->incap ? hw : ss->incap);
	free(ss->in);
	ss->in = in;
	ss->incap = STP_HTTP_HEAD_MAX;
	ss->inlen = rest;
	ss->start = stp_loop_now(s->loop);
	ss->bytes_up = ss->bytes_down = 0;
	ss->rep = 0;
	ss->replied_at = 0;
	ss->http_status = 0;
	ss->http_fwd = false;
	ss->http_seen = 0;
	ss->result = "closed during handshake";
	memset(&ss->dst, 0, sizeof(ss->dst));
	ss->naddrs = ss->next_addr = 0;
	ss->last_errno = 0;
	ss->rule_no = 0;
	snprintf(ss->http_method, sizeof(ss->http_method), "-");
	ss->state = S_HTTP;
	stp_loop_set(s->loop, ss->cfd, STP_EV_READ);
	/* the next head has the handshake's time; none coming: a quiet close */
	stp_timer_start(s->loop, &ss->timer, (uint64_t)s->cfg.handshake_timeout_ms);
	if (rest)
		http_step(ss);  /* a pipelined request */
}

/* The parsed head r of ss->in: authentication, then the command. */
static void http_request(struct session *ss, struct stp_http_req *r)
{
	struct stp_server *s = ss->srv;

	ss->cmd = STP_CMD_CONNECT;
	ss->dst = r->dst;
	if (loops(ss, ss->in, r)) {
		http_fail(ss, 508, NULL, "stp-serve: the request would loop back into this proxy",
			  "loop detected");
		return;
	}
	if (session_needs_auth(ss) && !ss->authenticated) {
		if (!r->auth) {
			http_fail(ss, 407, "Proxy-Authenticate: Basic realm=\"stp\"\r\n",
				  "stp-serve: credentials required", "no credentials");
			return;
		}
		snprintf(ss->user, sizeof(ss->user), "%s", r->user);
		ss->state = S_AUTH_WAIT;
		stp_loop_set(s->loop, ss->cfd, 0);
		/* http_after_auth goes on with the head still in ss->in */
		session_auth_start(ss, r->user, r->pass, http_after_auth);
		return;
	}
	if (r->connect) {
		/* bytes after the head are the tunnel's: the relay sends them first */
		memmove(ss->in, ss->in + r->head_len, ss->inlen - r->head_len);
		ss->inlen -= r->head_len;
	} else {
		/* the origin gets the rewritten head, then what followed it (the
		 * body's start); the relay carries the rest of the body and the
		 * answer, up to the origin's close (Connection: close) */
		size_t rest = ss->inlen - r->head_len;
		size_t cap = STP_HTTP_HEAD_MAX + 512 + rest;
		uint8_t *fwd = malloc(cap);
		size_t n;
		/* the origin is asked to keep its connection only when the
		 * client keeps its own: no later request could use it else */
		keep_alive(ss, ss->in, r);
		n = fwd ? stp_http_forward_head(ss->in, r, http_via(), ss->http_keep, fwd,
						cap - rest) : 0;
		if (!n) {
			free(fwd);
			http_fail(ss, 502, NULL, "stp-serve: out of memory", "out of memory");
			return;
		}
		memcpy(fwd + n, ss->in + r->head_len, rest);
		/* a head is only ever appended to: past inlen nothing was read
		 * (wiping all of a 32 KiB buffer per request showed in profiles) */
		OPENSSL_cleanse(ss->in, ss->inlen);
		free(ss->in);
		ss->in = fwd;
		ss->incap = cap;
		ss->inlen = n + rest;
		ss->http_fwd = true;
	}
	if (!session_permit(ss))  /* the rules: 403 when denied */
		return;
	/* the previous request's origin, when this one goes there too (the
	 * rules above judged this request; the address was judged when the
	 * connection was made); any other idle origin closes here */
	int ofd = httpidle_take(ss, ss->http_fwd && httpidle_method_ok(ss->http_method)
				       ? &ss->dst : NULL);
	ss->http_oreused = ofd >= 0;
	if (ofd >= 0) {
		ss->tfd = ofd;
		session_start_relay(ss, NULL, 0);  /* httpfwd_start */
		return;
	}
	cmd_connect(ss);
}

/* Parses the head in ss->in; fills r. Returns 1 when it is whole, 0 when
 * more is needed, -1 when the session was answered and closed. */
static int parse(struct session *ss, struct stp_http_req *r)
{
	int status;
	const char *why;
	ssize_t n = stp_http_req_get(ss->in, ss->inlen, r, &status, &why);

	if (n == 0)
		return 0;
	if (n < 0) {
		char body[200];
		snprintf(body, sizeof(body), "stp-serve: %s", why);
		http_fail(ss, status, status == 407 ? "Proxy-Authenticate: Basic realm=\"stp\"\r\n"
			  : NULL, body, why);
		return -1;
	}
	snprintf(ss->http_method, sizeof(ss->http_method), "%s", r->method);
	return 1;
}

static void http_after_auth(void *arg, bool ok)
{
	struct session *ss = arg;
	struct stp_http_req *r;

	ss->auth = NULL;
	ss->authenticated = ok;
	if (!ok) {
		ss->srv->stats.auth_failures++;
		bool blocked = ss->login_blocked;
		stp_log(&ss->srv->cfg.log, STP_LOG_INFO, "HTTP: %s for user '%s'",
			blocked ? "login refused (address blocked)" : "authentication failed",
			ss->user);
		http_fail(ss, 407, "Proxy-Authenticate: Basic realm=\"stp\"\r\n",
			  blocked ? "stp-serve: too many failed logins from this address"
				  : "stp-serve: credentials rejected",
			  blocked ? "blocked" : "authentication failed");
		return;
	}
	/* the head is still in ss->in: read again, now authenticated */
	if (!(r = malloc(sizeof(*r)))) {
		http_fail(ss, 502, NULL, "stp-serve: out of memory", "out of memory");
		return;
	}
	ss->state = S_HTTP;
	if (parse(ss, r) == 1)
		http_request(ss, r);
	OPENSSL_cleanse(r, sizeof(*r));
	free(r);
}

/* A PROXY protocol header (v1 or v2) from an address not listed in
 * --proxy-protocol is neither SOCKS nor HTTP: a forgery, or a balancer
 * that is not configured. Returns 1 when ss->in starts with one, 0 when it
 * cannot (it is an HTTP request then), -1 when too few bytes tell. */
static int proxy_header(const struct session *ss)
{
	static const uint8_t v2[12] = "\r\n\r\n\0\r\nQUIT\n";
	static const uint8_t v1[6] = "PROXY ";
	const uint8_t *sig = ss->in[0] == v1[0] ? v1 : v2;
	size_t n = sig == v1 ? sizeof(v1) : sizeof(v2);
	size_t have = ss->inlen < n ? ss->inlen : n;

	if (memcmp(ss->in, sig, have) != 0)
		return 0;
	return have == n ? 1 : -1;
}

int http_step(struct session *ss)
{
	struct stp_http_req *r;
	int k;

	switch (proxy_header(ss)) {
	case 1:
		/* closed as before HTTP was served: never trusted, never answered */
		ss->http = false;
		session_fail(ss, NULL, 0, "not SOCKS");
		return 1;
	case -1:
		return 1;
	}

	/* the head is parsed again from its start only when a line has ended
	 * since the last look (or the buffer is full): a head trickled in
	 * byte by byte costs one scan per line, not one per byte */
	if (ss->inlen < STP_HTTP_HEAD_MAX && ss->http_seen <= ss->inlen &&
	    !memchr(ss->in + ss->http_seen, '\n', ss->inlen - ss->http_seen)) {
		ss->http_seen = (uint16_t)ss->inlen;
		return 1;
	}
	ss->http_seen = (uint16_t)ss->inlen;
	/* ~2 KiB of offsets and credentials: off the loop's stack frame */
	r = malloc(sizeof(*r));
	if (!r) {
		http_fail(ss, 502, NULL, "stp-serve: out of memory", "out of memory");
		return 1;
	}
	k = parse(ss, r);
	if (k == 1)
		http_request(ss, r);  /* may end ss */
	OPENSSL_cleanse(r, sizeof(*r));
	free(r);
	return 1;
}
