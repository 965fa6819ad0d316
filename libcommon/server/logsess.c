/* logsess.c - the one line per session end: text or JSON. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "proto/addr.h"
#include "proto/cmd.h"
#include "server/server_priv.h"

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
				      "command", stp_cmd_label(ss->ver, ss->cmd), "target", target,
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
		client, ss->user[0] ? ss->user : "-", stp_cmd_label(ss->ver, ss->cmd), target,
		(unsigned long long)up, (unsigned long long)down, dur, ss->result);
}
