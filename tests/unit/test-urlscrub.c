/* test-urlscrub.c - unit tests of stp_url_scrub (libcommon/proto/url.h):
 * the password of a URL in argv is overwritten in place, all of it and
 * nothing else, for proxy URLs as stp_url_parse reads them and for http(s)
 * URLs with a path. */
#include <string.h>
#include "proto/url.h"
#include "tap.h"

/* Scrubs a copy of in; expects want and the return value scrubbed. */
static void scrub(const char *in, const char *want, bool scrubbed)
{
	char buf[256];

	snprintf(buf, sizeof(buf), "%s", in);
	CHECK_INT(stp_url_scrub(buf), scrubbed, "'%s': %s", in,
		  scrubbed ? "has a password" : "has no password");
	/* not CHECK_STR: gcc -O1 with the sanitizers sees a NULL in its message */
	if (!CHECK(strcmp(buf, want) == 0, "'%s' becomes '%s'", in, want))
		DIAG("  got '%s'", buf);
}

static void test_proxy_urls(void)
{
	scrub("socks5h://alice:secret@127.0.0.1:1080", "socks5h://alice:******@127.0.0.1:1080", true);
	scrub("socks5hs://alice:s3cret@localhost:1080/", "socks5hs://alice:******@localhost:1080/", true);
	scrub("SOCKS5://u:pw@[2001:db8::1]:1081", "SOCKS5://u:**@[2001:db8::1]:1081", true);
	scrub("socks4a://u:x@h", "socks4a://u:*@h", true);
	/* no scheme: still a proxy URL (socks5h) */
	scrub("alice:secret@proxy.example", "alice:******@proxy.example", true);
	/* percent-escapes are overwritten as they stand */
	scrub("socks5://u:p%40ss@h", "socks5://u:******@h", true);
}

/* The parser takes the user to the first ':' and the password to the last
 * '@'; the scrubber must hide every byte of that password. */
static void test_raw_specials(void)
{
	scrub("socks5h://alice:p@ss@host", "socks5h://alice:****@host", true);
	scrub("socks5h://alice:a/b@host", "socks5h://alice:***@host", true);
	scrub("socks5h://alice:a:b@host", "socks5h://alice:***@host", true);
	scrub("alice:p@ss@host:1080", "alice:****@host:1080", true);
}

static void test_nothing_to_scrub(void)
{
	scrub("", "", false);
	scrub("socks5h://127.0.0.1:1080", "socks5h://127.0.0.1:1080", false);
	scrub("socks5://alice@host", "socks5://alice@host", false);
	scrub("socks5://alice:@host", "socks5://alice:@host", false);
	scrub("host:1080", "host:1080", false);
	scrub("/etc/stp/client.json", "/etc/stp/client.json", false);
	scrub("socks5://", "socks5://", false);
}

static void test_http_urls(void)
{
	scrub("http://bob:pw@auth.example/check", "http://bob:**@auth.example/check", true);
	scrub("https://bob:pw@auth.example:8443/c?x=1", "https://bob:**@auth.example:8443/c?x=1", true);
	/* an '@' in the path, query or fragment is not the end of userinfo */
	scrub("http://auth.example:8080/a@b", "http://auth.example:8080/a@b", false);
	scrub("https://auth.example/x?u=a:b@c", "https://auth.example/x?u=a:b@c", false);
	scrub("http://h:1/#a:b@c", "http://h:1/#a:b@c", false);
	scrub("http://bob:pw@h/path@x", "http://bob:**@h/path@x", true);
}

/* What stays must still parse to the same proxy: only the password moved. */
static void test_parses_after(void)
{
	char url[] = "socks5h://alice:secret@proxy.example:1081";
	struct stp_proxy p;
	struct stp_err e = { 0 };

	stp_url_scrub(url);
	if (!CHECK(stp_url_parse(url, &p, &e) == 0, "a scrubbed URL parses"))
		return;
	CHECK_STR(p.host, "proxy.example", "same host");
	CHECK_INT(p.port, 1081, "same port");
	CHECK_STR(p.user, "alice", "same user");
	CHECK_STR(p.pass, "******", "the password is gone from the text");
	stp_proxy_wipe(&p);
}

int main(void)
{
	test_proxy_urls();
	test_raw_specials();
	test_nothing_to_scrub();
	test_http_urls();
	test_parses_after();
	return tap_done();
}
