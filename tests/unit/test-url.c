/* test-url.c - unit tests of the proxy URL parser (libcommon/proto/url.h, SPEC
 * §2.1): every scheme, the defaults, brackets, credentials and their
 * percent-decoding, and every error with its message. */
#include <stdlib.h>
#include <string.h>
#include "proto/url.h"
#include "tap.h"

/* Parses s, expecting success; failures are reported with the message. */
static int parse_ok(const char *s, struct stp_proxy *p)
{
	struct stp_err e = { 0 };

	memset(p, 0, sizeof(*p));
	if (stp_url_parse(s, p, &e) == 0)
		return 1;
	DIAG("  '%s': %s", s, e.msg);
	return 0;
}

/* Expects s to be refused as a usage error whose message contains want. */
static void parse_bad(const char *s, const char *want)
{
	struct stp_proxy p;
	struct stp_err e = { 0 };
	int rc;

	memset(&p, 0x5a, sizeof(p));
	rc = stp_url_parse(s, &p, &e);
	CHECK(rc == -1 && e.code == STP_EXIT_USAGE, "'%s' is a usage error", s);
	CHECK_HAS(e.msg, want, "'%s' message names the problem", s);
	CHECK(((unsigned char *)&p)[0] == 0x5a && p.host[0] == 0x5a && p.pass[0] == 0x5a,
	      "'%s' leaves the output alone", s);
}

static void test_schemes(void)
{
	static const struct {
		const char *url, *scheme;
		int proto, remote_dns, tls;
	} t[] = {
		{ "socks4://h", "socks4", 4, 0, 0 },
		{ "socks4a://h", "socks4a", 4, 1, 0 },
		{ "socks5://h", "socks5", 5, 0, 0 },
		{ "socks5h://h", "socks5h", 5, 1, 0 },
		{ "socks5s://h", "socks5s", 5, 0, 1 },
		{ "socks5hs://h", "socks5hs", 5, 1, 1 },
		{ "SOCKS5H://h", "socks5h", 5, 1, 0 },
		{ "Socks4A://h", "socks4a", 4, 1, 0 },
		{ "sOcKs5Hs://h", "socks5hs", 5, 1, 1 },
		{ "h", "socks5h", 5, 1, 0 },
		{ "http://h", "http", 80, 1, 0 },
		{ "https://h", "https", 80, 1, 1 },
		{ "HTTP://h/", "http", 80, 1, 0 },
	};
	struct stp_proxy p;
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (!CHECK(parse_ok(t[i].url, &p), "parse '%s'", t[i].url))
			continue;
		CHECK(!strcmp(p.scheme, t[i].scheme) && (int)p.proto == t[i].proto &&
		      p.remote_dns == !!t[i].remote_dns && p.tls == !!t[i].tls &&
		      !strcmp(p.host, "h") && p.port == 1080 && !p.has_user && !p.has_pass,
		      "'%s' is %s, SOCKS%d, %s resolves%s", t[i].url, t[i].scheme, t[i].proto,
		      t[i].remote_dns ? "proxy" : "client", t[i].tls ? ", TLS" : "");
	}
}

static void test_hosts(void)
{
	static const struct {
		const char *url, *host;
		unsigned port;
	} t[] = {
		{ "proxy.example", "proxy.example", 1080 },
		{ "proxy.example:1081", "proxy.example", 1081 },
		{ "proxy.example:1080/", "proxy.example", 1080 },
		{ "proxy.example/", "proxy.example", 1080 },
		{ "socks5://192.0.2.1:65535", "192.0.2.1", 65535 },
		{ "socks5://192.0.2.1:1", "192.0.2.1", 1 },
		{ "socks5://192.0.2.1:00080", "192.0.2.1", 80 },
		{ "[::1]", "::1", 1080 },
		{ "[::1]:9050", "::1", 9050 },
		{ "socks5h://[2001:db8::1]:1080/", "2001:db8::1", 1080 },
		{ "socks5://[::ffff:192.0.2.1]:7", "::ffff:192.0.2.1", 7 },
		{ "u:p@[::1]:2", "::1", 2 },
		{ "localhost", "localhost", 1080 },
		{ "my-proxy_1.example:443", "my-proxy_1.example", 443 },
	};
	struct stp_proxy p;
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (!CHECK(parse_ok(t[i].url, &p), "parse '%s'", t[i].url))
			continue;
		CHECK(!strcmp(p.host, t[i].host) && p.port == t[i].port,
		      "'%s' is host '%s' port %u", t[i].url, t[i].host, t[i].port);
		if (strcmp(p.host, t[i].host) || p.port != t[i].port)
			DIAG("  got '%s' %u", p.host, p.port);
	}
}

