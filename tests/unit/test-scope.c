/* test-scope.c - address scopes and which relay addresses a client must
 * not use as they are (proto/scope.h), and the rules' "egress". */
#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <string.h>

#include "proto/addr.h"
#include "proto/scope.h"
#include "server/policy/rules.h"
#include "tap.h"

static struct stp_addr A(const char *host)
{
	struct stp_addr a;

	stp_addr_from_host(&a, host, 1080);
	return a;
}

static void scopes(void)
{
	static const struct { const char *host; enum stp_scope want; } t[] = {
		{ "0.0.0.0", STP_SCOPE_UNSPEC }, { "::", STP_SCOPE_UNSPEC },
		{ "127.0.0.1", STP_SCOPE_LOOPBACK }, { "::1", STP_SCOPE_LOOPBACK },
		{ "::ffff:127.0.0.2", STP_SCOPE_LOOPBACK },
		{ "169.254.169.254", STP_SCOPE_LINK }, { "fe80::1", STP_SCOPE_LINK },
		{ "10.1.2.3", STP_SCOPE_PRIVATE }, { "172.16.0.1", STP_SCOPE_PRIVATE },
		{ "172.31.255.255", STP_SCOPE_PRIVATE }, { "192.168.1.1", STP_SCOPE_PRIVATE },
		{ "100.64.0.1", STP_SCOPE_PRIVATE }, { "fd00::1", STP_SCOPE_PRIVATE },
		{ "::ffff:10.0.0.1", STP_SCOPE_PRIVATE },
		{ "172.32.0.1", STP_SCOPE_PUBLIC }, { "100.128.0.1", STP_SCOPE_PUBLIC },
		{ "203.0.113.1", STP_SCOPE_PUBLIC }, { "2001:db8::1", STP_SCOPE_PUBLIC },
		{ "example.org", STP_SCOPE_NAME },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct stp_addr a = A(t[i].host);
		CHECK_INT(stp_addr_scope(&a), t[i].want, "scope of %s", t[i].host);
	}
}

static void relays(void)
{
	struct stp_addr pub = A("203.0.113.1"), priv = A("10.0.0.7"), lo = A("127.0.0.1");
	struct stp_addr zero = A("0.0.0.0"), link = A("169.254.1.1"), pub2 = A("198.51.100.9");
	struct stp_addr name = A("proxy.example.net");
	const char *w;

	CHECK_STR(stp_relay_unroutable(&zero, NULL), "unspecified", "0.0.0.0 without a proxy address");
	CHECK_STR(stp_relay_unroutable(&zero, &lo), "unspecified", "0.0.0.0 from loopback");
	CHECK(stp_relay_unroutable(&priv, NULL) == NULL, "private, proxy unknown: left alone");
	w = stp_relay_unroutable(&priv, &pub);
	CHECK(w && strcmp(w, "a private address") == 0, "private relay, public proxy");
	CHECK(stp_relay_unroutable(&priv, &priv) == NULL, "private relay, private proxy");
	CHECK(stp_relay_unroutable(&pub, &priv) == NULL, "public relay, private proxy");
	CHECK(stp_relay_unroutable(&pub2, &pub) == NULL, "public relay, public proxy");
	CHECK_STR(stp_relay_unroutable(&lo, &priv), "a loopback address", "loopback relay");
	CHECK(stp_relay_unroutable(&lo, &lo) == NULL, "loopback relay, loopback proxy");
	CHECK_STR(stp_relay_unroutable(&link, &pub), "a link-local address", "link-local relay");
	CHECK(stp_relay_unroutable(&link, &link) == NULL, "link-local relay on the link");
	CHECK(stp_relay_unroutable(&priv, &name) == NULL, "proxy known by name only");
	CHECK(stp_relay_unroutable(&name, &pub) == NULL, "relay as a name");
}

static void egress(void)
{
	struct stp_err e = { 0, "" };
	struct sockaddr_storage out;
	struct sockaddr_in c4 = { .sin_family = AF_INET };
	char buf[64];
	json_t *j = json_loads("[{\"action\":\"allow\",\"user\":\"alice\",\"egress\":\"192.0.2.10\"},"
			       "{\"action\":\"allow\",\"to\":\"10.0.0.0/8\",\"egress\":\"::ffff:192.0.2.11\"},"
			       "{\"action\":\"allow\",\"egress\":\"2001:db8::5\"}]", 0, NULL);
	struct stp_rules *r = stp_rules_parse(j, "rules", &e);

	CHECK(r != NULL, "rules with egress parse: %s", e.msg);
	CHECK(stp_rules_egress(r, 0, AF_INET, &out), "rule 1: IPv4 source");
	CHECK_STR(stp_sa_host((struct sockaddr *)&out, buf, sizeof(buf)), "192.0.2.10", "rule 1's address");
	CHECK(!stp_rules_egress(r, 0, AF_INET6, &out), "rule 1: no IPv6 source");
	CHECK(stp_rules_egress(r, 1, AF_INET, &out), "rule 2: v4-mapped is IPv4");
	CHECK_STR(stp_sa_host((struct sockaddr *)&out, buf, sizeof(buf)), "192.0.2.11", "rule 2's address");
	CHECK(stp_rules_names_target(r, 1), "rule 2 names a target");
	CHECK(!stp_rules_names_target(r, 0), "rule 1 names none");
	CHECK(stp_rules_egress(r, 2, AF_INET6, &out), "rule 3: IPv6 source");
	CHECK(!stp_rules_egress(r, 3, AF_INET, &out), "no rule 4");
	CHECK(!stp_rules_egress(r, -1, AF_INET, &out), "no rule matched");
	(void)c4;
	stp_rules_free(r);
	json_decref(j);

	static const char *const bad[] = {
		"[{\"action\":\"deny\",\"egress\":\"192.0.2.1\"}]",
		"[{\"action\":\"allow\",\"egress\":\"0.0.0.0\"}]",
		"[{\"action\":\"allow\",\"egress\":\"10.0.0.0/8\"}]",
		"[{\"action\":\"allow\",\"egress\":\"host.example\"}]",
		"[{\"action\":\"allow\",\"egress\":7}]",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		j = json_loads(bad[i], 0, NULL);
		r = stp_rules_parse(j, "rules", &e);
		CHECK(r == NULL && e.code == STP_EXIT_USAGE && strstr(e.msg, "egress"),
		      "refused: %s (%s)", bad[i], e.msg);
		stp_rules_free(r);
		json_decref(j);
	}
}

int main(void)
{
	scopes();
	relays();
	egress();
	return tap_done();
}
