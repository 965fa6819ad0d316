/* probe.h - stp-probe's engine (SPEC §3.7): diagnoses one proxy, reached
 * directly or through a chain, check by check, each with its own deadline.
 * Results are handed to a callback as they come (so the report prints as it
 * runs) and kept in a report that becomes one JSON document at the end.
 * Library code: it prints nothing itself; probe_report.c formats lines on
 * a FILE the caller gives. */
#ifndef STP_PROBE_H
#define STP_PROBE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include "client/client.h"
#include "proto/err.h"
#include "proto/url.h"

enum stp_probe_check {
	PC_REACH, PC_DETECT, PC_TLS, PC_METHODS, PC_AUTH, PC_CONNECT, PC_DNS, PC_IPV6,
	PC_BIND, PC_BIND_MULTI, PC_UDP, PC_RESOLVE, PC_RESOLVE_PTR, PC_FEATURES,
	PC_LATENCY, PC_HTTP, PC_BANDWIDTH, PC_COUNT
};

enum stp_probe_status { PS_OK, PS_FAIL, PS_WARN, PS_SKIP };

struct stp_probe_cfg {
	struct stp_client chain;      /* -x hops before the probed proxy (nhops may be 0);
				       * family, timeout_ms and TLS settings for all */
	struct stp_proxy proxy;       /* the probed proxy: the URL operand (+ -U) */
	const char *target;           /* --target HOST:PORT, or NULL: the probe's own */
	const char *udp_target;       /* --udp-target HOST:PORT (an echo service) */
	const char *name;             /* --name NAME only the proxy can resolve */
	const char *url;              /* --url URL fetched through the proxy */
	long long bandwidth;          /* --bandwidth BYTES, 0 = not measured */
	unsigned require;             /* bit (1u << PC_*) for each --require */
	int tries;                    /* -n: latency tries */
	int verbose;
};

struct stp_probe_result {
	enum stp_probe_check check;
	enum stp_probe_status status;
	int exit_code;                /* SPEC §2.3 code when status is PS_FAIL */
	char detail[512];
	json_t *data;                 /* the check's figures (an object), owned here */
};

struct stp_probe_report {
	json_t *proxy;                /* {"url","scheme","host","port","address",...} */
	char detected[16];            /* socks5 socks4 http tls unknown */
	json_t *methods;              /* {"00": "00", "02": "FF", ...} */
	json_t *features;             /* ["stp/1", ...] */
	struct stp_probe_result results[2 * PC_COUNT];
	int nresults;
	int nfailed;
	int exit_code;                /* of the first failure, 0 if none */
	/* called once per result, as it is made */
	void (*on_result)(const struct stp_probe_result *r, void *arg);
	void *arg;
};

int stp_probe_check_from_name(const char *name);

/* Runs every check against cfg->proxy. Returns 0 when the run completed
 * (whatever it found: see rep->exit_code), or -1 with e when it could not
 * run at all (out of memory). rep must be zeroed apart from on_result/arg;
 * release it with stp_probe_report_free. */
int stp_probe_run(const struct stp_probe_cfg *cfg, struct stp_probe_report *rep,
		  struct stp_err *e);
void stp_probe_report_free(struct stp_probe_report *rep);

/* The whole report as one JSON object (new reference). */
json_t *stp_probe_json(const struct stp_probe_report *rep);

/* Writes one check as "STATUS  CHECK  DETAIL", aligned, coloured when
 * color; and the closing "verdict: ..." line. */
void stp_probe_print_result(FILE *f, const struct stp_probe_result *r, bool color);
void stp_probe_print_verdict(FILE *f, const struct stp_probe_report *rep, bool color);

/* --- inside the engine (probe*.c) ---------------------------------------- */

/* The HTTP(S) fetch of --url through the proxy with libcurl (probe_http.c):
 * fills detail and data; returns the status of the check and, for a
 * failure, *code. proxy_url (SCHEME://HOST:PORT) is what CURLOPT_PROXY gets;
 * user/pass (NULL: none) go separately, unencoded. tls (NULL: a plain
 * proxy) is the TLS to an https:// proxy: --cacert, --cert, --key and
 * --insecure as for every other check (CURLOPT_PROXY_CAINFO and kin). */
struct stp_tls_client_cfg;
enum stp_probe_status stp_probe_http(const char *url, const char *proxy_url, const char *user,
				     const char *pass, const struct stp_tls_client_cfg *tls,
				     long timeout_ms, char *detail, size_t cap, json_t *data,
				     int *code);

#endif
