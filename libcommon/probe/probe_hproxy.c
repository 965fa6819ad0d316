/* probe_hproxy.c - stp-probe on an HTTP proxy (probe_hproxy.h).
 *
 * Every check opens its own connection (through the -x chain, and TLS for
 * https://, as probe_open does), sends one request and reads the answer
 * with the same http-parser codec the clients use (proto/httpconn.h). The
 * CONNECT and GET go to the probe's own target listener where there is
 * one, so that "the proxy said 200" is checked against "the target saw a
 * connection". */
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/evloop.h"
#include "core/sock.h"
#include "probe/probe_hproxy.h"
#include "proto/addr.h"
#include "proto/hint.h"
#include "proto/httpconn.h"

/* What came back for one request. */
enum hx { HX_ANSWER, HX_CLOSED, HX_TIMEOUT, HX_NOTHTTP };

/* Sends req[0..n) on io and reads the answer into r until it can be
 * judged (httpconn.h) or deadline. Bytes that are not HTTP stay in io. */
static enum hx exchange(struct pio *io, const void *req, size_t n, struct stp_http_resp *r,
			uint64_t deadline)
{
	stp_http_resp_init(r);
	if (pio_write(io, req, n, deadline) < 0)
		return HX_CLOSED;
	for (;;) {
		if (io->inlen) {
			ssize_t k = stp_http_resp_feed(r, io->in, io->inlen);
			if (k < 0)
				return HX_NOTHTTP;
			pio_eat(io, (size_t)k);
			if (stp_http_resp_ready(r))
				return HX_ANSWER;
		}
		if (io->inlen == sizeof(io->in))
			return HX_NOTHTTP;
		int rc = pio_fill(io, io->inlen + 1, deadline);
		if (rc != 0) {
			if (r->headers_done)
				return HX_ANSWER;  /* a refusal whose body ended early */
			return rc < 0 && errno == ETIMEDOUT ? HX_TIMEOUT : HX_CLOSED;
		}
	}
}

/* Whether an answer to CONNECT comes from a proxy rather than a web
 * server: a proxy says yes, asks for credentials, names itself in its
 * headers, or refuses the target; a web server does not know the method
 * (501, 405) or the request (400, 404). */
static bool proxy_answer(const struct stp_http_resp *r)
{
	if (r->status / 100 == 2 || r->status == 407 || r->auth[0] || r->squid_err[0])
		return true;
	return r->status != 400 && r->status != 404 && r->status != 405 && r->status != 501;
}

/* "Proxy-Authorization: Basic ...\r\n" for the URL's credentials into
 * buf, or "" without any. */
static const char *basic_header(const struct stp_proxy *px, char *buf, size_t cap)
{
	char cred[520];
	unsigned char b64[720];
	int n;

	buf[0] = '\0';
	if (!px->has_user)
		return buf;
	n = snprintf(cred, sizeof(cred), "%s:%s", px->user, px->has_pass ? px->pass : "");
	if (n > 0 && (size_t)n < sizeof(cred)) {
		EVP_EncodeBlock(b64, (const unsigned char *)cred, n);
		snprintf(buf, cap, "Proxy-Authorization: Basic %s\r\n", (char *)b64);
	}
	OPENSSL_cleanse(cred, sizeof(cred));
	OPENSSL_cleanse(b64, sizeof(b64));
	return buf;
}

/* One CONNECT to the target, with the URL's credentials when creds.
 * Returns what came back (r filled), *ms the time from request to answer;
 * a failure to open is HX_CLOSED with e set. */
static enum hx connect_once(struct probe *p, bool creds, struct stp_http_resp *r, double *ms,
			    struct pio *io, struct stp_err *e)
{
	const struct stp_proxy *px = &p->cfg->proxy;
	uint8_t req[1400];
	double cms;
	size_t n = stp_http_connect_put(req, sizeof(req), &p->target,
					creds && px->has_user ? px->user : NULL,
					px->has_pass ? px->pass : "");

