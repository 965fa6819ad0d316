/* probe.c - stp-probe's checks (SPEC §3.7), in the order they print:
 * reach, tls, detect, methods, auth, connect, dns, ipv6, bind, bind-multi,
 * udp, resolve, resolve-ptr, features, latency, http, bandwidth. Each
 * check opens its own connections with its own deadlines and leaves one
 * result; a failure that makes the rest meaningless (unreachable, not
 * SOCKS, no usable method) ends the run there.
 *
 * The target: --target, or a listener of our own on the address we used
 * to reach the proxy (so the proxy can reach it back); connections it
 * receives are accepted, checked and closed by the checks themselves. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <openssl/rand.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/addr.h"
#include "core/evloop.h"
#include "probe/probe_io.h"
#include "proto/gssmsg.h"
#include "client/gssstream.h"
#include "client/gssudp.h"
#include "probe/probe_hproxy.h"
#include "proto/hint.h"
#include "proto/scope.h"
#include "core/sock.h"
#include "core/tls.h"

#define PROBE_BANNER "stp-probe\n"

/* Records a result and hands it to the callback. A "--" for a check named
 * in --require becomes a FAIL (exit 7). data (may be NULL) is taken over. */
__attribute__((format(printf, 6, 7)))
static void result(struct probe *p, enum stp_probe_check c, enum stp_probe_status st, int code,
		   json_t *data, const char *fmt, ...)
{
	struct stp_probe_report *rep = p->rep;
	struct stp_probe_result *r;
	va_list ap;

	if (rep->nresults == (int)(sizeof(rep->results) / sizeof(rep->results[0]))) {
		json_decref(data);
		return;
	}
	r = &rep->results[rep->nresults++];
	memset(r, 0, sizeof(*r));
	r->check = c;
	r->data = data ? data : json_object();
	va_start(ap, fmt);
	vsnprintf(r->detail, sizeof(r->detail), fmt, ap);
	va_end(ap);
	/* peers' bytes end up in details: keep them printable, one line */
	for (char *q = r->detail; *q; q++)
		if ((unsigned char)*q < 0x20 || (unsigned char)*q > 0x7e)
			*q = '?';
	if (st == PS_SKIP && (p->cfg->require & (1u << c))) {
		st = PS_FAIL;
		code = STP_EXIT_UNSUPPORTED;
		size_t len = strlen(r->detail);
		snprintf(r->detail + len, sizeof(r->detail) - len, " (required)");
	}
	r->status = st;
	if (st == PS_FAIL) {
		r->exit_code = code ? code : STP_EXIT_FAIL;
		rep->nfailed++;
		if (!rep->exit_code)
			rep->exit_code = r->exit_code;
	}
	if (rep->on_result)
		rep->on_result(r, rep->arg);
}

void probe_result(struct probe *p, enum stp_probe_check c, enum stp_probe_status st, int code,
		  json_t *data, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	result(p, c, st, code, data, "%s", buf);
}

static json_t *obj(void)
{
	return json_object();
}

static void jset_ms(json_t *o, const char *k, double v)
{
	json_object_set_new(o, k, json_real((double)((long long)(v * 1000)) / 1000));
}

static void jset_str(json_t *o, const char *k, const char *v)
{
	json_t *s = json_string(v);

	json_object_set_new(o, k, s ? s : json_string("?"));
}

