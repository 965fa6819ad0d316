/* diagnose.c - hints for a failed handshake (diagnose.h). */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "client/detect.h"
#include "client/diagnose.h"
#include "core/evloop.h"
#include "proto/addr.h"
#include "proto/cmd.h"
#include "proto/hint.h"

int stp_diagnose_silence(const struct stp_client *c, int fd, uint64_t deadline,
			 struct stp_err *e)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	uint8_t ans[2048];
	size_t n;
	uint64_t until = stp_clock_ms() + 2000;

	if (until > deadline)
		until = deadline;
	if (stp_ms_left(until) <= 0 || getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
		return 0;
	int k = stp_detect_silent((struct sockaddr *)&ss, len, c->hops[0].host, until, ans,
				  sizeof(ans), &n);
	if (k < 0 || k == STP_ANS_SOCKS5)
		return 0;
	if (k == STP_ANS_TLS && n == 0) {
		char hn[STP_HOSTPORT_MAX];
		stp_proxy_hostport(&c->hops[0], hn, sizeof(hn));
		return stp_err_set(e, STP_EXIT_PROTO, "proxy %s: not a SOCKS server: a TLS listener (it "
				   "completes a TLS handshake); use socks5hs://%s", hn, hn);
	}
	return stp_diagnose_answer(&c->hops[0], ans, n, e);
}

int stp_diagnose_answer(const struct stp_proxy *p, const uint8_t *b, size_t n,
			struct stp_err *e)
{
	char hn[STP_HOSTPORT_MAX], hint[200];

	stp_proxy_hostport(p, hn, sizeof(hn));
	stp_answer_hint(stp_answer_kind(b, n), b, n, hn, hint, sizeof(hint));
	return stp_err_set(e, STP_EXIT_PROTO, "proxy %s: not a SOCKS server: %s", hn, hint);
}

void stp_diagnose_refusal(const struct stp_hs *h, struct stp_err *e)
{
	const char *tor = stp_rep_tor_str(h->rep);
	char hn[STP_HOSTPORT_MAX], dn[STP_HOSTPORT_MAX];

	if (!tor || h->st != HS_FAILED)
		return;
	stp_err_set(e, e->code, "proxy %s refused %s %s: %s (X'%02X', an extended reply only "
		    "Tor sends); the proxy is Tor, which may not have bootstrapped yet",
		    stp_proxy_hostport(&h->hops[h->hop], hn, sizeof(hn)),
		    stp_cmd_str(h->hop == h->nhops - 1 ? h->cmd : STP_CMD_CONNECT),
		    stp_addr_str(&h->dest[h->hop], dn, sizeof(dn)), tor, h->rep);
}

void stp_diagnose_tls(const struct stp_client *c, struct stp_err *e)
{
	static const char *const unknown_ca[] = {
		"unable to get local issuer certificate",
		"self-signed certificate",
		"self signed certificate",
		"unable to get issuer certificate",
	};
	size_t len = strlen(e->msg);
	bool hit = false;

	if (e->code != STP_EXIT_TLS)
		return;
	for (size_t i = 0; i < sizeof(unknown_ca) / sizeof(unknown_ca[0]); i++)
		if (strstr(e->msg, unknown_ca[i]))
			hit = true;
	if (!hit)
		return;
	if (c->tls.cacert)
		snprintf(e->msg + len, sizeof(e->msg) - len, "; the CA that signed it is not "
			 "in --cacert %s", c->tls.cacert);
	else
		snprintf(e->msg + len, sizeof(e->msg) - len, "; if you trust the CA that signed "
			 "it, use --cacert FILE");
}