	e->code = 0;
	memset(io, 0, sizeof(*io));
	if (!n || probe_open(p, io, &cms, e) < 0) {
		io->c = NULL;
		OPENSSL_cleanse(req, sizeof(req));
		if (!e->code)
			stp_err_set(e, STP_EXIT_USAGE, "cannot encode CONNECT");
		memset(r, 0, sizeof(*r));
		return HX_CLOSED;
	}
	double t0 = probe_now();
	enum hx x = exchange(io, req, n, r, stp_clock_ms() + (uint64_t)p->tmo);
	OPENSSL_cleanse(req, sizeof(req));
	*ms = probe_now() - t0;
	return x;
}

/* detect for an answer that is not HTTP (or none): a TLS listener, an SSH
 * server, or, asked again in SOCKS5, a SOCKS server. */
static void detect_other(struct probe *p, struct pio *io, enum hx x, json_t *d)
{
	struct { char line[300]; } h;
	char hp[STP_HOSTPORT_MAX + 10];
	snprintf(hp, sizeof(hp), "%s", p->ph);

	if (io->inlen) {
		enum stp_answer k = stp_answer_kind(io->in, io->inlen);
		if (k == STP_ANS_TLS && !p->cfg->proxy.tls) {
			snprintf(p->rep->detected, sizeof(p->rep->detected), "tls");
			probe_result(p, PC_DETECT, PS_FAIL, STP_EXIT_PROTO, d, "not an HTTP proxy: a "
				     "TLS listener (it sent a TLS alert); use https://%s", hp);
			return;
		}
		if (k == STP_ANS_SOCKS5 || k == STP_ANS_SOCKS4) {
			snprintf(p->rep->detected, sizeof(p->rep->detected), "%s",
				 k == STP_ANS_SOCKS5 ? "socks5" : "socks4");
			probe_result(p, PC_DETECT, PS_FAIL, STP_EXIT_PROTO, d, "not an HTTP proxy: a "
				     "SOCKS%d server; use %s://%s", k == STP_ANS_SOCKS5 ? 5 : 4,
				     k == STP_ANS_SOCKS5 ? "socks5h" : "socks4a", hp);
			return;
		}
		stp_answer_hint(k, io->in, io->inlen, hp, h.line, sizeof(h.line));
		snprintf(p->rep->detected, sizeof(p->rep->detected), "unknown");
		probe_result(p, PC_DETECT, PS_FAIL, STP_EXIT_PROTO, d, "not an HTTP proxy: %s", h.line);
		return;
	}
	/* closed or silent on CONNECT: a SOCKS server closes on a first byte
	 * that is not its version; ask it in SOCKS5 on a new connection */
	struct pio s;
	struct stp_err e = { 0, "" };
	double ms;
	static const uint8_t g[] = { 5, 1, STP_METHOD_NONE };
	if (probe_open(p, &s, &ms, &e) == 0) {
		uint64_t dl = stp_clock_ms() + (uint64_t)p->short_ms;
		bool socks = pio_write(&s, g, sizeof(g), dl) == 0 && pio_fill(&s, 2, dl) == 0 &&
			     s.in[0] == 5;
		probe_close(&s);
		if (socks) {
			snprintf(p->rep->detected, sizeof(p->rep->detected), "socks5");
			probe_result(p, PC_DETECT, PS_FAIL, STP_EXIT_PROTO, d, "not an HTTP proxy: a "
				     "SOCKS5 server (it %s CONNECT, and answers a SOCKS5 greeting); use "
				     "socks5h://%s", x == HX_TIMEOUT ? "did not answer" : "closed on",
				     hp);
			return;
		}
	}
	/* a TLS listener waits for a whole record, or drops the bytes */
	if (!p->cfg->proxy.tls && probe_speaks_tls(p)) {
		snprintf(p->rep->detected, sizeof(p->rep->detected), "tls");
		probe_result(p, PC_DETECT, PS_FAIL, STP_EXIT_PROTO, d, "not an HTTP proxy: a TLS "
			     "listener (it completes a TLS handshake); use https://%s", hp);
		return;
	}
	snprintf(p->rep->detected, sizeof(p->rep->detected), "unknown");
	if (x == HX_TIMEOUT)
		probe_result(p, PC_DETECT, PS_FAIL, STP_EXIT_PROTO, d, "not an HTTP proxy: silence, "
			     "no answer to CONNECT within %.1f s", (double)p->tmo / 1000);
	else
		probe_result(p, PC_DETECT, PS_FAIL, STP_EXIT_PROTO, d, "not an HTTP proxy: it closed "
			     "the connection on CONNECT without an answer");
}

