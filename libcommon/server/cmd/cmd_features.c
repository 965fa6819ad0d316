/* cmd_features.c - FEATURES (X'D0'): the extensions this server has on,
 * exactly; then the connection takes one more request (PROTOCOL.md §3). */
#include <stdio.h>
#include <string.h>

#include "proto/addr.h"
#include "server/server_priv.h"
#include "server/upstream.h"
#include "proto/version.h"

static bool config_on(const struct stp_server *s)
{
	return s->cfg.client_config != NULL;
}

/* With --upstream, UDP_BIND and MCAST are refused (upcarry.c: the chain
 * does not carry them) unless --upstream-local udp runs them here. */
static bool udp_here(const struct stp_server *s)
{
	return !upstream_enabled(s) || (s->cfg.upstream_local & STP_UPLOCAL_UDP);
}

/* One line per extension a command file implements; `on` says whether this
 * server's configuration has it enabled. Add a line with the command. */
static const struct {
	const char *token;
	bool (*on)(const struct stp_server *s);
} features[] = {
	{ "stp/1", NULL },
	{ "bind-multi", NULL },
	{ "udp-bind", udp_here },
	{ "udp-tcp", NULL },
	{ "mcast", udp_here },
	{ "dns", NULL },
	{ "mux", NULL },
	{ "resolve", NULL },
	{ "resolve-ptr", NULL },
	{ "config", config_on },
};

/* The FEATURES tokens this server has enabled, space-separated, in buf. */
static const char *server_features(const struct stp_server *s, char *buf, size_t cap)
{
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(features) / sizeof(features[0]); i++) {
		if (features[i].on && !features[i].on(s))
			continue;
		int n = snprintf(buf + len, cap - len, "%s%s", len ? " " : "", features[i].token);
		if (n < 0 || (size_t)n >= cap - len)
			break;
		len += (size_t)n;
	}
	return buf;
}

void cmd_features(struct session *ss)
{
	struct stp_opts o;
	struct stp_addr client;
	uint8_t b[1024];
	size_t n;

	memset(&o, 0, sizeof(o));
	server_features(ss->srv, o.features, sizeof(o.features));
	snprintf(o.server, sizeof(o.server), "stp-serve/%s", STP_VERSION);
	o.present = (1u << STP_OPT_FEATURES) | (1u << STP_OPT_SERVER);
	if (stp_addr_from_sa(&client, (const struct sockaddr *)&ss->peer) < 0)
		memset(&client, 0, sizeof(client)), client.atyp = STP_ATYP_IPV4;
	n = stp5_reply_put(b, sizeof(b), STP_CMD_FEATURES, STP_REP_OK, &client, &o);
	if (n == 0 || session_send(ss, b, n) < 0) {
		session_free(ss);
		return;
	}
	/* one more request may follow on this connection */
	ss->state = S_REQUEST;
	ss->features_done = true;
}