static void test_userinfo(void)
{
	struct stp_proxy p;
	char url[1200], user[300];

	if (CHECK(parse_ok("alice@proxy.example", &p), "parse user only"))
		CHECK(p.has_user && !p.has_pass && !strcmp(p.user, "alice") && p.pass[0] == '\0' &&
		      !strcmp(p.host, "proxy.example"), "user only");
	if (CHECK(parse_ok("socks5://alice:s3cret@proxy.example:1081", &p), "parse user:pass"))
		CHECK(p.has_user && p.has_pass && !strcmp(p.user, "alice") &&
		      !strcmp(p.pass, "s3cret") && p.port == 1081, "user:pass");
	if (CHECK(parse_ok("alice:@h", &p), "parse user with empty password"))
		CHECK(p.has_user && p.has_pass && p.pass[0] == '\0', "user: gives an empty password");
	if (CHECK(parse_ok("a%40b%3a:p%3Aw%25%2F@h", &p), "parse percent-escapes"))
		CHECK(!strcmp(p.user, "a@b:") && !strcmp(p.pass, "p:w%/"),
		      "percent-decoding (%%40 -> @, %%3a/%%3A -> :, %%25 -> %%)");
	if (CHECK(parse_ok("u:p@ss@h", &p), "parse raw '@' in the password"))
		CHECK(!strcmp(p.user, "u") && !strcmp(p.pass, "p@ss") && !strcmp(p.host, "h"),
		      "userinfo ends at the last '@'");
	if (CHECK(parse_ok("u:a:b@h", &p), "parse ':' in the password"))
		CHECK(!strcmp(p.user, "u") && !strcmp(p.pass, "a:b"), "user ends at the first ':'");
	if (CHECK(parse_ok("u:pa/ss@h/", &p), "parse '/' in the password"))
		CHECK(!strcmp(p.pass, "pa/ss") && !strcmp(p.host, "h"), "'/' in the password");
	if (CHECK(parse_ok("%C3%A9t%C3%A9:x@h", &p), "parse UTF-8 user"))
		CHECK(!strcmp(p.user, "\xc3\xa9t\xc3\xa9"), "UTF-8 user decoded to bytes");

	memset(user, 'u', 255);
	user[255] = '\0';
	snprintf(url, sizeof(url), "%s:%s@h", user, user);
	if (CHECK(parse_ok(url, &p), "parse 255-byte user and password"))
		CHECK(strlen(p.user) == 255 && strlen(p.pass) == 255, "255-byte user and password");
	strcpy(url, "");
	for (int i = 0; i < 255; i++)
		strcat(url, "%41");
	strcat(url, "@h");
	if (CHECK(parse_ok(url, &p), "parse 255 escaped bytes"))
		CHECK(strlen(p.user) == 255 && p.user[0] == 'A', "255 escaped bytes");
	snprintf(url, sizeof(url), "%su@h", user);
	parse_bad(url, "proxy user too long");
	snprintf(url, sizeof(url), "u:%sp@h", user);
	parse_bad(url, "proxy password too long");

	parse_ok("u:p@h", &p);
	stp_proxy_wipe(&p);
	CHECK(!p.has_user && !p.has_pass && p.user[0] == '\0' && p.pass[0] == '\0' &&
	      !memcmp(p.pass, (char[256]){ 0 }, 256), "wipe clears the credentials");
	CHECK(!strcmp(p.host, "h") && p.port == 1080, "wipe keeps host and port");
	stp_proxy_wipe(NULL);
	CHECK(1, "wipe NULL");
}