/* Accepts every connection waiting on our target listener and closes it. */
static void target_drain(struct probe *p)
{
	int fd;

	if (p->tfd < 0)
		return;
	while ((fd = accept4(p->tfd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
		close(fd);
}

/* Accepts one connection on our target listener within wait_ms. Returns
 * the fd (blocking), or -1. */
static int target_accept(struct probe *p, long wait_ms)
{
	struct pollfd pfd = { .fd = p->tfd, .events = POLLIN };
	int fd;

	if (p->tfd < 0 || poll(&pfd, 1, (int)wait_ms) <= 0)
		return -1;
	fd = accept4(p->tfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd >= 0) {
		stp_set_nonblock(fd, false);
		stp_set_nodelay(fd);
	}
	return fd;
}

int probe_target_accept(struct probe *p, long wait_ms)
{
	return target_accept(p, wait_ms);
}

void probe_target_drain(struct probe *p)
{
	target_drain(p);
}

/* A listener (TCP or UDP) on the address of sa with port 0. Returns the
 * fd or -1. */
static int listen_on(const struct sockaddr_storage *sa, int type)
{
	struct sockaddr_storage a = *sa;
	socklen_t len = a.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
		: sizeof(struct sockaddr_in);
	int fd = socket(a.ss_family, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -1;
	stp_sa_set_port(&a, 0);
	if (bind(fd, (struct sockaddr *)&a, len) < 0 ||
	    (type == SOCK_STREAM && listen(fd, 128) < 0)) {
		close(fd);
		return -1;
	}
	return fd;
}

static uint16_t local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return 0;
	return stp_sa_port((struct sockaddr *)&ss);
}

/* The proxy's address as a SOCKS address, for a BND of 0.0.0.0 (the
 * classic bug: the client must then use the address it reached). */
static void proxy_addr(const struct probe *p, struct stp_addr *a, uint16_t port)
{
	if (p->cfg->chain.nhops == 0 && stp_addr_from_sa(a, (const struct sockaddr *)&p->pa) == 0) {
		a->port = port;
		return;
	}
	stp_addr_from_host(a, p->cfg->proxy.host, port);
}

/* A relay address (BIND's first reply, UDP ASSOCIATE's relay) out of the
 * probe's reach: unspecified (the classic bug), or of a narrower scope than
 * the address the proxy was reached on (a private one behind NAT, where
 * the server should advertise its public address). *at becomes the
 * proxy's own address and note says why; d gets "relay_unreachable".
 * Returns true when *at was replaced. */
static bool relay_note(const struct probe *p, struct stp_addr *at, char *note, size_t cap,
		       json_t *d)
{
	struct stp_addr pa;
	bool direct = p->cfg->chain.nhops == 0 &&
		      stp_addr_from_sa(&pa, (const struct sockaddr *)&p->pa) == 0;
	const char *why = stp_relay_unroutable(at, direct ? &pa : NULL);
	char ph[STP_ADDRSTRLEN];

	if (!why)
		return false;
	json_object_set_new(d, "relay_unreachable", json_string(why));
	if (stp_addr_is_zero(at))
		snprintf(note, cap, " (0.0.0.0, the classic bug: the proxy's own address "
			 "is used instead)");
	else
		snprintf(note, cap, " (%s; proxy reached on %s: behind NAT? see stp-serve "
			 "--advertise; the proxy's address is used instead)", why,
			 stp_addr_host(&pa, ph, sizeof(ph)));
	proxy_addr(p, at, at->port);
	return true;
}

/* Connects to a (a literal address) within wait_ms. Returns fd or -1. */
static int dial_addr(const struct stp_addr *a, long wait_ms)
{
	struct sockaddr_storage ss;
	socklen_t len = stp_addr_to_sa(a, &ss);
	struct pollfd pfd;
	int fd;

	if (!len || (fd = stp_connect_start((struct sockaddr *)&ss, len)) < 0)
		return -1;
	pfd = (struct pollfd){ .fd = fd, .events = POLLOUT };
	if (poll(&pfd, 1, (int)wait_ms) != 1 || stp_connect_result(fd) != 0) {
		close(fd);
		return -1;
	}
	stp_set_nonblock(fd, false);
	return fd;
}

/* ------------------------------------------------------------------ reach */

static const char *errno_word(int err)
{
	switch (err) {
	case ECONNREFUSED: return "refused";
	case ETIMEDOUT: return "timed out";
	case ECONNRESET: return "reset";
	case ENETUNREACH: return "network unreachable";
	case EHOSTUNREACH: return "host unreachable";
	}
	return strerror(err);
}

static bool check_reach(struct probe *p)
{
	const struct stp_probe_cfg *cfg = p->cfg;
	json_t *d = obj(), *list = json_array();
	char detail[400] = "", one[120], host[STP_ADDRSTRLEN + 8];
	int nok = 0, nbad = 0;

	json_object_set_new(d, "addresses", list);
	if (cfg->chain.nhops > 0) {
		struct pio io;
		struct stp_err e = { 0, "" };
		double ms;
		p->raw = true;  /* TLS is the next check's */
		int rc = probe_open(p, &io, &ms, &e);
		p->raw = false;
		if (rc < 0) {
			result(p, PC_REACH, PS_FAIL, e.code, d, "%s", e.msg);
			return false;
		}
		p->lalen = sizeof(p->la);
		if (getsockname(io.c->fd, (struct sockaddr *)&p->la, &p->lalen) < 0)
			p->lalen = 0;
		probe_close(&io);
		jset_ms(d, "connect_ms", ms);
		result(p, PC_REACH, PS_OK, 0, d, "%s through %d prox%s: %.1f ms", p->ph,
		       cfg->chain.nhops, cfg->chain.nhops == 1 ? "y" : "ies", ms);
		return true;
	}
	struct addrinfo hints = { .ai_family = cfg->chain.family, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG };
	struct addrinfo *ai, *a;
	char port[8];
	int rc;

	snprintf(port, sizeof(port), "%u", cfg->proxy.port);
	rc = getaddrinfo(cfg->proxy.host, port, &hints, &ai);
	if (rc == EAI_NONAME || rc == EAI_ADDRFAMILY || rc == EAI_NODATA) {
		hints.ai_flags &= ~AI_ADDRCONFIG;
		rc = getaddrinfo(cfg->proxy.host, port, &hints, &ai);
	}
	if (rc != 0) {
		result(p, PC_REACH, PS_FAIL, STP_EXIT_REACH, d, "cannot resolve proxy %s: %s",
		       cfg->proxy.host, gai_strerror(rc));
		return false;
	}
	for (a = ai; a && nok + nbad < 8; a = a->ai_next) {
		uint64_t deadline = stp_clock_ms() + (uint64_t)p->tmo;
		double t0 = probe_now();
		int fd = stp_connect_start(a->ai_addr, a->ai_addrlen), err = 0;
		json_t *item = obj();
		stp_sa_str(a->ai_addr, host, sizeof(host));
		if (fd < 0) {
			err = errno;
		} else {
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };
			int k;
			while ((k = poll(&pfd, 1, stp_ms_left(deadline))) < 0 && errno == EINTR)
				;
			err = k == 0 ? ETIMEDOUT : k < 0 ? errno : stp_connect_result(fd);
		}
		double ms = probe_now() - t0;
		jset_str(item, "address", host);
		if (err == 0) {
			if (nok++ == 0) {
				memcpy(&p->pa, a->ai_addr, a->ai_addrlen);
				p->palen = a->ai_addrlen;
				p->lalen = sizeof(p->la);
				if (getsockname(fd, (struct sockaddr *)&p->la, &p->lalen) < 0)
					p->lalen = 0;
			}
			if (a->ai_family == AF_INET6)
				p->v6_reached = true;
			jset_str(item, "result", "ok");
			jset_ms(item, "connect_ms", ms);
			snprintf(one, sizeof(one), "%s%s %.1f ms", detail[0] ? ", " : "", host, ms);
		} else {
			nbad++;
			jset_str(item, "result", errno_word(err));
			snprintf(one, sizeof(one), "%s%s %s", detail[0] ? ", " : "", host, errno_word(err));
		}
		if (fd >= 0)
			close(fd);
		json_array_append_new(list, item);
		if (strlen(detail) + strlen(one) < sizeof(detail))
			strcat(detail, one);
	}
	freeaddrinfo(ai);
	if (nok == 0)
		result(p, PC_REACH, PS_FAIL, STP_EXIT_REACH, d, "cannot reach proxy: %s", detail);
	else
		result(p, PC_REACH, nbad ? PS_WARN : PS_OK, 0, d, "%s", detail);
	return nok > 0;
}

/* Our own target: a TCP listener on the address we reach the proxy from. */
static void setup_target(struct probe *p)
{
	const struct stp_probe_cfg *cfg = p->cfg;
	char host[256];
	uint16_t port;
	struct stp_err e = { 0, "" };

	p->tfd = -1;
	if (cfg->target && stp_hostport_split(cfg->target, host, sizeof(host), &port, -1, false,
					      &e) == 0 && stp_addr_from_host(&p->target, host, port) == 0)
		return;
	if (p->lalen == 0 || (p->tfd = listen_on(&p->la, SOCK_STREAM)) < 0) {
		/* nothing the proxy could reach: aim at its own loopback */
		stp_addr_from_host(&p->target, "127.0.0.1", 9);
		return;
	}
	p->own_target = true;
	stp_addr_from_sa(&p->target, (struct sockaddr *)&p->la);
	p->target.port = local_port(p->tfd);
}

/* -------------------------------------------------------------------- tls */

/* "Nov 30 12:00:00 2026 GMT" for an ASN1 time. */
static const char *asn1_time(const ASN1_TIME *t, char *buf, size_t cap)
{
	BIO *b = BIO_new(BIO_s_mem());
	int n = 0;

	buf[0] = '\0';
	if (b && t && ASN1_TIME_print(b, t) == 1 && (n = BIO_read(b, buf, (int)cap - 1)) > 0)
		buf[n] = '\0';
	BIO_free(b);
	return buf;
}

static bool check_tls(struct probe *p)
{
	const struct stp_probe_cfg *cfg = p->cfg;
	struct stp_err e = { 0, "" };
	struct pio io;
	json_t *d = obj();
	char desc[160], subj[256] = "?", iss[256] = "?", until[64] = "?", verify[160];
	double ms;

	if (!cfg->proxy.tls) {
		result(p, PC_TLS, PS_SKIP, 0, d, "not a TLS URL");
		return true;
	}
	if (!p->tls_ctx) {
		result(p, PC_TLS, PS_FAIL, p->tls_err.code ? p->tls_err.code : STP_EXIT_TLS, d, "%s",
		       p->tls_err.msg);
		return false;
	}
	double t0 = probe_now();
	if (probe_open(p, &io, &ms, &e) < 0) {
		result(p, PC_TLS, PS_FAIL, e.code == STP_EXIT_REACH ? STP_EXIT_REACH : STP_EXIT_TLS, d,
		       "%s", e.msg);
		return false;
	}
	double hs = probe_now() - t0 - ms;
	SSL *ssl = stp_conn_ssl(io.c);
	X509 *cert = SSL_get1_peer_certificate(ssl);
	long vr = SSL_get_verify_result(ssl);
	stp_tls_describe(ssl, desc, sizeof(desc));
	if (cert) {
		X509_NAME_oneline(X509_get_subject_name(cert), subj, sizeof(subj));
		X509_NAME_oneline(X509_get_issuer_name(cert), iss, sizeof(iss));
		asn1_time(X509_get0_notAfter(cert), until, sizeof(until));
		X509_free(cert);
	}
	bool verified = !cfg->chain.tls.insecure && vr == X509_V_OK;
	snprintf(verify, sizeof(verify), "%s", cfg->chain.tls.insecure ?
		 "NOT verified (--insecure)" : X509_verify_cert_error_string(vr));
	jset_str(d, "version", SSL_get_version(ssl));
	jset_str(d, "cipher", SSL_get_cipher_name(ssl));
	probe_close(&io);  /* frees ssl */
	jset_str(d, "subject", subj);
	jset_str(d, "issuer", iss);
	jset_str(d, "not_after", until);
	jset_str(d, "verification", verify);
	json_object_set_new(d, "verified", json_boolean(verified));
	jset_ms(d, "handshake_ms", hs);
	result(p, PC_TLS, verified ? PS_OK : PS_WARN, 0, d, "%s in %.1f ms; subject %s, issuer %s, "
	       "valid until %s; verification: %s", desc, hs, subj, iss, until, verify);
	return true;
}

/* ----------------------------------------------------------------- detect */

/* SOCKS4 and SOCKS4a on a SOCKS5 server: "yes", "no (...)". */
static void socks4_versions(struct probe *p, json_t *d, char *out, size_t cap)
{
	struct stp_addr dst = p->target, named;
	struct s5 s;
	struct stp_err e = { 0, "" };
	uint8_t cd;
	char why[80], h[STP_ADDRSTRLEN];
	enum pio_outcome o;
	const char *v4, *v4a;
	char b4[100], b4a[100];

	if (dst.atyp != STP_ATYP_IPV4) {
		out[0] = '\0';
		return;
	}
	o = s4_request(p, &s, STP4_CONNECT, &dst, p->short_ms, &cd, &e);
	probe_close(&s.io);
	target_drain(p);
	/* a refusal shows that SOCKS4 is spoken, not that it can be used */
	if (o == PO_REPLY && cd != STP4_GRANTED)
		snprintf(b4, sizeof(b4), "refused (%u)", cd);
	else
		snprintf(b4, sizeof(b4), "%s", o == PO_REPLY ? "yes"
			 : outcome_str(o, 0, p->short_ms, why, sizeof(why)));
	v4 = b4;
	json_object_set_new(d, "socks4", json_boolean(o == PO_REPLY));
	stp_addr_from_host(&named, stp_addr_host(&dst, h, sizeof(h)), dst.port);
	named.atyp = STP_ATYP_NAME;
	named.namelen = (uint8_t)strlen(h);
	memcpy(named.u.name, h, named.namelen + 1);
	o = s4_request(p, &s, STP4_CONNECT, &named, p->short_ms, &cd, &e);
	probe_close(&s.io);
	target_drain(p);
	if (o == PO_REPLY && cd != STP4_GRANTED)
		snprintf(b4a, sizeof(b4a), "refused (%u)", cd);
	else
		snprintf(b4a, sizeof(b4a), "%s", o == PO_REPLY ? "yes"
			 : outcome_str(o, 0, p->short_ms, why, sizeof(why)));
	v4a = b4a;
	json_object_set_new(d, "socks4a", json_boolean(o == PO_REPLY && cd == STP4_GRANTED));
	snprintf(out, cap, "; SOCKS4: %s, SOCKS4a: %s", v4, v4a);
}

/* Does the port complete a TLS handshake (certificate not checked)? */
static bool speaks_tls(struct probe *p)
{
	struct stp_tls_client_cfg any = { .insecure = true };
	struct stp_err e = { 0, "" };
	struct pio io;
	SSL_CTX *ctx = stp_tls_client_ctx(&any, &e);
	bool yes = false;

	if (!ctx)
		return false;
	if (probe_open(p, &io, NULL, &e) == 0) {
		stp_set_nonblock(io.c->fd, true);  /* for the handshake's deadline */
		SSL *ssl = stp_tls_connect(ctx, io.c->fd, stp_conn_ssl(io.c), p->cfg->proxy.host,
					   stp_clock_ms() + (uint64_t)p->short_ms, &e);
		yes = ssl != NULL;
		SSL_free(ssl);
		probe_close(&io);
	}
	SSL_CTX_free(ctx);
	return yes;
}

bool probe_speaks_tls(struct probe *p)
{
	return speaks_tls(p);
}

/* Reports a server that spoke first, with its first line. */
static void speaks_first(struct probe *p, json_t *d, const char *line)
{
	bool ssh = strncmp(line, "SSH-", 4) == 0;

	snprintf(p->rep->detected, sizeof(p->rep->detected), "unknown");
	jset_str(d, "banner", line);
	result(p, PC_DETECT, PS_FAIL, STP_EXIT_PROTO, d, "not SOCKS: %s that speaks first "
	       "('%s')", ssh ? "an SSH server" : "a server", line);
}

static bool check_detect(struct probe *p)
{
	struct pio io;
	struct stp_err e = { 0, "" };
	json_t *d = obj();
	double ms;
	char line[80], extra[240];
	long wait;
	int r;

	if (probe_open(p, &io, &ms, &e) < 0) {
		result(p, PC_DETECT, PS_FAIL, e.code, d, "%s", e.msg);
		return false;
	}
	/* a server that speaks first (an SSH or mail server) shows itself now */
	wait = (long)(ms * 4) + 150;
	if (wait > p->tmo)
		wait = p->tmo;
	r = io.inlen ? 0 : pio_fill(&io, 1, stp_clock_ms() + (uint64_t)wait);
	if (r == 0 && io.inlen) {
		pio_fill(&io, sizeof(io.in) / 2, stp_clock_ms() + 100);  /* the rest of the line */
		stp_first_line(io.in, io.inlen, line, sizeof(line));
		probe_close(&io);
		speaks_first(p, d, line);
		return false;
	}
	if (p->socks4) {
		struct s5 s;
		uint8_t cd;
		probe_close(&io);
		enum pio_outcome o = s4_request(p, &s, STP4_CONNECT, &p->target, p->tmo, &cd, &e);
		probe_close(&s.io);
		target_drain(p);
		if (o == PO_REPLY) {
			snprintf(p->rep->detected, sizeof(p->rep->detected), "socks4");
			result(p, PC_DETECT, PS_OK, 0, d, "SOCKS4 (reply %u)", cd);
			return true;
		}
		snprintf(p->rep->detected, sizeof(p->rep->detected), "unknown");
		result(p, PC_DETECT, PS_FAIL, STP_EXIT_PROTO, d, "no SOCKS4 answer: %s",
		       outcome_str(o, 0, p->tmo, line, sizeof(line)));
		return false;
	}
	/* a SOCKS5 greeting whose last method byte is '\n': a SOCKS5 server
	 * ignores the unknown method X'0A', a line-based server (HTTP) sees a
	 * complete line and answers it */
	uint8_t g[] = { 5, 3, STP_METHOD_NONE, STP_METHOD_USERPASS, '\n' };
	uint64_t deadline = stp_clock_ms() + (uint64_t)p->tmo;
	if (pio_write(&io, g, sizeof(g), deadline) < 0) {
		probe_close(&io);
		result(p, PC_DETECT, PS_FAIL, STP_EXIT_PROTO, d, "closed the connection at once");
		return false;
	}
	r = pio_fill(&io, 2, deadline);
	if (r == 0 && io.in[0] == 5) {
		probe_close(&io);
		snprintf(p->rep->detected, sizeof(p->rep->detected), "socks5");
		socks4_versions(p, d, extra, sizeof(extra));
		result(p, PC_DETECT, PS_OK, 0, d, "SOCKS5%s", extra);
		return true;
	}
	if ((r < 0 && errno == ETIMEDOUT) || io.inlen == 0) {
		bool silent = r < 0 && errno == ETIMEDOUT;
		probe_close(&io);
		/* a TLS listener waits for a whole record, or drops the bytes */
		if (!p->cfg->proxy.tls && speaks_tls(p)) {
			snprintf(p->rep->detected, sizeof(p->rep->detected), "tls");
			result(p, PC_DETECT, PS_FAIL, STP_EXIT_PROTO, d, "not SOCKS: a TLS listener "
			       "(it completes a TLS handshake); use socks5s:// or socks5hs://");
			return false;
		}
		snprintf(p->rep->detected, sizeof(p->rep->detected), "unknown");
		if (silent)
			result(p, PC_DETECT, PS_FAIL, STP_EXIT_PROTO, d, "not SOCKS: silence, no answer "
			       "within %.1f s", (double)p->tmo / 1000);
		else
			result(p, PC_DETECT, PS_FAIL, STP_EXIT_PROTO, d, "not SOCKS5: it closed the "
			       "connection on a SOCKS5 greeting");
		return false;
	}
	pio_fill(&io, sizeof(io.in) / 2, stp_clock_ms() + 100);
	stp_first_line(io.in, io.inlen, line, sizeof(line));
	jset_str(d, "answer", line);
	/* the classification every client uses too (proto/hint.h) */
	enum stp_answer kind = stp_answer_kind(io.in, io.inlen);
	if (kind == STP_ANS_TLS) {
		snprintf(p->rep->detected, sizeof(p->rep->detected), "tls");
		result(p, PC_DETECT, PS_FAIL, STP_EXIT_PROTO, d, "not SOCKS: a TLS listener (it sent "
		       "a TLS alert); use socks5s:// or socks5hs://");
	} else if (kind == STP_ANS_SSH) {
		/* its banner came after the wait above (a busy host): the same */
		speaks_first(p, d, line);
	} else if (kind == STP_ANS_HTTP || kind == STP_ANS_HTTP_PROXY) {
		snprintf(p->rep->detected, sizeof(p->rep->detected), "http");
		result(p, PC_DETECT, PS_FAIL, STP_EXIT_PROTO, d, "not SOCKS: an HTTP %s "
		       "(it answered '%s')%s", kind == STP_ANS_HTTP ? "server" : "proxy", line,
		       kind == STP_ANS_HTTP ? "" : "; use http://");
	} else if (kind == STP_ANS_SOCKS4) {
		snprintf(p->rep->detected, sizeof(p->rep->detected), "socks4");
		result(p, PC_DETECT, PS_FAIL, STP_EXIT_PROTO, d, "a SOCKS4 server, not SOCKS5: use "
		       "socks4:// or socks4a://");
	} else {
		snprintf(p->rep->detected, sizeof(p->rep->detected), "unknown");
		result(p, PC_DETECT, PS_FAIL, STP_EXIT_PROTO, d, "not SOCKS: it answered "
		       "%02x %02x ('%s')", io.in[0], io.inlen > 1 ? io.in[1] : 0, line);
	}
	probe_close(&io);
	return false;
}

/* ---------------------------------------------------------------- methods */

/* The method chosen for one offered set: 0..255, -1 closed, -2 timeout. */
static int offer(struct probe *p, const uint8_t *m, size_t n)
{
	struct pio io;
	struct stp_err e = { 0, "" };
	uint8_t b[STP_REPLY_MAX];
	size_t len = stp5_greeting_put(b, sizeof(b), m, n);
	uint64_t deadline = stp_clock_ms() + (uint64_t)p->short_ms;
	int r, sel;

	if (probe_open(p, &io, NULL, &e) < 0)
		return -1;
	if (pio_write(&io, b, len, deadline) < 0) {
		probe_close(&io);
		return -1;
	}
	r = pio_fill(&io, 2, deadline);
	sel = r == 0 && io.in[0] == 5 ? io.in[1] : r < 0 && errno == ETIMEDOUT ? -2 : -1;
	probe_close(&io);
	return sel;
}

/* Does the proxy take a made-up user and password? */
static bool takes_any_password(struct probe *p)
{
	struct pio io;
	struct stp_err e = { 0, "" };
	uint8_t b[600], rnd[8], m = STP_METHOD_USERPASS, st;
	char user[32], pass[32];
	uint64_t deadline = stp_clock_ms() + (uint64_t)p->short_ms;
	bool any = false;

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		memset(rnd, 0x5a, sizeof(rnd));
	snprintf(user, sizeof(user), "stp-probe-%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3]);
	snprintf(pass, sizeof(pass), "x-%02x%02x%02x%02x", rnd[4], rnd[5], rnd[6], rnd[7]);
	if (probe_open(p, &io, NULL, &e) < 0)
		return false;
	size_t n = stp5_greeting_put(b, sizeof(b), &m, 1);
	if (pio_write(&io, b, n, deadline) == 0 && pio_fill(&io, 2, deadline) == 0 &&
	    io.in[1] == STP_METHOD_USERPASS) {
		pio_eat(&io, 2);
		n = stp_userpass_put(b, sizeof(b), user, pass);
		if (pio_write(&io, b, n, deadline) == 0 && pio_fill(&io, 2, deadline) == 0 &&
		    stp_userpass_status_get(io.in, io.inlen, &st) == 2 && st == 0)
			any = true;
	}
	probe_close(&io);
	return any;
}

static bool check_methods(struct probe *p)
{
	static const struct { const char *key; uint8_t m[2]; size_t n; } sets[] = {
		{ "00", { STP_METHOD_NONE }, 1 },
		{ "02", { STP_METHOD_USERPASS }, 1 },
		{ "00,02", { STP_METHOD_NONE, STP_METHOD_USERPASS }, 2 },
		{ "01", { STP_METHOD_GSSAPI }, 1 },
	};
	int sel[4];
	char detail[PROBE_DETAIL_MAX] = "", one[40];
	json_t *methods = obj();

	if (p->socks4) {
		result(p, PC_METHODS, PS_SKIP, 0, NULL, "SOCKS4 has no authentication methods");
		return true;
	}
	for (size_t i = 0; i < 4; i++) {
		sel[i] = offer(p, sets[i].m, sets[i].n);
		if (sel[i] >= 0)
			snprintf(one, sizeof(one), "%02X", sel[i]);
		else
			snprintf(one, sizeof(one), "%s", sel[i] == -2 ? "timeout" : "closed");
		jset_str(methods, sets[i].key, one);
		size_t len = strlen(detail);
		snprintf(detail + len, sizeof(detail) - len, "%s{%s}->%s", len ? " " : "",
			 sets[i].key, one);
	}
	json_decref(p->rep->methods);
	p->rep->methods = methods;
	bool none = sel[0] == STP_METHOD_NONE || sel[2] == STP_METHOD_NONE;
	bool up = sel[1] == STP_METHOD_USERPASS || sel[2] == STP_METHOD_USERPASS;
	bool gss = sel[3] == STP_METHOD_GSSAPI;
	p->needs_auth = !none && up;
	p->auth = p->cfg->proxy.has_user && (sel[2] == STP_METHOD_USERPASS || !none);
	json_t *d = obj();
	json_object_set_new(d, "no_auth", json_boolean(none));
	json_object_set_new(d, "userpass", json_boolean(up));
	json_object_set_new(d, "gssapi", json_boolean(gss));
	if (!none && !up && !(gss && p->cfg->proxy.gssapi)) {
		result(p, PC_METHODS, PS_FAIL, STP_EXIT_AUTH, d, "no method stp can use%s: %s",
		       gss ? " (only GSS-API: give --gssapi)" : "", detail);
		return false;
	}
	bool any = up && takes_any_password(p);
	json_object_set_new(d, "accepts_any_password", json_boolean(any));
	if (any) {
		result(p, PC_METHODS, PS_WARN, 0, d, "it accepts any user name and password: "
		       "user/pass is decoration here; %s", detail);
		return true;
	}
	result(p, PC_METHODS, PS_OK, 0, d, "no-auth %s, user/pass %s, GSS-API %s; %s",
	       none ? "yes" : "no", up ? "yes" : "no", gss ? "yes" : "no", detail);
	return true;
}

/* ------------------------------------------------------------------- auth */

/* --gssapi: a whole GSS-API authentication (RFC 1961), reported with the
 * principal the proxy accepted and the protection level it granted. */
static bool check_auth_gss(struct probe *p, json_t *d)
{
	struct s5 s;
	struct stp_err e = { 0, "" };

	if (s5_hello(p, &s, &e) < 0) {
		result(p, PC_AUTH, PS_FAIL, e.code, d, "GSS-API: %s", e.msg);
		return false;
	}
	const struct stp_conn *c = s.io.c;
	const char *lv = stp_gss_level_name(c->gss_level);
	char principal[sizeof(c->gss_principal)];
	snprintf(principal, sizeof(principal), "%s", c->gss_principal);
	probe_close(&s.io);
	jset_str(d, "method", "gssapi");
	jset_str(d, "principal", principal);
	jset_str(d, "protection", lv ? lv : "?");
	jset_ms(d, "auth_ms", s.t_auth);
	result(p, PC_AUTH, PS_OK, 0, d, "GSS-API: principal %s accepted, protection %s, in %.1f ms",
	       principal[0] ? principal : "(unnamed)", lv ? lv : "?", s.t_auth);
	return true;
}

static bool check_auth(struct probe *p)
{
	const struct stp_proxy *px = &p->cfg->proxy;
	struct s5 s;
	struct stp_err e = { 0, "" };
	json_t *d = obj();

	if (p->socks4) {
		result(p, PC_AUTH, PS_SKIP, 0, d, "SOCKS4 carries only a user id");
		return true;
	}
	if (px->gssapi)
		return check_auth_gss(p, d);
	if (!px->has_user) {
		if (p->needs_auth) {
			result(p, PC_AUTH, PS_FAIL, STP_EXIT_AUTH, d, "the proxy needs a user name and "
			       "password: give -U USER (password from STP_PASSWORD or --password-file)");
			return false;
		}
		result(p, PC_AUTH, PS_SKIP, 0, d, "none needed (no-auth accepted)");
		return true;
	}
	jset_str(d, "user", px->user);
	if (!p->auth) {
		result(p, PC_AUTH, PS_OK, 0, d, "none needed: the proxy does not ask for the "
		       "credentials of user '%s'", px->user);
		return true;
	}
	if (s5_hello(p, &s, &e) < 0) {
		result(p, PC_AUTH, PS_FAIL, e.code, d, "%s", e.msg);
		return false;
	}
	probe_close(&s.io);
	jset_ms(d, "auth_ms", s.t_auth);
	result(p, PC_AUTH, PS_OK, 0, d, "user '%s' accepted (RFC 1929) in %.1f ms", px->user,
	       s.t_auth);
	return true;
}

/* ---------------------------------------------------------------- connect */

/* Opens a session and asks for cmd; for SOCKS4 URLs, a SOCKS4 request.
 * Returns the outcome; s is open when it is PO_REPLY (close it). */
static enum pio_outcome ask(struct probe *p, struct s5 *s, uint8_t cmd, const struct stp_addr *dst,
			    const struct stp_opts *opts, long wait_ms, struct stp5_msg *m,
			    struct stp_err *e)
{
	if (p->socks4) {
		uint8_t cd;
		enum pio_outcome o = s4_request(p, s, cmd == STP_CMD_BIND ? STP4_BIND : STP4_CONNECT,
						dst, wait_ms, &cd, e);
		memset(m, 0, sizeof(*m));
		m->code = cd == STP4_GRANTED ? STP_REP_OK : STP_REP_NOT_ALLOWED;
		if (o == PO_ERROR && !s->io.c)
			return PO_ERROR;
		return o;
	}
	if (s5_hello(p, s, e) < 0) {
		errno = 0;
		return PO_ERROR;
	}
	return s5_request(p, s, cmd, dst, opts, wait_ms, m);
}

static bool check_connect(struct probe *p)
{
	struct s5 s;
	struct stp5_msg m;
	struct stp_err e = { 0, "" };
	json_t *d = obj();
	char tn[STP_ADDRSTRLEN], bn[STP_ADDRSTRLEN], why[120], first[160] = "";
	enum pio_outcome o;

	stp_addr_str(&p->target, tn, sizeof(tn));
	jset_str(d, "target", tn);
	o = ask(p, &s, STP_CMD_CONNECT, &p->target, NULL, p->tmo, &m, &e);
	if (o == PO_ERROR && e.msg[0]) {
		result(p, PC_CONNECT, PS_FAIL, e.code, d, "%s", e.msg);
		return false;
	}
	jset_ms(d, "connect_ms", s.t_connect);
	jset_ms(d, "greeting_ms", s.t_greeting);
	jset_ms(d, "auth_ms", s.t_auth);
	jset_ms(d, "request_ms", s.t_request);
	if (o != PO_REPLY || m.code != STP_REP_OK) {
		probe_close(&s.io);
		target_drain(p);
		int code = o == PO_REPLY ? stp_rep_exit(m.code) : o == PO_CLOSED ? STP_EXIT_UNSUPPORTED
			: o == PO_TIMEOUT ? STP_EXIT_REPLY + STP_REP_TTL : STP_EXIT_PROTO;
		if (o == PO_REPLY && p->socks4)
			snprintf(why, sizeof(why), "SOCKS4 reply 91 (rejected)");
		else
			outcome_str(o, m.code, p->tmo, why, sizeof(why));
		result(p, PC_CONNECT, PS_FAIL, code, d, "CONNECT %s: %s", tn, why);
		return false;
	}
	stp_addr_str(&m.addr, bn, sizeof(bn));
	jset_str(d, "bound", bn);
	/* the first byte from the target, and data the other way */
	if (p->own_target) {
		int afd = target_accept(p, p->tmo);
		double t0 = probe_now();
		uint64_t deadline = stp_clock_ms() + (uint64_t)p->tmo;
		bool ok = false;
		if (afd >= 0 && stp_write_all(afd, PROBE_BANNER, strlen(PROBE_BANNER), deadline) == 0 &&
		    pio_fill(&s.io, strlen(PROBE_BANNER), stp_clock_ms() + (uint64_t)p->tmo) == 0 &&
		    memcmp(s.io.in, PROBE_BANNER, strlen(PROBE_BANNER)) == 0) {
			double fb = probe_now() - t0;
			char back[sizeof(PROBE_BANNER)];
			jset_ms(d, "first_byte_ms", fb);
			ok = pio_write(&s.io, PROBE_BANNER, strlen(PROBE_BANNER), deadline) == 0 &&
				stp_read_exact(afd, back, strlen(PROBE_BANNER), deadline) == 0 &&
				memcmp(back, PROBE_BANNER, strlen(PROBE_BANNER)) == 0;
			snprintf(first, sizeof(first), ", first byte %.1f ms; data %s", fb,
				 ok ? "passes both ways" : "does not come back");
		} else {
			snprintf(first, sizeof(first), "; the target's bytes did not arrive");
		}
		if (afd >= 0)
			close(afd);
		probe_close(&s.io);
		target_drain(p);
		json_object_set_new(d, "data_ok", json_boolean(ok));
		if (!ok) {
			result(p, PC_CONNECT, PS_FAIL, STP_EXIT_FAIL, d, "CONNECT %s: connect %.1f ms, "
			       "greeting %.1f ms, request %.1f ms%s", tn, s.t_connect, s.t_greeting,
			       s.t_request, first);
			return false;
		}
	} else {
		double t0 = probe_now();
		long wait = p->short_ms < 2000 ? p->short_ms : 2000;
		if (s.io.inlen || pio_fill(&s.io, 1, stp_clock_ms() + (uint64_t)wait) == 0) {
			jset_ms(d, "first_byte_ms", probe_now() - t0);
			snprintf(first, sizeof(first), ", first byte %.1f ms", probe_now() - t0);
		} else {
			snprintf(first, sizeof(first), "; no byte from the target within %.1f s "
				 "(it may wait for the client)", (double)wait / 1000);
		}
		probe_close(&s.io);
	}
	char auth[40] = "";
	if (p->auth)
		snprintf(auth, sizeof(auth), ", auth %.1f ms", s.t_auth);
	char greet[40] = "";
	if (!p->socks4)
		snprintf(greet, sizeof(greet), ", greeting %.1f ms", s.t_greeting);
	result(p, PC_CONNECT, PS_OK, 0, d, "%s: connect %.1f ms%s%s, request %.1f ms%s", tn,
	       s.t_connect, greet, auth, s.t_request, first);
	return true;
}

/* -------------------------------------------------------------------- dns */

/* Asks CONNECT to name:port; returns the outcome and the reply. */
static enum pio_outcome connect_name(struct probe *p, const char *name, uint16_t port,
				     uint8_t *rep)
{
	struct stp_addr a;
	struct s5 s;
	struct stp5_msg m;
	struct stp_err e = { 0, "" };
	enum pio_outcome o;

	memset(&a, 0, sizeof(a));
	a.atyp = STP_ATYP_NAME;
	a.namelen = (uint8_t)strlen(name);
	memcpy(a.u.name, name, a.namelen + 1);
	a.port = port;
	o = ask(p, &s, STP_CMD_CONNECT, &a, NULL, p->short_ms, &m, &e);
	*rep = m.code;
	probe_close(&s.io);
	target_drain(p);
	return o;
}

static void check_dns(struct probe *p)
{
	const struct stp_probe_cfg *cfg = p->cfg;
	const char *name = cfg->name ? cfg->name : "localhost";
	char inv[64], w1[80], w2[80], hint[200] = "";
	uint8_t rnd[4], r1 = 0, r2 = 0;
	enum pio_outcome o1, o2;
	json_t *d = obj();
	uint16_t port = p->target.port ? p->target.port : 80;

	if (p->socks4 && !cfg->proxy.remote_dns) {
		result(p, PC_DNS, PS_WARN, 0, d, "scheme socks4:// resolves names on this machine, "
		       "so they leak to the local resolver; use socks4a://");
		return;
	}
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		memset(rnd, 0x33, sizeof(rnd));
	snprintf(inv, sizeof(inv), "stp-probe-%02x%02x%02x%02x.invalid", rnd[0], rnd[1], rnd[2], rnd[3]);
	o1 = connect_name(p, name, port, &r1);
	o2 = connect_name(p, inv, port, &r2);
	/* reached, refused or timed out: the name resolved; 4 says it did not */
	bool resolved = o1 == PO_REPLY && (r1 == STP_REP_OK || r1 == STP_REP_REFUSED ||
					   r1 == STP_REP_TTL || r1 == STP_REP_NET_UNREACH);
	bool invalid_ok = !(o2 == PO_REPLY && r2 == STP_REP_OK);
	jset_str(d, "name", name);
	jset_str(d, "name_result", outcome_str(o1, r1, p->short_ms, w1, sizeof(w1)));
	json_object_set_new(d, "name_resolved", json_boolean(resolved));
	jset_str(d, "invalid", inv);
	jset_str(d, "invalid_result", outcome_str(o2, r2, p->short_ms, w2, sizeof(w2)));
	json_object_set_new(d, "remote_dns", json_boolean(cfg->proxy.remote_dns));
	if (!cfg->proxy.remote_dns)
		snprintf(hint, sizeof(hint), "; scheme %s:// resolves target names on this machine, "
			 "so they leak to the local resolver: use socks5h://", cfg->proxy.scheme);
	enum stp_probe_status st = resolved && invalid_ok && cfg->proxy.remote_dns ? PS_OK : PS_WARN;
	if (!resolved && (cfg->require & (1u << PC_DNS)))
		st = PS_FAIL;
	result(p, PC_DNS, st, STP_EXIT_UNSUPPORTED, d, "CONNECT %s: %s, %s; %s: %s, %s%s",
	       name, w1, resolved ? "the proxy resolves names" : "no sign that the proxy resolves it",
	       inv, w2, invalid_ok ? "fails remotely as it must" : "succeeds: a lying resolver", hint);
}

/* ------------------------------------------------------------------- ipv6 */

static bool is_loopback_proxy(const struct probe *p)
{
	return p->palen && stp_sa_is_loopback((const struct sockaddr *)&p->pa);
}

static void check_ipv6(struct probe *p)
{
	json_t *d = obj();
	char v6reach[120], w[80], tn[STP_ADDRSTRLEN];
	struct stp_addr dst;
	struct s5 s;
	struct stp5_msg m;
	struct stp_err e = { 0, "" };
	int lfd = -1;

	if (p->socks4) {
		result(p, PC_IPV6, PS_SKIP, 0, d, "SOCKS4 has no IPv6 addresses");
		return;
	}
	/* client to proxy over IPv6 */
	bool over6 = p->v6_reached;
	if (over6) {
		snprintf(v6reach, sizeof(v6reach), "reached over IPv6");
	} else if (p->cfg->chain.nhops == 0 && is_loopback_proxy(p)) {
		struct stp_addr a6;
		stp_addr_from_host(&a6, "::1", p->cfg->proxy.port);
		int fd = dial_addr(&a6, p->short_ms);
		over6 = fd >= 0;
		if (fd >= 0)
			close(fd);
		snprintf(v6reach, sizeof(v6reach), "[::1]:%u %s", p->cfg->proxy.port,
			 over6 ? "answers" : "does not answer");
	} else {
		snprintf(v6reach, sizeof(v6reach), "no IPv6 address of the proxy answered");
	}
	json_object_set_new(d, "client_to_proxy", json_boolean(over6));
	/* CONNECT with ATYP 4: to an IPv6 listener of ours when the proxy can
	 * reach one, else to [::1] on its side (any answer but 8 tells) */
	struct sockaddr_storage l6;
	memset(&l6, 0, sizeof(l6));
	if (p->lalen && p->la.ss_family == AF_INET6 &&
	    !IN6_IS_ADDR_V4MAPPED(&((struct sockaddr_in6 *)&p->la)->sin6_addr)) {
		l6 = p->la;
	} else if (p->cfg->chain.nhops == 0 && is_loopback_proxy(p)) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&l6;
		s6->sin6_family = AF_INET6;
		s6->sin6_addr = in6addr_loopback;
	}
	if (l6.ss_family == AF_INET6)
		lfd = listen_on(&l6, SOCK_STREAM);
	if (lfd >= 0) {
		stp_addr_from_sa(&dst, (struct sockaddr *)&l6);
		dst.port = local_port(lfd);
	} else {
		stp_addr_from_host(&dst, "::1", p->target.port ? p->target.port : 9);
	}
	stp_addr_str(&dst, tn, sizeof(tn));
	enum pio_outcome o = ask(p, &s, STP_CMD_CONNECT, &dst, NULL, p->short_ms, &m, &e);
	probe_close(&s.io);
	if (lfd >= 0) {
		int fd;
		while ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
			close(fd);
		close(lfd);
	}
	outcome_str(o, m.code, p->short_ms, w, sizeof(w));
	jset_str(d, "atyp4_target", tn);
	jset_str(d, "atyp4_result", w);
	bool atyp4 = o == PO_REPLY && m.code != STP_REP_ATYP_UNSUPPORTED &&
		m.code != STP_REP_CMD_UNSUPPORTED;
	json_object_set_new(d, "atyp4", json_boolean(atyp4));
	if (o == PO_ERROR && e.msg[0]) {
		result(p, PC_IPV6, PS_WARN, 0, d, "%s; CONNECT %s: %s", v6reach, tn, e.msg);
		return;
	}
	result(p, PC_IPV6, atyp4 ? PS_OK : PS_WARN, 0, d, "%s; CONNECT %s (ATYP 4): %s%s", v6reach, tn, w,
	       atyp4 && m.code != STP_REP_OK ? " (the address type is understood)" : "");
}

/* ------------------------------------------------------------------- bind */

/* Reports a command the proxy lacks or refuses; true if it did. */
static bool lacking(struct probe *p, enum stp_probe_check c, enum pio_outcome o, uint8_t rep,
		    const char *what, json_t *d, const struct stp_err *e)
{
	char w[120];

	if (o == PO_ERROR && e->msg[0]) {
		result(p, c, PS_WARN, 0, d, "%s: %s", what, e->msg);
		return true;
	}
	outcome_str(o, rep, p->short_ms, w, sizeof(w));
	jset_str(d, "result", w);
	if (o == PO_CLOSED || (o == PO_REPLY && rep == STP_REP_CMD_UNSUPPORTED)) {
		result(p, c, PS_SKIP, 0, d, "%s not supported: %s", what, w);
		return true;
	}
	if (o != PO_REPLY || rep != STP_REP_OK) {
		result(p, c, PS_WARN, 0, d, "%s: %s", what, w);
		return true;
	}
	return false;
}

static void check_bind(struct probe *p, bool multi)
{
	enum stp_probe_check c = multi ? PC_BIND_MULTI : PC_BIND;
	uint8_t cmd = multi ? STP_CMD_BIND_MULTI : STP_CMD_BIND;
	struct stp_addr any, at;
	struct s5 s;
	struct stp5_msg m, m2;
	struct stp_err e = { 0, "" };
	json_t *d = obj();
	char bn[STP_ADDRSTRLEN], pn[STP_ADDRSTRLEN], note[144] = "", w[80];

	if (p->socks4) {
		result(p, c, PS_SKIP, 0, d, multi ? "not in SOCKS4" : "not probed over SOCKS4");
		return;
	}
	stp_addr_from_host(&any, "0.0.0.0", 0);
	enum pio_outcome o = ask(p, &s, cmd, &any, NULL, p->short_ms, &m, &e);
	if (lacking(p, c, o, m.code, multi ? "BIND_MULTI" : "BIND", d, &e)) {
		probe_close(&s.io);
		return;
	}
	at = m.addr;
	stp_addr_str(&m.addr, bn, sizeof(bn));
	jset_str(d, "first_reply", bn);
	relay_note(p, &at, note, sizeof(note), d);
	double t0 = probe_now();
	int fd = dial_addr(&at, p->short_ms);
	if (fd < 0) {
		probe_close(&s.io);
		stp_addr_str(&at, pn, sizeof(pn));
		result(p, c, PS_WARN, 0, d, "first reply %s%s; the probe cannot connect to %s", bn,
		       note, pn);
		return;
	}
	o = s5_next(&s, cmd, p->short_ms, &m2);
	double t2 = probe_now() - t0;
	close(fd);
	probe_close(&s.io);
	if (o != PO_REPLY || m2.code != STP_REP_OK) {
		outcome_str(o, m2.code, p->short_ms, w, sizeof(w));
		result(p, c, PS_WARN, 0, d, "first reply %s%s; no %s after the probe connected: %s",
		       bn, note, multi ? "notice" : "second reply", w);
		return;
	}
	stp_addr_str(&m2.addr, pn, sizeof(pn));
	jset_str(d, "second_reply", pn);
	jset_ms(d, "second_reply_ms", t2);
	if (multi) {
		bool ticket = m2.has_opts && STP_OPT_HAS(&m2.opts, STP_OPT_TICKET);
		json_object_set_new(d, "ticket", json_boolean(ticket));
		result(p, c, ticket ? (note[0] ? PS_WARN : PS_OK) : PS_WARN, 0, d, "listening at %s%s; "
		       "a notice for %s came in %.1f ms%s", bn, note, pn, t2,
		       ticket ? " with a ticket" : " without a ticket");
		return;
	}
	result(p, c, note[0] ? PS_WARN : PS_OK, 0, d, "first reply %s%s; second reply %s in %.1f ms",
	       bn, note, pn, t2);
}

/* -------------------------------------------------------------------- udp */

/* Waits for a datagram on fd; returns its length or -1. */
static ssize_t udp_wait(int fd, uint8_t *buf, size_t cap, long wait_ms,
			struct sockaddr_storage *from, socklen_t *flen)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	uint64_t deadline = stp_clock_ms() + (uint64_t)wait_ms;

	for (;;) {
		int rc = poll(&pfd, 1, stp_ms_left(deadline));
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc <= 0)
			return -1;
		*flen = sizeof(*from);
		ssize_t n = recvfrom(fd, buf, cap, 0, (struct sockaddr *)from, flen);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		return n;
	}
}