/* The exit code of a refusal (SPEC 2.3), as the clients map it. */
static int refusal_code(const struct stp_http_resp *r)
{
	uint8_t rep = stp_http_resp_rep(r);

	if (r->status == 407)
		return STP_EXIT_AUTH;
	return rep == STP_REP_CMD_UNSUPPORTED ? STP_EXIT_UNSUPPORTED : STP_EXIT_REPLY + rep;
}

/* The connect check from the answer r to CONNECT (2xx: the target must
 * have seen the connection, when it is ours). Returns true for a tunnel. */
static bool judge_connect(struct probe *p, const struct stp_http_resp *r, double ms, bool creds)
{
	json_t *d = json_object();
	char tn[STP_HOSTPORT_MAX];

	stp_addr_str(&p->target, tn, sizeof(tn));
	json_object_set_new(d, "status", json_integer(r->status));
	json_object_set_new(d, "answer_ms", json_real(ms));
	json_object_set_new(d, "credentials", json_boolean(creds));
	if (r->status / 100 != 2) {
		const char *why = stp_http_resp_why(r);
		probe_result(p, PC_CONNECT, PS_FAIL, refusal_code(r), d, "CONNECT %s: %s%s%s%s", tn,
			     r->line, why[0] ? " (" : "", why, why[0] ? ")" : "");
		return false;
	}
	if (p->own_target) {
		int fd = probe_target_accept(p, p->short_ms);
		if (fd < 0) {
			probe_result(p, PC_CONNECT, PS_FAIL, STP_EXIT_REPLY + STP_REP_FAIL, d,
				     "CONNECT %s: %s, but the target saw no connection", tn, r->line);
			return false;
		}
		close(fd);
	}
	probe_result(p, PC_CONNECT, PS_OK, 0, d, "CONNECT %s%s: %s in %.1f ms%s", tn,
		     creds ? " with credentials" : "", r->line, ms,
		     p->own_target ? "; the target saw the connection" : "");
	return true;
}

/* Serves one request on the probe's target: reads it (up to its empty
 * line) and answers 200 with a short body. Returns 0 or -1. */
static int serve_target(struct probe *p)
{
	static const char ans[] = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n"
				  "Content-Type: text/plain\r\n\r\nstp-probe\n";
	char buf[4096];
	size_t have = 0;
	uint64_t dl = stp_clock_ms() + (uint64_t)p->short_ms;
	int fd = probe_target_accept(p, p->short_ms), rc = -1;

	if (fd < 0)
		return -1;
	while (have < sizeof(buf) - 1) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		if (poll(&pfd, 1, stp_ms_left(dl)) <= 0)
			break;
		ssize_t k = read(fd, buf + have, sizeof(buf) - 1 - have);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		have += (size_t)k;
		buf[have] = '\0';
		if (strstr(buf, "\r\n\r\n")) {
			rc = stp_write_all(fd, ans, sizeof(ans) - 1, dl);
			break;
		}
	}
	close(fd);
	return rc;
}

