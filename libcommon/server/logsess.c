/* logsess.c - the one line per session end: text or JSON. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "proto/addr.h"
#include "server/server_priv.h"

static const char *cmd_text(const struct session *ss)
{
	if (ss->cmd == 0)
		return "-";
	if (ss->ver == 4)
		return ss->cmd == STP4_CONNECT ? "connect" : ss->cmd == STP4_BIND ? "bind" : "unknown";
	switch (ss->cmd) {
	case STP_CMD_CONNECT: return "connect";
	case STP_CMD_BIND: return "bind";
	case STP_CMD_UDP: return "udp";
	case STP_CMD_RESOLVE: return "resolve";
	case STP_CMD_RESOLVE_PTR: return "resolve-ptr";
	case STP_CMD_FEATURES: return "features";
	case STP_CMD_BIND_MULTI: return "bind-multi";
	case STP_CMD_ATTACH: return "attach";
	case STP_CMD_UDP_BIND: return "udp-bind";
	case STP_CMD_MCAST: return "mcast";
	case STP_CMD_DNS: return "dns";
	case STP_CMD_MUX: return "mux";
	case STP_CMD_UDP_TCP: return "udp-tcp";
	case STP_CMD_CONFIG: return "config";
	}
	return "unknown";
}

void session_log_end(const struct session *ss)
{
	const struct stp_log *lg = &ss->srv->cfg.log;
	char client[STP_ADDRSTRLEN], target[300] = "-";
	uint64_t up = 0, down = 0;
	double dur = (double)(stp_loop_now(ss->srv->loop) - ss->start) / 1000.0;

	if (!lg->f || lg->level < STP_LOG_INFO)
		return;
	stp_sa_str((const struct sockaddr *)&ss->peer, client, sizeof(client));
	if (ss->dst.atyp)
		stp_addr_str(&ss->dst, target, sizeof(target));
	if (ss->relay) {
		up = stp_relay_bytes(ss->relay, STP_RELAY_AB);
		down = stp_relay_bytes(ss->relay, STP_RELAY_BA);
	} else {
		up = ss->bytes_up;
		down = ss->bytes_down;
	}
	if (lg->json) {
		json_t *o = json_pack("{s:s, s:s, s:o, s:s, s:s, s:I, s:I, s:f, s:s, s:i}",
				      "event", "session", "client", client,
				      "user", ss->user[0] ? json_string(ss->user) : json_null(),
				      "command", cmd_text(ss), "target", target,
				      "bytes_up", (json_int_t)up, "bytes_down", (json_int_t)down,
				      "duration", dur, "result", ss->result,
				      "socks", (int)ss->ver);
		char *txt = o ? json_dumps(o, JSON_COMPACT) : NULL;
		if (txt) {
			fprintf(lg->f, "%s\n", txt);
			fflush(lg->f);
		}
		free(txt);
		json_decref(o);
		return;
	}
	stp_log(lg, STP_LOG_INFO,
		"session client=%s user=%s cmd=%s target=%s up=%llu down=%llu duration=%.3fs result=\"%s\"",
		client, ss->user[0] ? ss->user : "-", cmd_text(ss), target,
		(unsigned long long)up, (unsigned long long)down, dur, ss->result);
}