/* Sends payload (n bytes of x) to dst through the relay; on a GSS-API
 * protected session (c->gss) wrapped as RFC 1961 section 5 says
 * (client/gssudp.h). */
static int udp_send(const struct stp_conn *c, int cfd, const struct sockaddr_storage *relay,
		    socklen_t rlen, const struct stp_addr *dst, uint8_t *buf, size_t cap, size_t n)
{
	size_t h = stp_udp_hdr_put(buf, cap, dst);
	const char *why;

	if (!h || h + n > cap)
		return -1;
	memset(buf + h, 'x', n);
	memcpy(buf + h, "stp-probe", n < 9 ? n : 9);
	if (!c->gss)
		return sendto(cfd, buf, h + n, 0, (const struct sockaddr *)relay, rlen) ==
		       (ssize_t)(h + n) ? 0 : -1;
	uint8_t *w = malloc(STP_GSS_UDP_MAX);
	ssize_t k = w ? stp_gss_udp_seal(c->gss->ctx, c->gss->level, buf, h + n, w,
					 STP_GSS_UDP_MAX, &why) : -1;
	int rc = k > 0 && sendto(cfd, w, (size_t)k, 0, (const struct sockaddr *)relay, rlen) == k
		 ? 0 : -1;
	if (k < 0)
		errno = EMSGSIZE;
	free(w);
	return rc;
}

