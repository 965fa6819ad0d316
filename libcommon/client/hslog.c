/* hslog.c - the handshake's steps on the log for -v and -vv (hslog.h). */
#include <stdio.h>
#include <string.h>

#include "client/hslog.h"
#include "proto/addr.h"
#include "proto/cmd.h"
#include "proto/hint.h"

/* "HOST:PORT" of hop i, "unix:PATH" for the mux master's socket. */
static const char *hop_name(const struct stp_hs *h, int i, char *buf, size_t cap)
{
	const struct stp_proxy *p = &h->hops[i];

	if (strcmp(p->scheme, "unix") == 0) {
		snprintf(buf, cap, "unix:%s", p->host);
		return buf;
	}
	return stp_proxy_hostport(p, buf, cap);
}

static const char *method_str(uint8_t m)
{
	switch (m) {
	case STP_METHOD_NONE:
		return "no authentication";
	case STP_METHOD_GSSAPI:
		return "GSS-API";
	case STP_METHOD_USERPASS:
		return "username/password";
	case STP_METHOD_NOACCEPT:
		return "no acceptable method";
	}
	return "unknown method";
}

/* -vv: the bytes in hex, 32 to a line, dir "<" (in) or ">" (out). */
static void hex(const struct stp_log *lg, const char *name, const char *dir,
		const uint8_t *b, size_t n)
{
	char line[32 * 3 + 1];

	if (!lg || lg->level < STP_LOG_BYTES)
		return;
	for (size_t i = 0; i < n; i += 32) {
		size_t len = 0;
		for (size_t j = i; j < n && j < i + 32; j++)
			len += (size_t)snprintf(line + len, sizeof(line) - len, "%s%02x",
						j > i ? " " : "", b[j]);
		stp_log(lg, STP_LOG_BYTES, "proxy %s: %s %s", name, dir, line);
	}
}

void stp_hslog_tcp(const struct stp_log *lg, const char *what, const char *hostport,
		   const struct sockaddr *sa, double ms)
{
	char a[STP_ADDRSTRLEN] = "?";

	if (!lg || lg->level < STP_LOG_STEPS)
		return;
	if (sa->sa_family == AF_INET || sa->sa_family == AF_INET6)
		stp_sa_host(sa, a, sizeof(a));
	stp_log(lg, STP_LOG_STEPS, "connected to %s %s (%s) in %.1f ms", what, hostport, a, ms);
}

void stp_hslog_tcp_fail(const struct stp_log *lg, const char *what, const char *hostport,
			const struct sockaddr *sa, int err)
{
	char a[STP_ADDRSTRLEN] = "?";

	if (!lg || lg->level < STP_LOG_STEPS)
		return;
	stp_sa_host(sa, a, sizeof(a));
	stp_log(lg, STP_LOG_STEPS, "cannot connect to %s %s (%s): %s", what, hostport, a,
		strerror(err));
}

void stp_hslog_tls(const struct stp_log *lg, const char *hostport, SSL *ssl, bool insecure)
{
	char subj[256] = "(none)", iss[256] = "(none)";
	X509 *cert;
	long vr;

	if (!lg || lg->level < STP_LOG_STEPS)
		return;
	cert = SSL_get1_peer_certificate(ssl);
	if (cert) {
		X509_NAME_oneline(X509_get_subject_name(cert), subj, sizeof(subj));
		X509_NAME_oneline(X509_get_issuer_name(cert), iss, sizeof(iss));
		X509_free(cert);
	}
	vr = SSL_get_verify_result(ssl);
	stp_log(lg, STP_LOG_STEPS, "TLS to proxy %s: %s, cipher %s", hostport,
		SSL_get_version(ssl), SSL_get_cipher_name(ssl));
	stp_log(lg, STP_LOG_STEPS, "TLS to proxy %s: certificate subject %s, issuer %s, %s",
		hostport, subj, iss, insecure ? "NOT verified (--insecure)" :
		vr == X509_V_OK ? "verified" : X509_verify_cert_error_string(vr));
}

