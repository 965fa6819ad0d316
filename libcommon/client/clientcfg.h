/* clientcfg.h - client configuration documents (SPEC §2.5):
 *   {"proxies": {"NAME": "URL", ...},
 *    "routes": [{"match": "*.corp.example", "via": ["NAME", ...]},
 *               {"match": "10.0.0.0/8", "via": "direct"},
 *               {"match": "*", "via": ["NAME"]}]}
 * The first route whose match fits the target host decides its chain:
 * "*" (everything), "*.domain" (names below domain, not domain itself), an
 * exact name (case-insensitive, a trailing dot ignored), or an address or
 * CIDR range (matching only literal addresses: nothing is resolved). "via"
 * is "direct" (no proxy), one proxy name, or a list of 1..8 names (the
 * first is contacted first). Unknown keys are ignored.
 *
 * stp_clientcfg_parse and stp_clientcfg_route are pure (jansson, no I/O);
 * stp_clientcfg_fetch (cfgfetch.c) gets the document from a file, an
 * http(s):// or file:// URL (libcurl), or a proxy's CONFIG command. */
#ifndef STP_CLIENTCFG_H
#define STP_CLIENTCFG_H

#include <stdbool.h>
#include <stddef.h>
#include "client/client.h"
#include "proto/err.h"

#define STP_CFG_DOC_MAX (1024 * 1024)   /* the largest document accepted */
#define STP_CFG_PROXIES_MAX 64
#define STP_CFG_ROUTES_MAX 256
#define STP_CFG_NAME_MAX 64
#define STP_CFG_URL_MAX 1024

struct stp_cfg_route {
	char match[256];
	int nvia;                      /* 0 = direct */
	int via[STP_MAX_HOPS];         /* indexes into proxies[] */
};

struct stp_clientcfg {
	char names[STP_CFG_PROXIES_MAX][STP_CFG_NAME_MAX];
	char urls[STP_CFG_PROXIES_MAX][STP_CFG_URL_MAX];
	int nproxies;
	struct stp_cfg_route routes[STP_CFG_ROUTES_MAX];
	int nroutes;
};

/* Parses and checks a document (len bytes, need not be NUL-terminated).
 * Returns 0, or -1 with e (code STP_EXIT_USAGE) naming the line and column
 * of a JSON error or the offending key ("routes[2].via: unknown proxy
 * 'x'"). Every proxy URL must parse (url.h). */
int stp_clientcfg_parse(struct stp_clientcfg *c, const char *text, size_t len,
			struct stp_err *e);

/* The first route for host (NULL: a program without a target host, which
 * only a "*" route fits). Returns the route's index with urls[0..*n) set
 * (pointers into c; *n = 0 means direct), or -1 when no route fits. */
int stp_clientcfg_route(const struct stp_clientcfg *c, const char *host,
			const char *urls[STP_MAX_HOPS], int *n);

/* True if pattern fits host (the rules above). */
bool stp_clientcfg_match(const char *pattern, const char *host);

/* Where a --config value points. */
enum stp_cfg_src { STP_CFG_FILE, STP_CFG_CURL, STP_CFG_PROXY };
enum stp_cfg_src stp_clientcfg_source(const char *src);

/* Fetches the document named by src (a file name, an http(s):// or file://
 * URL, or a proxy URL asked with CONFIG; user_arg is -U's USER[:PASS] for a
 * proxy URL without credentials, or NULL) within timeout_ms, into a
 * malloc'd NUL-terminated buffer of at most STP_CFG_DOC_MAX bytes that the
 * caller frees. Returns it with *len, or NULL with e: 2 for a file that
 * cannot be read, the codes of SPEC §2.3 for a proxy, 1 for an HTTP
 * failure. */
char *stp_clientcfg_fetch(const char *src, const struct stp_client *how, size_t *len,
			  struct stp_err *e);

/* Reads a file of at most STP_CFG_DOC_MAX bytes into a malloc'd
 * NUL-terminated buffer. Returns it with *len, or NULL with e (code 2). */
char *stp_clientcfg_read_file(const char *path, size_t *len, struct stp_err *e);

#endif
