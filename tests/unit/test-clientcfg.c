/* test-clientcfg.c - unit tests of client configuration documents
 * (libcommon/client/clientcfg.h, SPEC §2.5): route matching ("*", "*.domain",
 * names, addresses, CIDR ranges), the first route winning, "direct", and
 * every refusal with its line and column or the key at fault. */
#include <stdlib.h>
#include <string.h>
#include "client/clientcfg.h"
#include "tap.h"

static struct stp_clientcfg cfg;

static const char doc[] =
	"{\"proxies\": {\"corp\": \"socks5h://proxy.corp.example:1080\",\n"
	"               \"gw\": \"socks5://gw.example\",\n"
	"               \"inner\": \"socks5h://user:pw@10.1.2.3:1081\"},\n"
	" \"routes\": [{\"match\": \"*.corp.example\", \"via\": [\"gw\", \"inner\"]},\n"
	"            {\"match\": \"10.0.0.0/8\", \"via\": \"direct\"},\n"
	"            {\"match\": \"fd00::/8\", \"via\": \"direct\"},\n"
	"            {\"match\": \"Exact.Example.\", \"via\": \"corp\"},\n"
	"            {\"match\": \"192.168.1.7\", \"via\": \"direct\"},\n"
	"            {\"match\": \"*\", \"via\": [\"corp\"]}],\n"
	" \"comment\": \"unknown keys are ignored\"}";

/* The chain chosen for host as "url url ..." or "direct" or "none". */
static const char *route(const char *host, char *buf, size_t cap)
{
	const char *urls[STP_MAX_HOPS];
	int n;

	if (stp_clientcfg_route(&cfg, host, urls, &n) < 0)
		return "none";
	if (n == 0)
		return "direct";
	buf[0] = '\0';
	for (int i = 0; i < n; i++) {
		strncat(buf, i ? " " : "", cap - strlen(buf) - 1);
		strncat(buf, urls[i], cap - strlen(buf) - 1);
	}
	return buf;
}

static void bad(const char *text, const char *want)
{
	struct stp_err e = { 0, "" };
	int rc = stp_clientcfg_parse(&cfg, text, strlen(text), &e);

	CHECK(rc == -1 && e.code == STP_EXIT_USAGE, "refused: %s", want);
	CHECK(strstr(e.msg, want) != NULL, "message names it: '%s' in '%s'", want, e.msg);
}