void stp_hslog_sent(const struct stp_log *lg, const struct stp_hs *h)
{
	char hn[STP_HOSTPORT_MAX], dn[STP_HOSTPORT_MAX], ms[120] = "";
	const uint8_t *o = h->out;
	uint8_t cmd = h->hop == h->nhops - 1 ? h->cmd : STP_CMD_CONNECT;

	if (!lg || lg->level < STP_LOG_STEPS || !h->outlen)
		return;
	hop_name(h, h->hop, hn, sizeof(hn));
	switch (h->st) {
	case HS_METHOD:
		for (size_t i = 2; i < h->outlen && i < 2u + o[1]; i++) {
			size_t len = strlen(ms);
			snprintf(ms + len, sizeof(ms) - len, "%sX'%02X' (%s)", i > 2 ? ", " : "",
				 o[i], method_str(o[i]));
		}
		stp_log(lg, STP_LOG_STEPS, "proxy %s: SOCKS5 greeting, offering %s", hn, ms);
		break;
	case HS_AUTH:
		/* the bytes hold the password: never dumped */
		stp_log(lg, STP_LOG_STEPS, "proxy %s: sending user '%s' and password (RFC 1929)",
			hn, h->hops[h->hop].user);
		return;
	case HS_REPLY:
		stp_log(lg, STP_LOG_STEPS, "proxy %s: request %s %s", hn, stp_cmd_str(cmd),
			stp_addr_str(&h->dest[h->hop], dn, sizeof(dn)));
		break;
	case HS_REPLY4:
		stp_log(lg, STP_LOG_STEPS, "proxy %s: SOCKS4 request %s %s", hn, stp_cmd_str(cmd),
			stp_addr_str(&h->dest[h->hop], dn, sizeof(dn)));
		break;
	case HS_HTTP:
		/* the request may hold a Basic header: never dumped */
		stp_log(lg, STP_LOG_STEPS, "proxy %s: HTTP CONNECT %s%s%s%s", hn,
			stp_addr_str(&h->dest[h->hop], dn, sizeof(dn)),
			h->hops[h->hop].has_user ? " as user '" : "",
			h->hops[h->hop].has_user ? h->hops[h->hop].user : "",
			h->hops[h->hop].has_user ? "' (Basic)" : "");
		return;
	default:
		return;
	}
	hex(lg, hn, ">", o, h->outlen);
}

void stp_hslog_got(const struct stp_log *lg, const struct stp_hs *h, enum hs_state st,
		   int hop, const uint8_t *in, size_t k)
{
	char hn[STP_HOSTPORT_MAX], bn[STP_HOSTPORT_MAX];
	struct stp5_msg m;
	struct stp_addr a;
	uint8_t cd;

	if (!lg || lg->level < STP_LOG_STEPS || k < 2)
		return;
	hop_name(h, hop, hn, sizeof(hn));
	if (st == HS_HTTP) {
		/* text, not bytes: the status line once it is complete */
		if (h->http.headers_done && (h->hop != hop || h->st != HS_HTTP ||
					     stp_http_resp_ready(&h->http)))
			stp_log(lg, STP_LOG_STEPS, "proxy %s: answered %s", hn, h->http.line);
		return;
	}
	hex(lg, hn, "<", in, k);
	switch (st) {
	case HS_METHOD:
		stp_log(lg, STP_LOG_STEPS, "proxy %s: chose method X'%02X' (%s)", hn, in[1],
			method_str(in[1]));
		break;
	case HS_AUTH:
		stp_log(lg, STP_LOG_STEPS, "proxy %s: user '%s' %s (status X'%02X')", hn,
			h->hops[hop].user, in[1] == 0 ? "authenticated" : "rejected", in[1]);
		break;
	case HS_REPLY:
		if (stp5_reply_get(in, k, hop == h->nhops - 1 ? h->cmd : STP_CMD_CONNECT, &m) <= 0)
			break;
		stp_log(lg, STP_LOG_STEPS, "proxy %s: reply X'%02X' (%s), bound %s", hn, m.code,
			stp_rep_tor_str(m.code) ? stp_rep_tor_str(m.code) : stp_rep_str(m.code),
			stp_addr_str(&m.addr, bn, sizeof(bn)));
		break;
	case HS_REPLY4:
		if (stp4_reply_get(in, k, &cd, &a) <= 0)
			break;
		stp_log(lg, STP_LOG_STEPS, "proxy %s: SOCKS4 reply %u (%s), bound %s", hn, cd,
			cd == STP4_GRANTED ? "granted" : "refused", stp_addr_str(&a, bn, sizeof(bn)));
		break;
	default:
		break;
	}
}