/* The absolute-form GET of the probe's target (http check). */
static void check_get(struct probe *p)
{
	const struct stp_proxy *px = &p->cfg->proxy;
	char tn[STP_HOSTPORT_MAX], auth[760], req[1500];
	struct stp_http_resp r;
	struct stp_err e = { 0, "" };
	struct pio io;
	json_t *d = json_object();
	double ms;
	int n;

	stp_addr_str(&p->target, tn, sizeof(tn));
	n = snprintf(req, sizeof(req), "GET http://%s/stp-probe HTTP/1.1\r\nHost: %s\r\n%s"
		     "User-Agent: stp-probe\r\nConnection: close\r\n\r\n", tn, tn,
		     basic_header(px, auth, sizeof(auth)));
	OPENSSL_cleanse(auth, sizeof(auth));
	if (n < 0 || (size_t)n >= sizeof(req) || probe_open(p, &io, &ms, &e) < 0) {
		OPENSSL_cleanse(req, sizeof(req));
		probe_result(p, PC_HTTP, PS_WARN, 0, d, "absolute-form GET: %s",
			     e.msg[0] ? e.msg : "request too long");
		return;
	}
	uint64_t dl = stp_clock_ms() + (uint64_t)p->tmo;
	double t0 = probe_now();
	int wr = pio_write(&io, req, (size_t)n, dl);
	OPENSSL_cleanse(req, sizeof(req));
	bool served = wr == 0 && p->own_target && serve_target(p) == 0;
	enum hx x = wr < 0 ? HX_CLOSED : exchange(&io, "", 0, &r, dl);
	double dt = probe_now() - t0;
	probe_close(&io);
	json_object_set_new(d, "url", json_string(tn));
	json_object_set_new(d, "total_ms", json_real(dt));
	if (x != HX_ANSWER) {
		probe_result(p, PC_HTTP, PS_WARN, 0, d, "absolute-form GET http://%s/: %s", tn,
			     x == HX_TIMEOUT ? "no answer" : x == HX_NOTHTTP ? "not an HTTP answer" :
			     "closed without an answer");
		return;
	}
	json_object_set_new(d, "http_status", json_integer(r.status));
	bool ok = r.status == 200 && (served || !p->own_target);
	probe_result(p, PC_HTTP, ok ? PS_OK : PS_WARN, 0, d, "absolute-form GET http://%s/: %s "
		     "in %.1f ms%s", tn, r.line, dt, ok ? "" : " (plain HTTP requests may not be "
		     "allowed; CONNECT is what stp uses)");
}