/* A datagram from the relay, buf[0..n): unwrapped in place on a protected
 * session. Returns its plaintext's length, or -1 (it does not unwrap). */
static ssize_t udp_open(const struct stp_conn *c, uint8_t *buf, size_t cap, ssize_t n)
{
	const char *why;

	if (n <= 0 || !c->gss)
		return n;
	uint8_t *w = malloc((size_t)n);
	if (!w)
		return -1;
	memcpy(w, buf, (size_t)n);
	ssize_t k = stp_gss_udp_open(c->gss->ctx, c->gss->level, w, (size_t)n, buf, cap, &why);
	free(w);
	return k;
}

static void check_udp(struct probe *p)
{
	struct stp_addr any, relay, tgt;
	struct s5 s;
	struct stp5_msg m;
	struct stp_err e = { 0, "" };
	json_t *d = obj();
	char rn[STP_ADDRSTRLEN], note[144] = "", tn[STP_ADDRSTRLEN], detail[PROBE_DETAIL_MAX];
	struct sockaddr_storage rs, from;
	socklen_t rlen, flen;
	int cfd = -1, tfd = -1;
	uint8_t *buf = NULL;
	const size_t cap = 65536 + 512;

	if (p->socks4) {
		result(p, PC_UDP, PS_SKIP, 0, d, "not in SOCKS4");
		return;
	}
	stp_addr_from_host(&any, "0.0.0.0", 0);
	enum pio_outcome o = ask(p, &s, STP_CMD_UDP, &any, NULL, p->short_ms, &m, &e);
	if (lacking(p, PC_UDP, o, m.code, "UDP ASSOCIATE", d, &e)) {
		probe_close(&s.io);
		return;
	}
	relay = m.addr;
	stp_addr_str(&m.addr, rn, sizeof(rn));
	jset_str(d, "relay", rn);
	if (relay_note(p, &relay, note, sizeof(note), d) && stp_addr_is_zero(&m.addr))
		json_object_set_new(d, "relay_unspecified", json_boolean(true));
	rlen = stp_addr_to_sa(&relay, &rs);
	buf = malloc(cap);
	if (!buf || !rlen || (cfd = socket(rs.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0) {
		result(p, PC_UDP, PS_WARN, 0, d, "relay %s%s: not an address the probe can use",
		       rn, note);
		goto out;
	}
	/* the target: --udp-target (an echo service), or a socket of ours */
	if (p->cfg->udp_target) {
		char h[256];
		uint16_t port;
		if (stp_hostport_split(p->cfg->udp_target, h, sizeof(h), &port, -1, false, &e) < 0 ||
		    stp_addr_from_host(&tgt, h, port) < 0) {
			result(p, PC_UDP, PS_WARN, 0, d, "--udp-target %s: %s", p->cfg->udp_target, e.msg);
			goto out;
		}
	} else {
		if (!p->lalen || (tfd = listen_on(&p->la, SOCK_DGRAM)) < 0) {
			result(p, PC_UDP, PS_OK, 0, d, "UDP ASSOCIATE accepted, relay %s%s; no "
			       "target to try it with", rn, note);
			goto out;
		}
		stp_addr_from_sa(&tgt, (struct sockaddr *)&p->la);
		tgt.port = local_port(tfd);
	}
	stp_addr_str(&tgt, tn, sizeof(tn));
	jset_str(d, "target", tn);
	double t0 = probe_now();
	if (udp_send(s.io.c, cfd, &rs, rlen, &tgt, buf, cap, 64) < 0) {
		result(p, PC_UDP, PS_WARN, 0, d, "relay %s%s: sending to it failed: %s", rn, note,
		       strerror(errno));
		goto out;
	}
	if (tfd >= 0) {
		/* it reached our target: send it back to where it came from */
		ssize_t n = udp_wait(tfd, buf, cap, p->short_ms, &from, &flen);
		if (n <= 0) {
			result(p, PC_UDP, PS_WARN, 0, d, "relay %s%s does not pass datagrams (nothing "
			       "arrived at %s within %.1f s)", rn, note, tn, (double)p->short_ms / 1000);
			goto out;
		}
		if (sendto(tfd, buf, (size_t)n, 0, (struct sockaddr *)&from, flen) != n) {
			result(p, PC_UDP, PS_WARN, 0, d, "relay %s%s passes datagrams out, but sending "
			       "one back to it failed: %s", rn, note, strerror(errno));
			goto out;
		}
	}
	struct sockaddr_storage rfrom;
	socklen_t rflen;
	ssize_t n = udp_open(s.io.c, buf, cap, udp_wait(cfd, buf, cap, p->short_ms, &rfrom,
							&rflen));
	struct stp_udp_hdr uh;
	if (n <= 0 || stp_udp_hdr_get(buf, (size_t)n, &uh) <= 0) {
		result(p, PC_UDP, PS_WARN, 0, d, "relay %s%s: no answer came back from %s within "
		       "%.1f s", rn, note, tn, (double)p->short_ms / 1000);
		goto out;
	}
	double rtt = probe_now() - t0;
	jset_ms(d, "round_trip_ms", rtt);
	snprintf(detail, sizeof(detail), "relay %s%s; round trip to %s %.1f ms", rn, note, tn, rtt);
	/* the largest datagram that passes (to our own target only) */
	if (tfd >= 0) {
		static const size_t sizes[] = { 512, 1472, 4096, 8192, 16384, 32768, 65000 };
		size_t best = 64;
		long wait = p->short_ms < 1000 ? p->short_ms : 1000;
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			if (udp_send(s.io.c, cfd, &rs, rlen, &tgt, buf, cap, sizes[i]) < 0)
				break;
			ssize_t k = udp_wait(tfd, buf, cap, wait, &from, &flen);
			if (k != (ssize_t)sizes[i])
				break;
			best = sizes[i];
		}
		json_object_set_new(d, "largest_datagram", json_integer((json_int_t)best));
		size_t len = strlen(detail);
		snprintf(detail + len, sizeof(detail) - len, "; datagrams of %zu bytes pass", best);
	}
	result(p, PC_UDP, note[0] ? PS_WARN : PS_OK, 0, d, "%s", detail);
out:
	free(buf);
	if (cfd >= 0)
		close(cfd);
	if (tfd >= 0)
		close(tfd);
	probe_close(&s.io);
}

/* ---------------------------------------------------------------- resolve */

static void check_resolve(struct probe *p, bool ptr)
{
	enum stp_probe_check c = ptr ? PC_RESOLVE_PTR : PC_RESOLVE;
	struct stp_addr q;
	struct s5 s;
	struct stp5_msg m;
	struct stp_err e = { 0, "" };
	json_t *d = obj();
	char qn[STP_ADDRSTRLEN], an[STP_ADDRSTRLEN], w[80];
	const char *name = p->cfg->name ? p->cfg->name : "localhost";

	if (p->socks4) {
		result(p, c, PS_SKIP, 0, d, "not in SOCKS4");
		return;
	}
	if (ptr)
		stp_addr_from_host(&q, "127.0.0.1", 0);
	else
		stp_addr_from_host(&q, name, 0);
	if (!ptr && q.atyp != STP_ATYP_NAME) {
		/* an address is not a name to resolve */
		stp_addr_from_host(&q, "localhost", 0);
	}
	stp_addr_host(&q, qn, sizeof(qn));
	jset_str(d, "query", qn);
	enum pio_outcome o = ask(p, &s, ptr ? STP_CMD_RESOLVE_PTR : STP_CMD_RESOLVE, &q, NULL,
				 p->short_ms, &m, &e);
	probe_close(&s.io);
	if (o == PO_ERROR && e.msg[0]) {
		result(p, c, PS_WARN, 0, d, "%s", e.msg);
		return;
	}
	outcome_str(o, m.code, p->short_ms, w, sizeof(w));
	jset_str(d, "result", w);
	if (o == PO_CLOSED || (o == PO_REPLY && m.code == STP_REP_CMD_UNSUPPORTED)) {
		result(p, c, PS_SKIP, 0, d, "%s not supported: %s", ptr ? "RESOLVE_PTR" : "RESOLVE", w);
		return;
	}
	if (o != PO_REPLY) {
		result(p, c, PS_WARN, 0, d, "%s %s: %s", ptr ? "RESOLVE_PTR" : "RESOLVE", qn, w);
		return;
	}
	if (m.code != STP_REP_OK) {
		/* the command exists; this query had no answer */
		result(p, c, PS_OK, 0, d, "%s %s: %s (the command is supported)",
		       ptr ? "RESOLVE_PTR" : "RESOLVE", qn, w);
		return;
	}
	stp_addr_host(&m.addr, an, sizeof(an));
	jset_str(d, "answer", an);
	result(p, c, PS_OK, 0, d, "%s -> %s", qn, an);
}

/* --------------------------------------------------------------- features */

static void check_features(struct probe *p)
{
	struct stp_addr any;
	struct s5 s;
	struct stp5_msg m;
	struct stp_err e = { 0, "" };
	json_t *d = obj(), *list = json_array();
	char me[STP_ADDRSTRLEN];

	if (p->socks4) {
		json_decref(list);
		result(p, PC_FEATURES, PS_SKIP, 0, d, "not in SOCKS4");
		return;
	}
	stp_addr_from_host(&any, "0.0.0.0", 0);
	enum pio_outcome o = ask(p, &s, STP_CMD_FEATURES, &any, NULL, p->short_ms, &m, &e);
	probe_close(&s.io);
	if (lacking(p, PC_FEATURES, o, m.code, "FEATURES", d, &e)) {
		json_decref(list);
		return;
	}
	const char *tok = m.has_opts && STP_OPT_HAS(&m.opts, STP_OPT_FEATURES) ? m.opts.features : "";
	char copy[sizeof(m.opts.features)], *save, *t;
	snprintf(copy, sizeof(copy), "%s", tok);
	for (t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save))
		json_array_append_new(list, json_string(t));
	json_decref(p->rep->features);
	p->rep->features = json_incref(list);
	json_object_set_new(d, "tokens", list);
	const char *server = m.has_opts && STP_OPT_HAS(&m.opts, STP_OPT_SERVER) ? m.opts.server : "";
	jset_str(d, "server", server);
	stp_addr_str(&m.addr, me, sizeof(me));
	jset_str(d, "client_seen_as", me);
	result(p, PC_FEATURES, PS_OK, 0, d, "%s%s%s; it sees us as %s", server[0] ? server : "",
	       server[0] ? ": " : "", tok[0] ? tok : "(none listed)", me);
}

