/* probe_report.c - stp-probe's report: check names, the text lines
 * ("STATUS  CHECK  DETAIL", aligned, colour only when asked) and the JSON
 * document. */
#include <string.h>

#include "probe/probe.h"

static const char *const check_names[PC_COUNT] = {
	[PC_REACH] = "reach", [PC_DETECT] = "detect", [PC_TLS] = "tls",
	[PC_METHODS] = "methods", [PC_AUTH] = "auth", [PC_CONNECT] = "connect",
	[PC_DNS] = "dns", [PC_IPV6] = "ipv6", [PC_BIND] = "bind",
	[PC_BIND_MULTI] = "bind-multi", [PC_UDP] = "udp", [PC_RESOLVE] = "resolve",
	[PC_RESOLVE_PTR] = "resolve-ptr", [PC_FEATURES] = "features",
	[PC_LATENCY] = "latency", [PC_HTTP] = "http", [PC_BANDWIDTH] = "bandwidth",
};

/* The name of check c ("reach", "bind-multi", ...). */
static const char *check_name(enum stp_probe_check c)
{
	return c < PC_COUNT ? check_names[c] : "?";
}

int stp_probe_check_from_name(const char *name)
{
	for (int i = 0; i < PC_COUNT; i++)
		if (strcmp(check_names[i], name) == 0)
			return i;
	return -1;
}

static const char *status_text(enum stp_probe_status s)
{
	switch (s) {
	case PS_OK: return "ok";
	case PS_FAIL: return "FAIL";
	case PS_WARN: return "warn";
	case PS_SKIP: break;
	}
	return "--";
}

static const char *status_json(enum stp_probe_status s)
{
	switch (s) {
	case PS_OK: return "ok";
	case PS_FAIL: return "fail";
	case PS_WARN: return "warn";
	case PS_SKIP: break;
	}
	return "skip";
}

void stp_probe_print_result(FILE *f, const struct stp_probe_result *r, bool color)
{
	static const char *const colors[] = {
		[PS_OK] = "\033[32m", [PS_FAIL] = "\033[1;31m", [PS_WARN] = "\033[33m",
		[PS_SKIP] = "\033[2m",
	};
	const char *st = status_text(r->status);

	/* the widest status is 4 wide, the widest check ("resolve-ptr") 11 */
	if (color)
		fprintf(f, "%s%-4s\033[0m  %-11s  %s\n", colors[r->status], st,
			check_name(r->check), r->detail);
	else
		fprintf(f, "%-4s  %-11s  %s\n", st, check_name(r->check), r->detail);
	fflush(f);
}

void stp_probe_print_verdict(FILE *f, const struct stp_probe_report *rep, bool color)
{
	if (rep->nfailed == 0)
		fprintf(f, color ? "verdict: \033[32mok\033[0m\n" : "verdict: ok\n");
	else
		fprintf(f, color ? "verdict: \033[1;31mFAIL\033[0m (%d check%s failed)\n"
			: "verdict: FAIL (%d check%s failed)\n", rep->nfailed,
			rep->nfailed == 1 ? "" : "s");
	fflush(f);
}

json_t *stp_probe_json(const struct stp_probe_report *rep)
{
	json_t *o = json_object(), *checks = json_array();

	if (!o || !checks) {
		json_decref(o);
		json_decref(checks);
		return NULL;
	}
	json_object_set(o, "proxy", rep->proxy ? rep->proxy : json_object());
	json_object_set_new(o, "detected", json_string(rep->detected[0] ? rep->detected : "unknown"));
	json_object_set(o, "methods", rep->methods ? rep->methods : json_object());
	json_object_set(o, "features", rep->features ? rep->features : json_array());
	for (int i = 0; i < rep->nresults; i++) {
		const struct stp_probe_result *r = &rep->results[i];
		json_t *c = r->data ? json_deep_copy(r->data) : json_object();
		if (!c)
			continue;
		json_object_set_new(c, "name", json_string(check_name(r->check)));
		json_object_set_new(c, "status", json_string(status_json(r->status)));
		json_object_set_new(c, "detail", json_string(r->detail));
		if (r->status == PS_FAIL)
			json_object_set_new(c, "exit", json_integer(r->exit_code));
		json_array_append_new(checks, c);
	}
	json_object_set_new(o, "checks", checks);
	json_object_set_new(o, "verdict", json_string(rep->nfailed ? "fail" : "ok"));
	json_object_set_new(o, "failed", json_integer(rep->nfailed));
	json_object_set_new(o, "exit", json_integer(rep->exit_code));
	return o;
}

void stp_probe_report_free(struct stp_probe_report *rep)
{
	for (int i = 0; i < rep->nresults; i++)
		json_decref(rep->results[i].data);
	json_decref(rep->proxy);
	json_decref(rep->methods);
	json_decref(rep->features);
	rep->nresults = 0;
	rep->proxy = rep->methods = rep->features = NULL;
}
