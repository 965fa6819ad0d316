/* logsess.c - the one line per session end: text or JSON. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto/addr.h"
#include "proto/cmd.h"
#include "core/json.h"
#include "core/logesc.h"
#include "server/logsess.h"
#include "server/server_priv.h"

/* The line is never cut: every untrusted field at its longest, each byte
 * at its longest escape (6 characters, \u0001 in JSON), and room for the
 * keys and numbers. */
_Static_assert(STP_SESS_LINE_MAX >= 6 * (255 + 255 + STP_HOSTPORT_MAX + STP_ERR_MSG_MAX) + 512,
	       "STP_SESS_LINE_MAX too small for a session line");

static bool has(const char *s)
{
	return s && s[0];
}

/* A string member from untrusted text, or null when s is NULL. Returns 0
 * or -1 (memory). */
static int set_str(json_t *o, const char *key, const char *s)
{
	return json_object_set_new(o, key, s ? stp_json_string(s) : json_null());
}

char *stp_sess_ts(int64_t ms, char *buf, size_t cap)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	int frac = (int)(ms % 1000);

	if (frac < 0) {  /* before 1970: the clock is wrong, the format is not */
		frac += 1000;
		t--;
	}
	if (!gmtime_r(&t, &tm) ||
	    snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
		     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac) < 0)
		snprintf(buf, cap, "-");
	return buf;
}

/* jansson writes a real with %.17g: 0.051 would come out as
 * 0.050999999999999997. Rounded to the millisecond, the digits before the
 * point and three after are all a duration has, and %g drops the zeros. */
static size_t duration_precision(double d)
{
	size_t digits = 1;

	for (double v = d; v >= 10.0 && digits < 14; v /= 10.0)
		digits++;
	return digits + 3;
}

static int format_json(const struct stp_sess_rec *r, char *buf, size_t cap)
{
	json_t *o = json_object();
	char ts[STP_SESS_TS_SIZE];
	double duration = r->duration > 0 ? (double)(int64_t)(r->duration * 1000.0 + 0.5) / 1000.0 : 0;
	size_t n;
	int bad;

	if (!o)
		return -1;
	bad = json_object_set_new(o, "ts", json_string(stp_sess_ts(r->ts_ms, ts, sizeof(ts)))) |
	      json_object_set_new(o, "event", json_string("session")) |
	      set_str(o, "client", r->client) |
	      set_str(o, "user", has(r->user) ? r->user : NULL);
	if (has(r->userid))
		bad |= set_str(o, "userid", r->userid);
	bad |= set_str(o, "command", r->cmd) |
	       set_str(o, "target", r->target ? r->target : "-") |
	       json_object_set_new(o, "bytes_up", json_integer((json_int_t)r->up)) |
	       json_object_set_new(o, "bytes_down", json_integer((json_int_t)r->down)) |
	       json_object_set_new(o, "duration", json_real(duration)) |
	       set_str(o, "result", r->result) |
	       json_object_set_new(o, "socks", json_integer(r->socks));
	if (r->transparent)
		bad |= set_str(o, "transparent", r->transparent);
	if (r->http)
		bad |= set_str(o, "http", r->http) |
		       json_object_set_new(o, "status", r->status ? json_integer(r->status)
							       : json_null());
	n = bad ? 0 : json_dumpb(o, buf, cap, JSON_COMPACT | JSON_PRESERVE_ORDER |
				  JSON_REAL_PRECISION(duration_precision(duration)));
	json_decref(o);
	if (n == 0 || n >= cap)
		return -1;
	buf[n] = '\0';
	return (int)n;
}

