/* fuzz-clientcfg.c - libFuzzer target for client configuration documents
 * (clientcfg.c): the input is a document; when it parses, every route must
 * name known proxies, and the hosts taken from its own patterns (and a few
 * fixed ones) are routed. A refusal must be a one-line usage error. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz.h"
#include "client/clientcfg.h"

static struct stp_clientcfg cfg;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const hosts[] = {
		"a.example", "10.1.2.3", "::1", "fd00::5", "localhost", "", "*", "x.",
	};
	struct stp_err e = { 0, "" };
	const char *urls[STP_MAX_HOPS];
	int n;

	if (stp_clientcfg_parse(&cfg, (const char *)data, size, &e) < 0) {
		FUZZ_ASSERT(e.code == STP_EXIT_USAGE && e.msg[0] != '\0');
		FUZZ_ASSERT(!strchr(e.msg, '\n'));
		return 0;
	}
	FUZZ_ASSERT(cfg.nproxies <= STP_CFG_PROXIES_MAX && cfg.nroutes <= STP_CFG_ROUTES_MAX);
	for (int i = 0; i < cfg.nroutes; i++) {
		const struct stp_cfg_route *r = &cfg.routes[i];
		FUZZ_ASSERT(r->nvia >= 0 && r->nvia <= STP_MAX_HOPS);
		for (int k = 0; k < r->nvia; k++)
			FUZZ_ASSERT(r->via[k] >= 0 && r->via[k] < cfg.nproxies);
		/* a pattern's own text, as a host (it need not fit itself) */
		int got = stp_clientcfg_route(&cfg, r->match, urls, &n);
		FUZZ_ASSERT(got >= -1 && got < cfg.nroutes);
	}
	for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
		int got = stp_clientcfg_route(&cfg, hosts[i], urls, &n);
		FUZZ_ASSERT(got < cfg.nroutes && n >= 0 && n <= STP_MAX_HOPS);
		if (got >= 0)
			FUZZ_ASSERT(n == cfg.routes[got].nvia);
	}
	stp_clientcfg_route(&cfg, NULL, urls, &n);
	return 0;
}