int main(void)
{
	struct stp_err e = { 0, "" };
	char b[512];

	CHECK(stp_clientcfg_parse(&cfg, doc, strlen(doc), &e) == 0, "the example parses (%s)", e.msg);
	CHECK_INT(cfg.nproxies, 3, "three proxies");
	CHECK_INT(cfg.nroutes, 6, "six routes");
	CHECK_STR(route("db.corp.example", b, sizeof(b)),
		  "socks5://gw.example socks5h://user:pw@10.1.2.3:1081", "*.domain: a chain, in order");
	CHECK_STR(route("A.B.CORP.EXAMPLE", b, sizeof(b)),
		  "socks5://gw.example socks5h://user:pw@10.1.2.3:1081", "*.domain: any depth, any case");
	CHECK_STR(route("corp.example", b, sizeof(b)), "socks5h://proxy.corp.example:1080",
		  "*.domain does not match the domain itself");
	CHECK_STR(route("xcorp.example", b, sizeof(b)), "socks5h://proxy.corp.example:1080",
		  "*.domain needs the dot");
	CHECK_STR(route("10.200.3.4", b, sizeof(b)), "direct", "CIDR: an address inside");
	CHECK_STR(route("11.0.0.1", b, sizeof(b)), "socks5h://proxy.corp.example:1080",
		  "CIDR: an address outside falls through to *");
	CHECK_STR(route("fd12::1", b, sizeof(b)), "direct", "IPv6 CIDR");
	CHECK_STR(route("fe80::1", b, sizeof(b)), "socks5h://proxy.corp.example:1080",
		  "IPv6 outside");
	CHECK_STR(route("exact.example", b, sizeof(b)), "socks5h://proxy.corp.example:1080",
		  "exact name, case and trailing dot ignored");
	CHECK_STR(route("192.168.1.7", b, sizeof(b)), "direct", "a single address");
	CHECK_STR(route("192.168.1.8", b, sizeof(b)), "socks5h://proxy.corp.example:1080",
		  "the next address is not it");
	CHECK_STR(route(NULL, b, sizeof(b)), "socks5h://proxy.corp.example:1080",
		  "no host: only * applies");

	/* names never match CIDR ranges: nothing is resolved */
	CHECK(!stp_clientcfg_match("10.0.0.0/8", "ten.example"), "a name is not in a range");
	CHECK(stp_clientcfg_match("0.0.0.0/0", "8.8.8.8"), "/0 takes every IPv4 address");
	CHECK(!stp_clientcfg_match("0.0.0.0/0", "::1"), "/0 of IPv4 is not IPv6");
	CHECK(stp_clientcfg_match("10.1.2.0/23", "10.1.3.255"), "/23, upper half");
	CHECK(!stp_clientcfg_match("10.1.2.0/23", "10.1.4.0"), "/23, just outside");
	CHECK(stp_clientcfg_match("::1", "0:0::1"), "IPv6 compared as addresses");

	/* a document without a "*" route: an unmatched host has none */
	const char *d2 = "{\"routes\": [{\"match\": \"a.example\", \"via\": \"direct\"}]}";
	CHECK(stp_clientcfg_parse(&cfg, d2, strlen(d2), &e) == 0, "no proxies needed for direct");
	CHECK_STR(route("b.example", b, sizeof(b)), "none", "no route fits");
	CHECK_STR(route(NULL, b, sizeof(b)), "none", "no host, no * route");

	/* refusals */
	bad("{\"routes\": [", "line 1 column 12");
	bad("{\"routes\": []}\n{}", "line 2");
	bad("[]", "not a JSON object");
	bad("{}", "no \"routes\"");
	bad("{\"routes\": {}}", "\"routes\" must be a list");
	bad("{\"routes\": [1]}", "routes[0]: not an object");
	bad("{\"routes\": [{\"via\": \"direct\"}]}", "routes[0].match");
	bad("{\"routes\": [{\"match\": \"a*b\", \"via\": \"direct\"}]}", "routes[0].match");
	bad("{\"routes\": [{\"match\": \"10.0.0.0/33\", \"via\": \"direct\"}]}", "routes[0].match");
	bad("{\"routes\": [{\"match\": \"*\"}]}", "routes[0]: no \"via\"");
	bad("{\"routes\": [{\"match\": \"*\", \"via\": \"nobody\"}]}", "unknown proxy 'nobody'");
	bad("{\"routes\": [{\"match\": \"*\", \"via\": []}]}", "routes[0].via");
	bad("{\"proxies\": {\"a\": \"socks5://h\"}, \"routes\": [{\"match\": \"*\", \"via\": [\"a\", 3]}]}",
	    "routes[0].via[1]");
	bad("{\"proxies\": {\"a\": \"ftp://h\"}, \"routes\": []}", "proxies.a");
	bad("{\"proxies\": {\"a\": 5}, \"routes\": []}", "proxies.a: not a URL");
	bad("{\"proxies\": {\"direct\": \"socks5://h\"}, \"routes\": []}", "bad proxy name 'direct'");
	bad("{\"proxies\": [], \"routes\": []}", "\"proxies\" must be an object");
	bad("{\"routes\": [], \"routes\": []}", "duplicate");
	CHECK(cfg.nroutes == 0 && cfg.nproxies == 0, "a refused document leaves nothing behind");

	CHECK(stp_clientcfg_source("http://x/cfg.json") == STP_CFG_CURL, "http is fetched by libcurl");
	CHECK(stp_clientcfg_source("HTTPS://x/") == STP_CFG_CURL, "https, any case");
	CHECK(stp_clientcfg_source("file:///etc/x") == STP_CFG_CURL, "file:// URLs too");
	CHECK(stp_clientcfg_source("socks5h://proxy") == STP_CFG_PROXY, "a proxy URL: CONFIG");
	CHECK(stp_clientcfg_source("socks4://proxy") == STP_CFG_PROXY, "any SOCKS scheme");
	CHECK(stp_clientcfg_source("./cfg.json") == STP_CFG_FILE, "a path is a file");
	CHECK(stp_clientcfg_source("socks.json") == STP_CFG_FILE, "even one starting with socks");
	return tap_done();
}