/* ---------------------------------------------------------------- latency */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void check_latency(struct probe *p)
{
	int n = p->cfg->tries > 0 ? p->cfg->tries : 10, ok = 0;
	double *t = calloc((size_t)n, sizeof(double));
	json_t *d = obj();
	char why[200] = "";

	if (!t) {
		result(p, PC_LATENCY, PS_WARN, 0, d, "out of memory");
		return;
	}
	for (int i = 0; i < n; i++) {
		struct s5 s;
		struct stp5_msg m;
		struct stp_err e = { 0, "" };
		double t0 = probe_now();
		enum pio_outcome o = ask(p, &s, STP_CMD_CONNECT, &p->target, NULL, p->tmo, &m, &e);
		double dt = probe_now() - t0;
		probe_close(&s.io);
		target_drain(p);
		if (o == PO_REPLY && m.code == STP_REP_OK)
			t[ok++] = dt;
		else if (!why[0])
			outcome_str(o, m.code, p->tmo, why, sizeof(why));
	}
	json_object_set_new(d, "tries", json_integer(n));
	json_object_set_new(d, "succeeded", json_integer(ok));
	if (ok == 0) {
		free(t);
		result(p, PC_LATENCY, PS_WARN, 0, d, "no try of %d succeeded (%s)", n, why);
		return;
	}
	qsort(t, (size_t)ok, sizeof(double), cmp_double);
	double min = t[0], med = ok % 2 ? t[ok / 2] : (t[ok / 2 - 1] + t[ok / 2]) / 2;
	int k = (99 * ok + 99) / 100;   /* nearest rank */
	double p99 = t[(k < 1 ? 1 : k) - 1];
	free(t);
	jset_ms(d, "min_ms", min);
	jset_ms(d, "median_ms", med);
	jset_ms(d, "p99_ms", p99);
	result(p, PC_LATENCY, ok == n ? PS_OK : PS_WARN, 0, d, "connect+handshake+CONNECT: min "
	       "%.1f ms, median %.1f ms, p99 %.1f ms over %d tries%s%s", min, med, p99, ok,
	       ok == n ? "" : "; failures: ", ok == n ? "" : why);
}

