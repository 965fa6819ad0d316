/* clientopts.h - the options every client program takes (SPEC §2.2), declared
 * once: the table, the handler, and the finishing step that turns -x, the
 * environment (STP_PROXY, ALL_PROXY, NO_PROXY, STP_PASSWORD) and -U into a
 * chain of hops. A program joins its own table with stp_client_optdefs. */
#ifndef STP_CLIENTOPTS_H
#define STP_CLIENTOPTS_H

#include <stdbool.h>
#include "client/client.h"
#include "proto/err.h"
#include "core/msg.h"
#include "core/opts.h"

/* Keys of the long-only common options; programs use 256..0xFFF. */
enum { STP_CO_PASSWORD_FILE = 0x1000, STP_CO_JSON, STP_CO_CACERT, STP_CO_CERT, STP_CO_KEY,
       STP_CO_INSECURE, STP_CO_CONFIG, STP_CO_KEEPALIVE, STP_CO_GSSAPI,
       STP_CO_GSSAPI_SERVICE, STP_CO_GSSAPI_PROTECTION };

extern const struct stp_optdef stp_client_optdefs[];

/* A URL with a password is kept in one of these while argv shows it
 * scrubbed: room for the longest proxy URL stp_url_parse takes. */
#define STP_URL_KEEP 2048

struct stp_clientopts {
	struct stp_client client;     /* hops filled by stp_clientopts_finish */
	const char *urls[STP_MAX_HOPS];  /* argv, the environment, or kept[] */
	int nurls;
	char *user_arg;               /* -U, scrubbed from argv when finished */
	const char *password_file;
	const char *config;           /* --config FILE|URL (SPEC 2.5), argv or kept[] */
	char kept[STP_MAX_HOPS + 1][STP_URL_KEEP];  /* -x's, then --config's */
	bool json;
	struct stp_log log;           /* stderr, prog, level from -v/-q */
};

void stp_clientopts_init(struct stp_clientopts *co, const char *prog);

enum { STP_CO_NOT_MINE = 0, STP_CO_TAKEN = 1, STP_CO_HELP = 2, STP_CO_VERSION = 3 };
/* Takes option c (with its argument) if it is a common one. A password in
 * a URL argument (-x, --config) is overwritten in arg, which is argv's, so
 * that ps does not show it; co keeps a copy. Returns one of the STP_CO_*
 * values, or -1 with a usage error in e. */
int stp_clientopts_take(struct stp_clientopts *co, int c, char *arg, struct stp_err *e);

/* Appends a proxy URL to the chain as -x does (a program's operand, say):
 * keeps a copy and scrubs the password in url. Returns 0, or -1 with a
 * usage error (too many proxies, too long; what names the option). */
int stp_clientopts_add_url(struct stp_clientopts *co, char *url, const char *what,
			   struct stp_err *e);

/* Builds the chain: -x, else the route for host in the client configuration
 * (--config, else STP_CONFIG; see clientcfg.h), else STP_PROXY, all_proxy,
 * ALL_PROXY; NO_PROXY / no_proxy is consulted for host (NULL: not at all);
 * -U's credentials go to the last hop without its own. Returns 0, 1 when
 * host is to be reached directly (NO_PROXY, a "direct" route), or -1 with e
 * (a usage error naming the bad part; fetching the configuration from a
 * proxy fails with the codes of SPEC 2.3). */
int stp_clientopts_finish(struct stp_clientopts *co, const char *host, struct stp_err *e);

/* Wipes the passwords held in the hops and the kept URLs. */
void stp_clientopts_wipe(struct stp_clientopts *co);

#endif