static int cmp_ms(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* CONNECT tried -n times: min, median, p99 of connect + answer. */
static void check_latency(struct probe *p, bool creds)
{
	int n = p->cfg->tries > 0 ? p->cfg->tries : 10, ok = 0;
	double *t = calloc((size_t)n, sizeof(double));
	json_t *d = json_object();
	char why[300] = "";

	if (!t) {
		probe_result(p, PC_LATENCY, PS_WARN, 0, d, "out of memory");
		return;
	}
	for (int i = 0; i < n; i++) {
		struct stp_http_resp r;
		struct stp_err e = { 0, "" };
		struct pio io;
		double ms, t0 = probe_now();
		enum hx x = connect_once(p, creds, &r, &ms, &io, &e);
		double dt = probe_now() - t0;
		if (io.c)
			probe_close(&io);
		probe_target_drain(p);
		if (x == HX_ANSWER && r.status / 100 == 2)
			t[ok++] = dt;
		else if (!why[0])
			snprintf(why, sizeof(why), "%s", x == HX_ANSWER ? r.line :
				 e.msg[0] ? e.msg : "no answer");
	}
	json_object_set_new(d, "tries", json_integer(n));
	json_object_set_new(d, "succeeded", json_integer(ok));
	if (ok == 0) {
		free(t);
		probe_result(p, PC_LATENCY, PS_WARN, 0, d, "no try of %d succeeded (%s)", n, why);
		return;
	}
	qsort(t, (size_t)ok, sizeof(double), cmp_ms);
	double min = t[0], med = ok % 2 ? t[ok / 2] : (t[ok / 2 - 1] + t[ok / 2]) / 2;
	int k = (99 * ok + 99) / 100;
	double p99 = t[(k < 1 ? 1 : k) - 1];
	free(t);
	json_object_set_new(d, "min_ms", json_real(min));
	json_object_set_new(d, "median_ms", json_real(med));
	json_object_set_new(d, "p99_ms", json_real(p99));
	probe_result(p, PC_LATENCY, ok == n ? PS_OK : PS_WARN, 0, d, "connect+CONNECT: min %.1f ms, "
		     "median %.1f ms, p99 %.1f ms over %d tries%s%s", min, med, p99, ok,
		     ok == n ? "" : "; failures: ", ok == n ? "" : why);
}

void probe_http_proxy(struct probe *p)
{
	const struct stp_proxy *px = &p->cfg->proxy;
	struct stp_http_resp r;
	struct stp_err e = { 0, "" };
	struct pio io = { 0 };
	json_t *d = json_object();
	char sch[120];
	double ms;
	bool creds = false;

	/* detect, and CONNECT without credentials */
	enum hx x = connect_once(p, false, &r, &ms, &io, &e);
	if (x == HX_CLOSED && !io.c) {
		probe_result(p, PC_DETECT, PS_FAIL, e.code ? e.code : STP_EXIT_REACH, d, "%s", e.msg);
		return;
	}
	if (x != HX_ANSWER) {
		detect_other(p, &io, x, d);
		probe_close(&io);
		return;
	}
	probe_close(&io);
	json_object_set_new(d, "answer", json_string(r.line));
	snprintf(p->rep->detected, sizeof(p->rep->detected), "http");
	if (!proxy_answer(&r)) {
		probe_target_drain(p);
		probe_result(p, PC_DETECT, PS_FAIL, STP_EXIT_PROTO, d, "not a proxy: an HTTP server "
			     "(it answered CONNECT with '%s')", r.line);
		return;
	}
	probe_result(p, PC_DETECT, PS_OK, 0, d, "an HTTP proxy (it answered CONNECT with '%s')",
		     r.line);

	/* auth: the 407 and its schemes, then the credentials */
	d = json_object();
	stp_http_resp_schemes(&r, sch, sizeof(sch));
	json_object_set_new(d, "schemes", json_string(sch));
	if (r.status == 407) {
		json_object_set_new(d, "required", json_true());
		if (!px->has_user) {
			probe_result(p, PC_AUTH, PS_FAIL, STP_EXIT_AUTH, d, "credentials needed (%s; it "
				     "offers %s); give -U USER or USER:PASSWORD@ in the URL", r.line,
				     sch[0] ? sch : "no scheme");
			return;
		}
		if (!stp_http_resp_offers_basic(&r)) {
			probe_result(p, PC_AUTH, PS_FAIL, STP_EXIT_AUTH, d, "credentials needed, by %s, "
				     "which stp does not speak (only Basic)", sch);
			return;
		}
		creds = true;
		x = connect_once(p, true, &r, &ms, &io, &e);
		if (io.c)
			probe_close(&io);
		if (x != HX_ANSWER) {
			probe_result(p, PC_AUTH, PS_FAIL, STP_EXIT_PROTO, d, "no answer to CONNECT with "
				     "credentials");
			return;
		}
		if (r.status == 407) {
			probe_result(p, PC_AUTH, PS_FAIL, STP_EXIT_AUTH, d, "credentials of user '%s' "
				     "rejected (%s)", px->user, r.line);
			return;
		}
		probe_result(p, PC_AUTH, PS_OK, 0, d, "credentials of user '%s' accepted (Basic; "
			     "it offers %s)", px->user, sch);
	} else {
		json_object_set_new(d, "required", json_false());
		probe_result(p, PC_AUTH, PS_SKIP, 0, d, "no credentials needed%s",
			     px->has_user ? " (those given are not sent)" : "");
	}
	if (!judge_connect(p, &r, ms, creds))
		return;
	check_get(p);
	check_latency(p, creds);
	if (p->cfg->url)
		probe_check_url(p);  /* https:// too: libcurl trusts --cacert for the proxy */
}