/* ------------------------------------------------------------------- http */

static void check_http(struct probe *p);
void probe_check_url(struct probe *p)
{
	check_http(p);
}

static void check_http(struct probe *p)
{
	const struct stp_proxy *px = &p->cfg->proxy;
	json_t *d = obj();
	char purl[400], detail[512], host[270];
	int code = 0;

	if (!p->cfg->url) {
		result(p, PC_HTTP, PS_SKIP, 0, d, "no --url given");
		return;
	}
	if (p->cfg->chain.nhops) {
		result(p, PC_HTTP, PS_SKIP, 0, d, "libcurl cannot fetch through a proxy chain");
		return;
	}
	bool https = px->proto == STP_PROTO_HTTP;  /* TLS to an HTTP proxy: curl's https:// */
	if (px->tls && !https) {
		result(p, PC_HTTP, PS_SKIP, 0, d, "libcurl does not speak TLS to a SOCKS proxy");
		return;
	}
	snprintf(host, sizeof(host), strchr(px->host, ':') ? "[%s]" : "%s", px->host);
	snprintf(purl, sizeof(purl), "%s://%s:%u", px->scheme, host, px->port);
	enum stp_probe_status st = stp_probe_http(p->cfg->url, purl, px->has_user ? px->user : NULL,
						  px->has_pass ? px->pass : NULL,
						  px->tls ? &p->cfg->chain.tls : NULL, p->tmo, detail,
						  sizeof(detail), d, &code);
	result(p, PC_HTTP, st, code, d, "%s", detail);
}

