/* test-rules.c - unit tests of the access rules (libcommon/server/policy/rules.h, SPEC
 * §3.6): parsing and its messages, and first-match evaluation by each
 * field: from, user, command, to (CIDR, *.domain, name), ports; how
 * targets are judged (unspecified, v4-mapped) and which are protected. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include "server/policy/rules.h"
#include "proto/socks.h"
#include "tap.h"

static struct stp_rules *parse(const char *text)
{
	json_error_t je;
	json_t *j = json_loads(text, 0, &je);
	struct stp_err e = { 0 };
	struct stp_rules *r;

	if (!j) {
		DIAG("bad JSON in test: %s", je.text);
		return NULL;
	}
	r = stp_rules_parse(j, "rules", &e);
	if (!r)
		DIAG("  %s: %s", text, e.msg);
	json_decref(j);
	return r;
}

static void parse_bad(const char *text, const char *want)
{
	json_t *j = json_loads(text, JSON_DECODE_ANY, NULL);
	struct stp_err e = { 0 };
	struct stp_rules *r = j ? stp_rules_parse(j, "rules", &e) : NULL;

	CHECK(j && !r && e.code == STP_EXIT_USAGE, "refused: %s", text);
	CHECK_HAS(e.msg, want, "message for %s", text);
	stp_rules_free(r);
	json_decref(j);
}

static struct sockaddr_storage sa(const char *ip)
{
	struct sockaddr_storage s;

	memset(&s, 0, sizeof(s));
	if (strchr(ip, ':')) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&s;
		a->sin6_family = AF_INET6;
		inet_pton(AF_INET6, ip, &a->sin6_addr);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&s;
		a->sin_family = AF_INET;
		inet_pton(AF_INET, ip, &a->sin_addr);
	}
	return s;
}

/* Evaluates rules for one request; returns the deciding index, and the
 * decision in *allow. */
static int decide(const struct stp_rules *r, const char *client, const char *user,
		  unsigned cmd, const char *name, const char *addr, uint16_t port, bool *allow)
{
	struct sockaddr_storage c = sa(client), t;
	struct stp_rule_req q = {
		.client = (struct sockaddr *)&c, .user = user, .cmd = cmd,
		.name = name, .port = port,
	};
	int idx;

	if (addr) {
		t = sa(addr);
		q.addr = (struct sockaddr *)&t;
	}
	*allow = stp_rules_allow(r, &q, &idx);
	return idx;
}

#define EXPECT(r, client, user, cmd, name, addr, port, want_allow, want_idx) do { \
	bool al_; \
	int ix_ = decide(r, client, user, cmd, name, addr, port, &al_); \
	CHECK(al_ == (want_allow) && ix_ == (want_idx), \
	      "%s %s user=%s %s %s:%d -> %s by %d", client, stp_rule_cmd_name(cmd), \
	      user ? user : "-", name ? name : "", addr ? addr : "", port, \
	      (want_allow) ? "allow" : "deny", want_idx); \
	if (al_ != (want_allow) || ix_ != (want_idx)) \
		DIAG("  got %s by %d", al_ ? "allow" : "deny", ix_); \
} while (0)