static int format_text(const struct stp_sess_rec *r, char *buf, size_t cap)
{
	char user[STP_LOGESC_SIZE(255)], userid[STP_LOGESC_SIZE(255) + 8];
	char target[STP_LOGESC_SIZE(300)], result[STP_LOGESC_SIZE(256)];
	char http[64] = "", transp[32] = "";
	int n;

	stp_logesc(user, sizeof(user), has(r->user) ? r->user : "-", false);
	userid[0] = '\0';
	if (has(r->userid)) {
		memcpy(userid, " userid=", 8);
		stp_logesc(userid + 8, sizeof(userid) - 8, r->userid, false);
	}
	stp_logesc(target, sizeof(target), r->target ? r->target : "-", false);
	stp_logesc(result, sizeof(result), r->result ? r->result : "", true);
	if (r->http) {
		/* the method is a token http-parser knows: no escaping needed */
		if (r->status)
			snprintf(http, sizeof(http), " http=%.16s status=%d", r->http, r->status);
		else
			snprintf(http, sizeof(http), " http=%.16s status=-", r->http);
	}
	if (r->transparent)  /* "tcp" or "udp", ours */
		snprintf(transp, sizeof(transp), " transparent=%.8s", r->transparent);
	n = snprintf(buf, cap, "session client=%s user=%s%s cmd=%s%s%s target=%s up=%llu down=%llu "
		     "duration=%.3fs result=\"%s\"", r->client, user, userid, r->cmd, transp, http, target,
		     (unsigned long long)r->up, (unsigned long long)r->down, r->duration, result);
	return n < 0 || (size_t)n >= cap ? -1 : n;
}

int stp_sess_format(const struct stp_sess_rec *r, bool json, char *buf, size_t cap)
{
	return json ? format_json(r, buf, cap) : format_text(r, buf, cap);
}

void session_log_end(const struct session *ss)
{
	const struct stp_log *lg = &ss->srv->cfg.log;
	char client[STP_ADDRSTRLEN], target[STP_HOSTPORT_MAX], line[STP_SESS_LINE_MAX];
	char ts[STP_SESS_TS_SIZE];
	struct timespec now;
	struct stp_sess_rec r;

	/* no formatting at all when the line is not written (-q) */
	if (!lg->f || lg->level < STP_LOG_INFO)
		return;
	r = (struct stp_sess_rec){
		.client = client,
		.user = ss->user,
		.userid = ss->userid,
		.cmd = stp_cmd_label(ss->ver, ss->cmd),
		.target = ss->dst.atyp ? stp_addr_str(&ss->dst, target, sizeof(target)) : NULL,
		.duration = (double)(stp_loop_now(ss->srv->loop) - ss->start) / 1000.0,
		.result = ss->result,
		.socks = ss->http ? 0 : ss->ver,
		.http = ss->http ? ss->http_method : NULL,
		.status = ss->http_status,
		.transparent = ss->transparent == STP_TRANSP_TCP ? "tcp" :
			       ss->transparent == STP_TRANSP_UDP ? "udp" : NULL,
	};
	/* CLOCK_REALTIME cannot fail with a valid pointer; 0 (1970) if it did */
	if (clock_gettime(CLOCK_REALTIME, &now) == 0)
		r.ts_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
	stp_sa_str((const struct sockaddr *)&ss->peer, client, sizeof(client));
	if (ss->relay) {
		r.up = stp_relay_bytes(ss->relay, STP_RELAY_AB);
		r.down = stp_relay_bytes(ss->relay, STP_RELAY_BA);
	} else {
		r.up = ss->bytes_up;
		r.down = ss->bytes_down;
	}
	stp_sess_ts(r.ts_ms, ts, sizeof(ts));
	if (stp_sess_format(&r, lg->json, line, sizeof(line)) < 0) {
		if (lg->json)
			snprintf(line, sizeof(line), "{\"ts\":\"%s\",\"event\":\"session\","
				 "\"result\":\"(log line lost: out of memory)\"}", ts);
		else
			snprintf(line, sizeof(line), "session (log line lost: out of memory)");
	}
	/* one fprintf per line, so lines from one process never interleave;
	 * the time first (SPEC 3.6), so that a grep for "stp-serve: session"
	 * still finds the line */
	if (lg->json)
		fprintf(lg->f, "%s\n", line);
	else
		fprintf(lg->f, "%s %s: %s\n", ts, lg->prog, line);
	fflush(lg->f);
}