/* -------------------------------------------------------------- bandwidth */

/* Moves total bytes from wfd to rfd (both non-blocking); returns seconds,
 * or -1 when it stalls past the deadline. */
static double pump(int wfd, int rfd, long long total, long tmo)
{
	static char chunk[65536];
	long long sent = 0, got = 0;
	uint64_t deadline = stp_clock_ms() + (uint64_t)tmo;
	double t0 = probe_now();
	char sink[65536];

	memset(chunk, 'b', sizeof(chunk));
	while (got < total) {
		struct pollfd pfd[2] = { { .fd = wfd, .events = sent < total ? POLLOUT : 0 },
					 { .fd = rfd, .events = POLLIN } };
		int rc = poll(pfd, 2, stp_ms_left(deadline));
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc <= 0)
			return -1;
		if (pfd[0].revents & POLLOUT) {
			size_t n = total - sent < (long long)sizeof(chunk) ? (size_t)(total - sent)
				: sizeof(chunk);
			ssize_t k = send(wfd, chunk, n, MSG_NOSIGNAL);
			if (k < 0 && errno != EAGAIN && errno != EINTR)
				return -1;
			if (k > 0)
				sent += k;
		}
		if (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t k = recv(rfd, sink, sizeof(sink), 0);
			if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR))
				return -1;
			if (k > 0)
				got += k;
		}
	}
	return (probe_now() - t0) / 1000;
}