int main(void)
{
	struct stp_rules *r;
	bool allow;

	/* no rules: everything is allowed */
	CHECK(decide(NULL, "10.0.0.1", NULL, STP_RC_CONNECT, NULL, "1.2.3.4", 80, &allow) == -1 &&
	      allow, "no rules allow");
	r = parse("[]");
	CHECK(r && stp_rules_count(r) == 0, "an empty array is zero rules");
	EXPECT(r, "10.0.0.1", NULL, STP_RC_CONNECT, NULL, "1.2.3.4", 80, true, -1);
	stp_rules_free(r);

	/* from */
	r = parse("[{\"action\":\"allow\",\"from\":\"127.0.0.0/8\"}]");
	EXPECT(r, "127.0.0.5", NULL, STP_RC_CONNECT, NULL, "1.2.3.4", 80, true, 0);
	EXPECT(r, "10.0.0.1", NULL, STP_RC_CONNECT, NULL, "1.2.3.4", 80, false, -1);
	EXPECT(r, "::ffff:127.0.0.1", NULL, STP_RC_CONNECT, NULL, "1.2.3.4", 80, true, 0);
	EXPECT(r, "::1", NULL, STP_RC_CONNECT, NULL, "1.2.3.4", 80, false, -1);
	stp_rules_free(r);
	r = parse("{\"action\":\"deny\",\"from\":\"2001:db8::/32\"}");
	CHECK(r && stp_rules_count(r) == 1, "one object is one rule");
	EXPECT(r, "2001:db8::7", NULL, STP_RC_CONNECT, NULL, "1.2.3.4", 80, false, 0);
	EXPECT(r, "2001:db9::7", NULL, STP_RC_CONNECT, NULL, "1.2.3.4", 80, false, -1);
	stp_rules_free(r);
	r = parse("[{\"action\":\"allow\",\"from\":\"192.168.1.7\"},"
		  "{\"action\":\"allow\",\"from\":\"10.1.0.0/17\"}]");
	EXPECT(r, "192.168.1.7", NULL, STP_RC_CONNECT, NULL, "1.2.3.4", 80, true, 0);
	EXPECT(r, "192.168.1.8", NULL, STP_RC_CONNECT, NULL, "1.2.3.4", 80, false, -1);
	EXPECT(r, "10.1.127.255", NULL, STP_RC_CONNECT, NULL, "1.2.3.4", 80, true, 1);
	EXPECT(r, "10.1.128.0", NULL, STP_RC_CONNECT, NULL, "1.2.3.4", 80, false, -1);
	stp_rules_free(r);

	/* user: only an authenticated one matches */
	r = parse("[{\"action\":\"deny\",\"user\":\"mallory\"},{\"action\":\"allow\",\"user\":\"alice\"}]");
	EXPECT(r, "10.0.0.1", "alice", STP_RC_CONNECT, NULL, "1.2.3.4", 80, true, 1);
	EXPECT(r, "10.0.0.1", "mallory", STP_RC_CONNECT, NULL, "1.2.3.4", 80, false, 0);
	EXPECT(r, "10.0.0.1", NULL, STP_RC_CONNECT, NULL, "1.2.3.4", 80, false, -1);
	EXPECT(r, "10.0.0.1", "Alice", STP_RC_CONNECT, NULL, "1.2.3.4", 80, false, -1);
	stp_rules_free(r);

	/* user: a GSS-API principal NAME@REALM also matches a realm-less NAME;
	 * a name with a realm only that realm; a password user is never cut */
	r = parse("[{\"action\":\"allow\",\"user\":\"alice\"},"
		  "{\"action\":\"allow\",\"user\":\"bob@EXAMPLE.NET\"}]");
	{
		static const struct {
			const char *user;
			bool principal, allow;
			int idx;
		} v[] = {
			{ "alice@STP.TEST", true, true, 0 },
			{ "alice@STP.TEST", false, false, -1 },
			{ "alice", true, true, 0 },
			{ "alicex@STP.TEST", true, false, -1 },
			{ "ali@STP.TEST", true, false, -1 },
			{ "bob@EXAMPLE.NET", true, true, 1 },
			{ "bob@EXAMPLE.NET", false, true, 1 },
			{ "bob@OTHER.NET", true, false, -1 },
			{ "bob", true, false, -1 },
		};
		struct sockaddr_storage c = sa("10.0.0.1"), t = sa("1.2.3.4");
		for (size_t k = 0; k < sizeof(v) / sizeof(v[0]); k++) {
			struct stp_rule_req q = {
				.client = (struct sockaddr *)&c, .user = v[k].user,
				.principal = v[k].principal, .cmd = STP_RC_CONNECT,
				.addr = (struct sockaddr *)&t, .port = 80,
			};
			int idx;
			bool al = stp_rules_allow(r, &q, &idx);
			CHECK(al == v[k].allow && idx == v[k].idx, "user %s (%s) -> %s by %d",
			      v[k].user, v[k].principal ? "principal" : "password",
			      v[k].allow ? "allow" : "deny", v[k].idx);
		}
	}
	stp_rules_free(r);

	/* command, one or several */
	r = parse("[{\"action\":\"allow\",\"command\":\"connect,resolve\"},"
		  "{\"action\":\"deny\",\"command\":\"bind\"},{\"action\":\"allow\"}]");
	EXPECT(r, "10.0.0.1", NULL, STP_RC_CONNECT, NULL, "1.2.3.4", 80, true, 0);
	EXPECT(r, "10.0.0.1", NULL, STP_RC_RESOLVE, "x.org", NULL, 0, true, 0);
	EXPECT(r, "10.0.0.1", NULL, STP_RC_BIND, NULL, "0.0.0.0", 0, false, 1);
	EXPECT(r, "10.0.0.1", NULL, STP_RC_UDP, NULL, "0.0.0.0", 0, true, 2);
	stp_rules_free(r);
	CHECK(stp_rule_cmd_of(5, STP_CMD_CONNECT) == STP_RC_CONNECT, "CONNECT is connect");
	CHECK(stp_rule_cmd_of(5, STP_CMD_BIND_MULTI) == STP_RC_BIND, "BIND_MULTI is bind");
	CHECK(stp_rule_cmd_of(5, STP_CMD_UDP_TCP) == STP_RC_UDP, "UDP_TCP is udp");
	CHECK(stp_rule_cmd_of(5, STP_CMD_RESOLVE_PTR) == STP_RC_RESOLVE, "RESOLVE_PTR is resolve");
	CHECK(stp_rule_cmd_of(4, STP4_BIND) == STP_RC_BIND, "SOCKS4 BIND is bind");
	CHECK(stp_rule_cmd_of(5, STP_CMD_FEATURES) == 0, "FEATURES is not governed");
	CHECK(stp_rule_cmd_of(5, STP_CMD_ATTACH) == 0, "ATTACH is not governed");

	/* to: CIDR vs names, *.domain vs addresses, exact names */
	r = parse("[{\"action\":\"deny\",\"to\":\"10.0.0.0/8\"},"
		  "{\"action\":\"allow\",\"to\":\"*.example.org\"},"
		  "{\"action\":\"allow\",\"to\":\"host.test\"},"
		  "{\"action\":\"allow\",\"to\":\"2001:db8::/64\"}]");
	EXPECT(r, "1.1.1.1", NULL, STP_RC_CONNECT, NULL, "10.2.3.4", 80, false, 0);
	EXPECT(r, "1.1.1.1", NULL, STP_RC_CONNECT, "www.example.org", NULL, 80, true, 1);
	EXPECT(r, "1.1.1.1", NULL, STP_RC_CONNECT, "WWW.Example.ORG.", NULL, 80, true, 1);
	EXPECT(r, "1.1.1.1", NULL, STP_RC_CONNECT, "example.org", NULL, 80, true, 1);
	EXPECT(r, "1.1.1.1", NULL, STP_RC_CONNECT, "badexample.org", NULL, 80, false, -1);
	EXPECT(r, "1.1.1.1", NULL, STP_RC_CONNECT, "host.test", NULL, 80, true, 2);
	EXPECT(r, "1.1.1.1", NULL, STP_RC_CONNECT, "a.host.test", NULL, 80, false, -1);
	/* a name before resolution: the CIDR rule does not match ... */
	EXPECT(r, "1.1.1.1", NULL, STP_RC_CONNECT, "intra.example.org", NULL, 80, true, 1);
	/* ... and after it, the address decides first */
	EXPECT(r, "1.1.1.1", NULL, STP_RC_CONNECT, "intra.example.org", "10.0.0.9", 80, false, 0);
	EXPECT(r, "1.1.1.1", NULL, STP_RC_CONNECT, "www.example.org", "93.184.216.34", 80, true, 1);
	/* an address never matches a domain rule */
	EXPECT(r, "1.1.1.1", NULL, STP_RC_CONNECT, NULL, "93.184.216.34", 80, false, -1);
	EXPECT(r, "1.1.1.1", NULL, STP_RC_CONNECT, NULL, "2001:db8::1", 80, true, 3);
	EXPECT(r, "1.1.1.1", NULL, STP_RC_CONNECT, NULL, "::ffff:10.0.0.1", 80, false, 0);
	CHECK_STR(stp_rules_text(r, 1), "{\"action\":\"allow\",\"to\":\"*.example.org\"}",
		  "rule text for the log");
	stp_rules_free(r);

	/* ports */
	r = parse("[{\"action\":\"allow\",\"ports\":\"80,443,1024-65535\"},"
		  "{\"action\":\"allow\",\"ports\":22}]");
	EXPECT(r, "1.1.1.1", NULL, STP_RC_CONNECT, NULL, "1.2.3.4", 80, true, 0);
	EXPECT(r, "1.1.1.1", NULL, STP_RC_CONNECT, NULL, "1.2.3.4", 443, true, 0);
	EXPECT(r, "1.1.1.1", NULL, STP_RC_CONNECT, NULL, "1.2.3.4", 1024, true, 0);
	EXPECT(r, "1.1.1.1", NULL, STP_RC_CONNECT, NULL, "1.2.3.4", 65535, true, 0);
	EXPECT(r, "1.1.1.1", NULL, STP_RC_CONNECT, NULL, "1.2.3.4", 1023, false, -1);
	EXPECT(r, "1.1.1.1", NULL, STP_RC_CONNECT, NULL, "1.2.3.4", 22, true, 1);
	stp_rules_free(r);

	/* all fields at once; first match wins */
	r = parse("[{\"action\":\"allow\",\"from\":\"127.0.0.1\",\"user\":\"bob\","
		  "\"command\":\"connect\",\"to\":\"127.0.0.0/8\",\"ports\":\"8000-8999\"},"
		  "{\"action\":\"deny\"},{\"action\":\"allow\"}]");
	EXPECT(r, "127.0.0.1", "bob", STP_RC_CONNECT, NULL, "127.0.0.1", 8080, true, 0);
	EXPECT(r, "127.0.0.1", "bob", STP_RC_CONNECT, NULL, "127.0.0.1", 9000, false, 1);
	EXPECT(r, "127.0.0.2", "bob", STP_RC_CONNECT, NULL, "127.0.0.1", 8080, false, 1);
	EXPECT(r, "127.0.0.1", "bob", STP_RC_BIND, NULL, "127.0.0.1", 8080, false, 1);
	stp_rules_free(r);

	/* targets are judged where the kernel sends: unspecified as loopback,
	 * v4-mapped as IPv4; a deny rule naming the unspecified address still
	 * matches it; other commands' DST as given (BIND's zeros: any peer) */
	r = parse("[{\"action\":\"deny\",\"to\":\"127.0.0.0/8\"},"
		  "{\"action\":\"deny\",\"to\":\"::1\"},"
		  "{\"action\":\"deny\",\"to\":\"0.0.0.0/32\"},{\"action\":\"allow\"}]");
	EXPECT(r, "127.0.0.1", NULL, STP_RC_CONNECT, NULL, "0.0.0.0", 80, false, 0);
	EXPECT(r, "127.0.0.1", NULL, STP_RC_CONNECT, NULL, "::ffff:0.0.0.0", 80, false, 0);
	EXPECT(r, "127.0.0.1", NULL, STP_RC_CONNECT, NULL, "::ffff:127.0.0.9", 80, false, 0);
	EXPECT(r, "127.0.0.1", NULL, STP_RC_CONNECT, NULL, "::", 80, false, 1);
	EXPECT(r, "127.0.0.1", NULL, STP_RC_UDP, NULL, "0.0.0.0", 53, false, 0);
	EXPECT(r, "127.0.0.1", NULL, STP_RC_CONNECT, "zero.test", "0.0.0.0", 80, false, 0);
	EXPECT(r, "127.0.0.1", NULL, STP_RC_CONNECT, NULL, "10.0.0.1", 80, true, 3);
	EXPECT(r, "127.0.0.1", NULL, STP_RC_BIND, NULL, "0.0.0.0", 0, false, 2);
	EXPECT(r, "127.0.0.1", NULL, STP_RC_MUX, NULL, "::", 0, true, 3);
	stp_rules_free(r);
	r = parse("[{\"action\":\"allow\",\"to\":\"0.0.0.0\"},{\"action\":\"deny\"}]");
	EXPECT(r, "127.0.0.1", NULL, STP_RC_CONNECT, NULL, "0.0.0.0", 80, false, 1);
	stp_rules_free(r);

	/* protected targets, and the rules that name them */
	CHECK(stp_rules_protected((struct sockaddr *)&(struct sockaddr_storage){ 0 }) == false,
	      "no address, not protected");
	{
		static const char *const yes[] = {
			"127.0.0.1", "127.255.0.1", "0.0.0.0", "::", "::1", "::ffff:0.0.0.0",
			"::ffff:127.0.0.1", "169.254.169.254", "::ffff:169.254.0.1", "fe80::1",
			"febf::1",
		};
		static const char *const no[] = {
			"10.0.0.1", "128.0.0.1", "169.255.0.1", "0.0.0.1", "::2", "fec0::1",
			"2001:db8::1", "224.0.0.1",
		};
		for (size_t k = 0; k < sizeof(yes) / sizeof(yes[0]); k++) {
			struct sockaddr_storage t = sa(yes[k]);
			CHECK(stp_rules_protected((struct sockaddr *)&t), "%s is protected", yes[k]);
		}
		for (size_t k = 0; k < sizeof(no) / sizeof(no[0]); k++) {
			struct sockaddr_storage t = sa(no[k]);
			CHECK(!stp_rules_protected((struct sockaddr *)&t), "%s is not", no[k]);
		}
	}
	r = parse("[{\"action\":\"allow\",\"to\":\"169.254.169.254\"},"
		  "{\"action\":\"allow\",\"to\":\"127.0.0.0/8\"},"
		  "{\"action\":\"allow\",\"to\":\"fe80::/10\"},"
		  "{\"action\":\"allow\",\"to\":\"0.0.0.0/0\"},"
		  "{\"action\":\"allow\",\"to\":\"*\"},"
		  "{\"action\":\"deny\",\"to\":\"127.0.0.1\"},"
		  "{\"action\":\"allow\",\"to\":\"126.0.0.0/7\"},"
		  "{\"action\":\"allow\",\"to\":\"0.0.0.0\"}]");
	CHECK(stp_rules_unlocks(r, 0) && stp_rules_unlocks(r, 1) && stp_rules_unlocks(r, 2),
	      "allow rules whose to is inside a protected network unlock it");
	CHECK(!stp_rules_unlocks(r, 3) && !stp_rules_unlocks(r, 4), "0.0.0.0/0 and * do not");
	CHECK(!stp_rules_unlocks(r, 5), "a deny rule does not");
	CHECK(!stp_rules_unlocks(r, 6), "a network wider than a protected one does not");
	CHECK(!stp_rules_unlocks(r, 7), "the unspecified address is not loopback's name");
	CHECK(!stp_rules_unlocks(r, -1) && !stp_rules_unlocks(r, 8) && !stp_rules_unlocks(NULL, 0),
	      "no rule unlocks nothing");
	stp_rules_free(r);

	/* errors name the rule and the key */
	parse_bad("[{\"from\":\"1.2.3.4\"}]", "rules[0]: no \"action\"");
	parse_bad("[{\"action\":\"maybe\"}]", "rules[0].action: expected allow or deny");
	parse_bad("[{\"action\":\"allow\"},{\"action\":\"allow\",\"frm\":\"x\"}]",
		  "rules[1]: unknown key 'frm'");
	parse_bad("[{\"action\":\"allow\",\"from\":\"1.2.3.4/33\"}]", "rules[0].from: not an address");
	parse_bad("[{\"action\":\"allow\",\"from\":\"10.0.0.0/\"}]", "rules[0].from");
	parse_bad("[{\"action\":\"allow\",\"to\":\"a b\"}]", "rules[0].to: expected CIDR");
	parse_bad("[{\"action\":\"allow\",\"command\":\"connect,fly\"}]", "rules[0].command");
	parse_bad("[{\"action\":\"allow\",\"ports\":\"70000\"}]", "rules[0].ports");
	parse_bad("[{\"action\":\"allow\",\"ports\":\"90-80\"}]", "rules[0].ports");
	parse_bad("[{\"action\":\"allow\",\"ports\":\"80,\"}]", "rules[0].ports");
	parse_bad("[{\"action\":\"allow\",\"ports\":-1}]", "rules[0].ports");
	parse_bad("[{\"action\":\"allow\",\"user\":7}]", "rules[0].user: expected a string");
	parse_bad("[\"allow\"]", "rules[0]: a rule is a JSON object");
	parse_bad("42", "rules: expected an array");
	return tap_done();
}
