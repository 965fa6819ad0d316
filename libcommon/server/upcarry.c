/* upcarry.c - --upstream carries every command it can and refuses the rest
 * (SPEC §3.6). A user who sets --upstream expects nothing to leave from
 * this host: before, BIND, UDP and the DNS channel quietly went out from
 * here, which is a leak. Now:
 *   - commands whose reply is followed by a byte stream are asked of the
 *     chain's last hop as they came and then relayed unchanged: BIND (its
 *     second reply is stream bytes), BIND_MULTI (NOTICEs), ATTACH (the
 *     ticket came from the upstream's NOTICE, so the upstream holds the
 *     peer), UDP_TCP (framed datagrams) and DNS (framed messages). A last
 *     hop without them answers X'07' or closes (ssh -D), which the client
 *     gets as X'07' (UDP_TCP: then the hop's UDP ASSOCIATE, as below);
 *   - UDP ASSOCIATE: the last hop's UDP ASSOCIATE, its datagrams relayed
 *     here (upudp.c; a one-hop chain only);
 *   - UDP_BIND and MCAST have no RFC 1928 counterpart: refused with X'07'
 *     and a log line;
 *   - --upstream-local udp,bind,dns names the classes this server carries
 *     out itself, as it does without --upstream. */
#include <stdio.h>

#include "core/logesc.h"
#include "proto/addr.h"
#include "proto/cmd.h"
#include "proto/url.h"
#include "server/server_priv.h"
#include "server/upcarry.h"
#include "server/uphealth.h"
#include "server/upstream.h"
#include "server/upudp.h"

/* The --upstream-local class of a command (STP_UPLOCAL_*), or 0 for the
 * commands upstream.c takes anyway (CONNECT, RESOLVE, RESOLVE_PTR) or that
 * send nothing out (FEATURES, CONFIG, MUX: its streams come back here). */
static unsigned cmd_class(uint8_t ver, uint8_t cmd)
{
	if (ver == 4)
		return cmd == STP4_BIND ? STP_UPLOCAL_BIND : 0;
	switch (cmd) {
	case STP_CMD_BIND:
	case STP_CMD_BIND_MULTI:
	case STP_CMD_ATTACH:
		return STP_UPLOCAL_BIND;
	case STP_CMD_UDP:
	case STP_CMD_UDP_BIND:
	case STP_CMD_UDP_TCP:
	case STP_CMD_MCAST:
		return STP_UPLOCAL_UDP;
	case STP_CMD_DNS:
		return STP_UPLOCAL_DNS;
	}
	return 0;
}

/* True when cmd can be passed to the last hop and then relayed as bytes. */
static bool passes_through(uint8_t cmd)
{
	switch (cmd) {
	case STP_CMD_BIND:
	case STP_CMD_BIND_MULTI:
	case STP_CMD_ATTACH:
	case STP_CMD_UDP_TCP:
	case STP_CMD_DNS:
		return true;
	}
	return false;
}

/* True when the chain's last hop speaks SOCKS5 (only it has these
 * commands; a SOCKS4 hop's BIND answers in another format than the
 * client's). */
static bool last_hop_socks5(const struct stp_server *s)
{
	/* every chain's: a session may be sent through any of them */
	return uphealth_last_socks5(s);
}

static const char *class_name(unsigned cls)
{
	return cls == STP_UPLOCAL_UDP ? "udp" : cls == STP_UPLOCAL_BIND ? "bind" : "dns";
}

bool upcarry_take(struct session *ss, const struct stp5_msg *m)
{
	struct stp_server *s = ss->srv;
	unsigned cls;
	char tgt[STP_HOSTPORT_MAX], etgt[STP_LOGESC_SIZE(sizeof(tgt))];

	if (!upstream_enabled(s) || !(cls = cmd_class(ss->ver, ss->cmd)) ||
	    (s->cfg.upstream_local & cls))
		return false;
	if (ss->ver == 5 && ss->cmd == STP_CMD_UDP && last_hop_socks5(s)) {
		upudp_start(ss);  /* the hop's UDP ASSOCIATE, relayed here */
		return true;
	}
	if (ss->ver == 5 && ss->cmd == STP_CMD_UDP_TCP && last_hop_socks5(s)) {
		upudp_start_tcp(ss, m && m->has_opts ? &m->opts : NULL);
		return true;
	}
	if (ss->ver == 5 && passes_through(ss->cmd) && last_hop_socks5(s)) {
		upstream_start_opts(ss, m && m->has_opts ? &m->opts : NULL);
		return true;
	}
	stp_log(&s->cfg.log, STP_LOG_INFO,
		"upstream: %s %s refused: the upstream chain cannot carry it, and it does not "
		"leave from here (--upstream-local %s would allow that)",
		stp_cmd_str(ss->ver == 4 ? STP_CMD_BIND : ss->cmd),
		stp_logesc(etgt, sizeof(etgt), stp_addr_str(&ss->dst, tgt, sizeof(tgt)), false),
		class_name(cls));
	session_reply_error(ss, STP_REP_CMD_UNSUPPORTED);  /* may free ss */
	return true;
}