static void check_bandwidth(struct probe *p)
{
	json_t *d = obj();
	struct s5 s;
	struct stp5_msg m;
	struct stp_err e = { 0, "" };
	long long n = p->cfg->bandwidth;
	char w[80];

	if (n <= 0) {
		result(p, PC_BANDWIDTH, PS_SKIP, 0, d, "no --bandwidth given");
		return;
	}
	if (!p->own_target) {
		result(p, PC_BANDWIDTH, PS_SKIP, 0, d, "needs the probe's own target (no --target)");
		return;
	}
	enum pio_outcome o = ask(p, &s, STP_CMD_CONNECT, &p->target, NULL, p->tmo, &m, &e);
	if (o != PO_REPLY || m.code != STP_REP_OK) {
		probe_close(&s.io);
		target_drain(p);
		result(p, PC_BANDWIDTH, PS_WARN, 0, d, "CONNECT: %s", e.msg[0] ? e.msg :
		       outcome_str(o, m.code, p->tmo, w, sizeof(w)));
		return;
	}
	int afd = target_accept(p, p->tmo);
	/* the measure pumps the socket itself: neither TLS records nor
	 * GSS-API messages (RFC 1961 section 5) are made there */
	if (afd < 0 || stp_conn_ssl(s.io.c) || s.io.c->gss || s.io.inlen) {
		bool tls = stp_conn_ssl(s.io.c) != NULL, gss = s.io.c->gss != NULL;
		if (afd >= 0)
			close(afd);
		probe_close(&s.io);
		target_drain(p);
		if (tls)
			result(p, PC_BANDWIDTH, PS_SKIP, 0, d, "not measured through TLS");
		else if (gss)
			result(p, PC_BANDWIDTH, PS_SKIP, 0, d, "not measured under GSS-API "
			       "protection");
		else
			result(p, PC_BANDWIDTH, PS_WARN, 0, d, "the target connection did not come");
		return;
	}
	stp_set_nonblock(afd, true);
	stp_set_nonblock(s.io.c->fd, true);
	double up = pump(s.io.c->fd, afd, n, p->tmo);
	double down = up < 0 ? -1 : pump(afd, s.io.c->fd, n, p->tmo);
	close(afd);
	probe_close(&s.io);
	target_drain(p);
	json_object_set_new(d, "bytes", json_integer(n));
	if (up <= 0 || down <= 0) {
		result(p, PC_BANDWIDTH, PS_WARN, 0, d, "the transfer of %lld bytes stalled", n);
		return;
	}
	double mu = (double)n / up / 1048576, md = (double)n / down / 1048576;
	json_object_set_new(d, "up_mib_s", json_real(mu));
	json_object_set_new(d, "down_mib_s", json_real(md));
	result(p, PC_BANDWIDTH, PS_OK, 0, d, "%lld bytes: up %.1f MiB/s, down %.1f MiB/s", n, mu, md);
}

/* -------------------------------------------------------------------- run */

static json_t *proxy_json(const struct probe *p)
{
	const struct stp_probe_cfg *cfg = p->cfg;
	json_t *o = obj(), *chain = json_array();
	char h[STP_ADDRSTRLEN + 8];

	jset_str(o, "scheme", cfg->proxy.scheme);
	jset_str(o, "host", cfg->proxy.host);
	json_object_set_new(o, "port", json_integer(cfg->proxy.port));
	if (cfg->proxy.has_user)
		jset_str(o, "user", cfg->proxy.user);
	json_object_set_new(o, "tls", json_boolean(cfg->proxy.tls));
	json_object_set_new(o, "remote_dns", json_boolean(cfg->proxy.remote_dns));
	for (int i = 0; i < cfg->chain.nhops; i++) {
		char hp[STP_HOSTPORT_MAX];
		json_array_append_new(chain, json_string(stp_proxy_hostport(&cfg->chain.hops[i], hp,
									      sizeof(hp))));
	}
	json_object_set_new(o, "chain", chain);
	if (p->palen)
		jset_str(o, "address", stp_sa_str((const struct sockaddr *)&p->pa, h, sizeof(h)));
	return o;
}

int stp_probe_run(const struct stp_probe_cfg *cfg, struct stp_probe_report *rep,
		  struct stp_err *e)
{
	struct probe p;

	memset(&p, 0, sizeof(p));
	p.cfg = cfg;
	p.rep = rep;
	p.tfd = -1;
	p.tmo = cfg->chain.timeout_ms > 0 ? cfg->chain.timeout_ms : 30000;
	p.short_ms = p.tmo < 5000 ? p.tmo : 5000;
	p.socks4 = cfg->proxy.proto == STP_PROTO_SOCKS4;
	stp_proxy_hostport(&cfg->proxy, p.ph, sizeof(p.ph));
	rep->methods = obj();
	rep->features = json_array();
	if (!rep->methods || !rep->features)
		return stp_err_set(e, STP_EXIT_FAIL, "out of memory");
	snprintf(rep->detected, sizeof(rep->detected), "unknown");
	if (cfg->proxy.tls)
		p.tls_ctx = stp_tls_client_ctx(&cfg->chain.tls, &p.tls_err);
	bool go = check_reach(&p);
	rep->proxy = proxy_json(&p);
	if (go)
		setup_target(&p);
	if (go && cfg->proxy.proto == STP_PROTO_HTTP) {
		/* an HTTP proxy: its own checks (probe_hproxy.c) */
		if (check_tls(&p))
			probe_http_proxy(&p);
		go = false;
	}
	go = go && check_tls(&p) && check_detect(&p) && check_methods(&p) && check_auth(&p);
	if (go) {
		check_connect(&p);
		check_dns(&p);
		check_ipv6(&p);
		check_bind(&p, false);
		check_bind(&p, true);
		check_udp(&p);
		check_resolve(&p, false);
		check_resolve(&p, true);
		check_features(&p);
		check_latency(&p);
		check_http(&p);
		check_bandwidth(&p);
	}
	if (p.tfd >= 0)
		close(p.tfd);
	SSL_CTX_free(p.tls_ctx);
	return 0;
}