static void test_errors(void)
{
	struct stp_err e = { 0 };
	struct stp_proxy p;
	char host[300], url[320];

	parse_bad("ftp://proxy:21", "unknown scheme 'ftp' (use socks4, socks4a, socks5, "
		  "socks5h, socks5s, socks5hs, http or https)");
	parse_bad("http://proxy:3128/path", "unexpected '/path' after host");
	parse_bad("socks6://h", "unknown scheme 'socks6'");
	parse_bad("socks5hss://h", "unknown scheme 'socks5hss'");
	parse_bad("://h", "empty scheme");
	parse_bad("h:99999", "bad port '99999' in proxy URL");
	parse_bad("h:65536", "bad port '65536'");
	parse_bad("h:0", "bad port '0'");
	parse_bad("h:", "bad port ''");
	parse_bad("h:80a", "bad port '80a'");
	parse_bad("h:-1", "bad port '-1'");
	parse_bad("h:+80", "bad port '+80'");
	parse_bad("h:123456789012345678901234567890", "bad port '1234567890");
	parse_bad("[::1]:99999", "bad port '99999'");
	parse_bad("[::1]:", "bad port ''");
	parse_bad("", "empty proxy URL");
	parse_bad("socks5://", "empty host in proxy URL");
	parse_bad("socks5:///", "empty host in proxy URL");
	parse_bad(":1080", "empty host in proxy URL");
	parse_bad("u:p@", "empty host in proxy URL");
	parse_bad("u:p@:80", "empty host in proxy URL");
	parse_bad("[]:80", "empty host in proxy URL");
	parse_bad("[::1", "unclosed '[' in proxy URL");
	parse_bad("socks5://[::1:1080", "unclosed '[' in proxy URL");
	parse_bad("[::1]x", "unexpected 'x' after ']'");
	parse_bad("[::1]]", "unexpected ']' after ']'");
	parse_bad("[zz::1]", "bad IPv6 address '[zz::1]'");
	parse_bad("[192.0.2.1]", "bad IPv6 address");
	parse_bad("::1", "needs brackets");
	parse_bad("2001:db8::1:1080", "needs brackets");
	parse_bad("%zz@h", "bad percent-escape in proxy user");
	parse_bad("%4@h", "bad percent-escape in proxy user");
	parse_bad("ab%@h", "bad percent-escape in proxy user");
	parse_bad("u:%4@h", "bad percent-escape in proxy password");
	parse_bad("u:%g0@h", "bad percent-escape in proxy password");
	parse_bad("u%00@h", "%00 in proxy user");
	parse_bad("u:a%00b@h", "%00 in proxy password");
	parse_bad("@h", "empty user in proxy URL");
	parse_bad(":pw@h", "empty user in proxy URL");
	parse_bad("h/path", "unexpected '/path' after host");
	parse_bad("h:80/x", "unexpected '/x' after host");
	parse_bad("h//", "unexpected '/' after host");
	parse_bad("h?q", "unexpected '?q' after host");
	parse_bad("h#f", "unexpected '#f' after host");
	parse_bad("pro xy", "bad character 0x20 in proxy host");
	parse_bad("pro\txy", "bad character 0x09 in proxy host");
	parse_bad("h%41", "bad character '%' in proxy host");
	parse_bad("a]b", "bad character ']' in proxy host");

	memset(host, 'h', 256);
	host[256] = '\0';
	parse_bad(host, "proxy host too long");
	host[255] = '\0';
	snprintf(url, sizeof(url), "socks5://%s:1", host);
	if (CHECK(parse_ok(url, &p), "parse 255-byte host"))
		CHECK(strlen(p.host) == 255, "255-byte host kept");

	/* The password never appears in a message. */
	stp_url_parse("u:topsecret%zz@h", &p, &e);
	CHECK(!strstr(e.msg, "topsecret"), "a bad password is not quoted");
	stp_url_parse("u:topsecret@h:99999", &p, &e);
	CHECK(!strstr(e.msg, "topsecret"), "the password is not quoted for a bad port");
	stp_url_parse("u:topsecret@h/x", &p, &e);
	CHECK(!strstr(e.msg, "topsecret"), "the password is not quoted for trailing text");

	/* Unprintable input is not echoed. */
	stp_url_parse("h:8\x1b[31m", &p, &e);
	CHECK(!strchr(e.msg, '\x1b'), "an escape character is not echoed");

	CHECK(stp_url_parse("ftp://h", &p, NULL) == -1, "NULL error pointer");
	CHECK(stp_url_parse(NULL, &p, &e) == -1 && e.code == STP_EXIT_USAGE, "NULL URL");
}

static void test_hostport(void)
{
	struct stp_proxy p;
	char buf[300];

	parse_ok("u:secret@[2001:db8::1]:1081", &p);
	CHECK_STR(stp_proxy_hostport(&p, buf, sizeof(buf)), "[2001:db8::1]:1081", "hostport IPv6");
	parse_ok("socks5://u:secret@192.0.2.1", &p);
	CHECK_STR(stp_proxy_hostport(&p, buf, sizeof(buf)), "192.0.2.1:1080", "hostport IPv4");
	parse_ok("proxy.example:9", &p);
	CHECK_STR(stp_proxy_hostport(&p, buf, sizeof(buf)), "proxy.example:9", "hostport name");
	CHECK_STR(stp_proxy_hostport(&p, buf, 6), "proxy", "hostport truncates to cap");
	CHECK_STR(stp_proxy_hostport(&p, buf, 0), "", "hostport cap 0");
}

int main(void)
{
	test_schemes();
	test_hosts();
	test_userinfo();
	test_errors();
	test_hostport();
	return tap_done();
}
