/* test-config.c - stp-serve's configuration (config.c): defaults, a good
 * file with every kind of value, the command line over the file, and each
 * kind of bad file or option with its message and exit code 2. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/config.h"
#include "server/policy/rules.h"
#include "tap.h"

static char dir[] = "/tmp/test-config.XXXXXX";
static char path[sizeof(dir) + 32];

/* Writes text to the test's file; returns its path (static). */
static const char *file_of(const char *text)
{
	FILE *f;

	snprintf(path, sizeof(path), "%s/stp.json", dir);
	f = fopen(path, "w");
	if (!f || fputs(text, f) == EOF || fclose(f) != 0) {
		DIAG("cannot write %s", path);
		exit(1);
	}
	return path;
}

/* Builds from text (NULL: no file) and args; on failure, e holds the
 * message with the file's path replaced by "F". */
static int build(struct stp_server_cfg *c, const char *text, const struct stp_cfg_args *a,
		 struct stp_err *e)
{
	const char *p = text ? file_of(text) : NULL;
	int rc;

	memset(e, 0, sizeof(*e));
	rc = stp_cfg_build(c, p, a, e);
	if (rc < 0 && p && strncmp(e->msg, p, strlen(p)) == 0) {
		size_t n = strlen(p);
		e->msg[0] = 'F';
		memmove(e->msg + 1, e->msg + n, strlen(e->msg + n) + 1);
	}
	return rc;
}

static void test_defaults(void)
{
	struct stp_server_cfg c;
	struct stp_err e;

	CHECK_INT(build(&c, NULL, NULL, &e), 0, "no file, no options: builds");
	CHECK_INT(c.nlisten, 1, "one listener");
	CHECK_STR(c.listen[0], "127.0.0.1:1080", "on 127.0.0.1:1080");
	CHECK_INT(c.handshake_timeout_ms, 10000, "handshake-timeout 10 s");
	CHECK_INT(c.idle_timeout_ms, 0, "no idle timeout");
	CHECK_INT(c.workers, 1, "one worker");
	CHECK_INT(c.log.level, STP_LOG_INFO, "log level info");
	CHECK(c.rules == NULL && !c.open && c.nupstream == 0, "no rules, not open, no upstream");
	stp_cfg_release(&c);
	CHECK(c.mem == NULL, "release frees what it owns");

	CHECK_INT(build(&c, "{}", NULL, &e), 0, "an empty object: builds");
	CHECK_STR(c.listen[0], "127.0.0.1:1080", "the same defaults");
	CHECK_STR(c.config_file, path, "the file is remembered for SIGHUP");
	stp_cfg_release(&c);
}

static void test_good_file(void)
{
	struct stp_server_cfg c;
	struct stp_err e;
	const char *text =
		"{\n"
		"  \"listen\": [\"127.0.0.1:0\", \"[::1]:1081\"],\n"
		"  \"tls-listen\": \"0.0.0.0:8443\",\n"
		"  \"cert\": \"c.pem\", \"key\": \"k.pem\",\n"
		"  \"resolver\": [\"192.0.2.53\", \"[2001:db8::53]:5353\"],\n"
		"  \"idle-timeout\": 1.5,\n"
		"  \"handshake-timeout\": 3,\n"
		"  \"max-sessions\": 100,\n"
		"  \"max-sessions-per-client\": 0,\n"
		"  \"workers\": 2,\n"
		"  \"bandwidth\": \"200k\",\n"
		"  \"user-bandwidth\": 1000,\n"
		"  \"open\": true,\n"
		"  \"log-format\": \"json\",\n"
		"  \"verbose\": 1,\n"
		"  \"mcast-max-ttl\": 5,\n"
		"  \"upstream\": \"socks5h://up.example:1080\",\n"
		"  \"rules\": [{\"action\": \"allow\", \"to\": \"127.0.0.0/8\"}, {\"action\": \"deny\"}]\n"
		"}\n";

	if (!CHECK(build(&c, text, NULL, &e) == 0, "a file with every kind of value builds"))
		DIAG("%s", e.msg);
	if (!c.mem)
		return;
	CHECK_INT(c.nlisten, 3, "three listeners, in order");
	CHECK_STR(c.listen[1], "[::1]:1081", "an array's items");
	CHECK_STR(c.listen[2], "0.0.0.0:8443", "a string for a list key");
	CHECK(!c.listen_tls[0] && !c.listen_tls[1] && c.listen_tls[2], "only tls-listen is TLS");
	CHECK_STR(c.tls_cert, "c.pem", "cert");
	CHECK_STR(c.resolvers, "192.0.2.53:53,[2001:db8::53]:5353", "resolvers, with ports");
	CHECK_INT(c.idle_timeout_ms, 1500, "seconds as a fraction");
	CHECK_INT(c.handshake_timeout_ms, 3000, "seconds as an integer");
	CHECK_INT(c.max_sessions, 100, "max-sessions");
	CHECK_INT(c.workers, 2, "workers");
	CHECK_INT(c.bandwidth, 200 * 1024, "a rate as a string with a suffix");
	CHECK_INT(c.user_bandwidth, 1000, "a rate as a number");
	CHECK(c.open, "open");
	CHECK(c.log.json, "log-format json");
	CHECK_INT(c.log.level, STP_LOG_INFO + 1, "verbose 1");
	CHECK_INT(c.mcast_max_ttl, 5, "mcast-max-ttl");
	CHECK_INT(c.nupstream, 1, "one upstream");
	CHECK(c.rules && stp_rules_count(c.rules) == 2, "two rules");
	stp_cfg_release(&c);
}

static void test_args_over_file(void)
{
	struct stp_server_cfg c;
	struct stp_cfg_args a = { 0 };
	struct stp_err e;
	const char *text = "{\"listen\": [\"127.0.0.1:1\", \"127.0.0.1:2\"], \"idle-timeout\": 5,"
			   " \"rules\": [{\"action\": \"deny\"}, {\"action\": \"allow\"}]}";

	CHECK_INT(stp_cfg_args_add(&a, "listen", "127.0.0.1:3", &e), 0, "--listen is a key");
	CHECK_INT(stp_cfg_args_add(&a, "listen", "127.0.0.1:4", &e), 0, "twice");
	CHECK_INT(stp_cfg_args_add(&a, "idle-timeout", "7", &e), 0, "--idle-timeout");
	CHECK_INT(stp_cfg_args_add(&a, "rules", "{\"action\": \"allow\"}", &e), 0, "--rules");
	CHECK_INT(stp_cfg_args_add(&a, "verbose", NULL, &e), 0, "-v");
	CHECK_INT(stp_cfg_args_add(&a, "verbose", NULL, &e), 0, "-v again");
	CHECK_INT(build(&c, text, &a, &e), 0, "file and command line build");
	CHECK_INT(c.nlisten, 2, "the command line's listeners replace the file's");
	CHECK(c.nlisten == 2 && !strcmp(c.listen[0], "127.0.0.1:3") &&
	      !strcmp(c.listen[1], "127.0.0.1:4"), "... both of them, in order");
	CHECK_INT(c.idle_timeout_ms, 7000, "a scalar from the command line wins");
	CHECK(c.rules && stp_rules_count(c.rules) == 1, "--rules replaces the file's rules");
	CHECK_INT(c.log.level, STP_LOG_INFO + 2, "each -v adds one");
	CHECK(c.args == &a, "the arguments are remembered for SIGHUP");
	stp_cfg_release(&c);
	stp_cfg_args_free(&a);
	CHECK(a.n == 0 && a.v == NULL, "args freed");
}

struct bad {
	const char *text;
	const char *msg;   /* the whole message, the file's path as "F" */
};

static void test_bad_files(void)
{
	static const struct bad bad[] = {
		{ "[\"listen\"]", "F:1:1: expected a JSON object of options" },
		{ "{\n  \"lisen\": \"x\"\n}", "F:2:3: unknown key 'lisen'" },
		{ "{\n    \"idle-timeout\": \"60\"\n}", "F:2:5: idle-timeout: expected a number of seconds" },
		{ "{\"open\": 1}", "F:1:2: open: expected true or false" },
		{ "{\"max-sessions\": 1.5}", "F:1:2: max-sessions: expected an integer" },
		{ "{\"cert\": 3}", "F:1:2: cert: expected a string" },
		{ "{\"listen\": {}}", "F:1:2: listen: expected a string or an array of strings" },
		{ "{\"listen\": [\"127.0.0.1:1\", 2]}", "F:1:2: listen[1]: expected a string" },
		{ "{\"rules\": \"allow\"}", "F:1:2: rules: expected an array of rule objects" },
		{ "{\"bandwidth\": true}",
		  "F:1:2: bandwidth: expected bytes per second, a number or a string such as \"200k\"" },
		{ "{\"bandwidth\": \"fast\"}", "F:1:2: bandwidth: not a number of bytes "
		  "(such as 200000, 200k or 1.5M): 'fast'" },
		{ "{\"bandwidth\": 0}", "F:1:2: bandwidth: 0 is out of range 1..1T" },
		{ "{\"max-sessions\": 0}", "F:1:2: max-sessions: 0 is out of range 1..4194304" },
		{ "{\"handshake-timeout\": 0}",
		  "F:1:2: handshake-timeout: not a positive number of seconds: '0'" },
		{ "{\"idle-timeout\": -1}", "F:1:2: idle-timeout: -1 is out of range 0..31536000 seconds" },
		{ "{\"resolver\": \"dns.example\"}",
		  "F:1:2: resolver needs a numeric address, not 'dns.example'" },
		{ "{\"log-format\": \"xml\"}", "F:1:2: log-format: expected text or json, not 'xml'" },
		{ "{\"auth-url\": \"ftp://a\"}", "F:1:2: auth-url: expected an http:// or https:// URL" },
		{ "{\"users\": \"\"}", "F:1:2: users: empty" },
		{ "{\"listen\": [\"\"]}", "F:1:2: listen[0]: expected ADDR:PORT" },
		{ "{\"upstream\": [\"socks5s://a:1\", \"socks5hs://b:1\"]}",
		  "F:1:2: upstream[1]: only one upstream proxy of the chain may use TLS (socks5s, socks5hs, https)" },
		{ "{\"stats\": \"localhost:9\"}", "F:1:2: stats needs a numeric address, not 'localhost:9'" },
		{ "{\"verbose\": 4}", "F:1:2: verbose: 4 is out of range 0..3" },
		{ "{\"rules\": [{\"action\": \"allow\"}, {\"action\": \"deny\", \"ports\": \"80-\"}]}",
		  NULL /* rules.c's message, checked by its prefix below */ },
	};
	struct stp_server_cfg c;
	struct stp_err e;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = build(&c, bad[i].text, NULL, &e);
		CHECK(rc == -1 && e.code == STP_EXIT_USAGE && c.mem == NULL,
		      "bad file %zu: refused with code 2, nothing to free", i);
		if (bad[i].msg)
			CHECK_STR(e.msg, bad[i].msg, "bad file %zu: message", i);
		else
			CHECK_HAS(e.msg, "F:1:2: rules[1].ports: expected ports", "bad file %zu: message", i);
	}
}

static void test_bad_syntax(void)
{
	struct stp_server_cfg c;
	struct stp_err e;
	char big[64];

	CHECK_INT(build(&c, "{\n  \"listen\": [\"127.0.0.1:0\"],\n  \"open\": tru\n}\n", NULL, &e),
		  -1, "a syntax error");
	CHECK_HAS(e.msg, "F:3:", "... with its line");
	CHECK_HAS(e.msg, "invalid token near 'tru'", "... and jansson's words");
	CHECK_INT(build(&c, "{\"open\": true, \"open\": false}", NULL, &e), -1, "a key twice");
	CHECK_HAS(e.msg, "duplicate object key", "... is a syntax error");

	/* 16 listeners fit, the 17th does not */
	char text[2048] = "{\"listen\": [";
	for (int i = 0; i <= STP_MAX_LISTEN; i++) {
		snprintf(big, sizeof(big), "%s\"127.0.0.1:%d\"", i ? ", " : "", 1000 + i);
		strcat(text, big);
	}
	strcat(text, "]}");
	CHECK_INT(build(&c, text, NULL, &e), -1, "17 listeners");
	CHECK_STR(e.msg, "F:1:2: listen[16]: at most 16 listeners (at '127.0.0.1:1016')",
		  "... the 17th is named");

	CHECK_INT(stp_cfg_build(&c, "/nonexistent/stp.json", NULL, &e), -1, "a missing file");
	CHECK_STR(e.msg, "/nonexistent/stp.json: No such file or directory", "... says so");
	CHECK_INT(e.code, STP_EXIT_USAGE, "... a usage error");

	/* a file over 1 MiB: refused before parsing */
	char *huge = malloc((1 << 20) + 16);
	if (huge) {
		memset(huge, ' ', (1 << 20) + 8);
		memcpy(huge, "{}", 2);
		huge[(1 << 20) + 8] = '\0';
		CHECK_INT(build(&c, huge, NULL, &e), -1, "a file over 1 MiB");
		CHECK_STR(e.msg, "F: larger than 1 MiB", "... says so");
		free(huge);
	}
}

static void test_bad_args(void)
{
	struct stp_cfg_args a = { 0 };
	struct stp_err e;

	CHECK(stp_cfg_is_key("idle-timeout") && stp_cfg_is_key("rules"), "keys are keys");
	CHECK(!stp_cfg_is_key("config") && !stp_cfg_is_key("help"), "-c and --help are not");
	CHECK_INT(stp_cfg_args_add(&a, "nope", "1", &e), -1, "an unknown key");
	CHECK_STR(e.msg, "--nope: not a configuration option", "... named");
	CHECK_INT(stp_cfg_args_add(&a, "idle-timeout", "soon", &e), -1, "a bad value");
	CHECK_STR(e.msg, "--idle-timeout: not a number of seconds: 'soon'", "... checked at once");
	CHECK_INT(e.code, STP_EXIT_USAGE, "... a usage error");
	CHECK_INT(stp_cfg_args_add(&a, "rules", "[{\"action\": \"allow\"", &e), -1, "--rules not JSON");
	CHECK_HAS(e.msg, "--rules: not JSON: column ", "... says where");
	CHECK_INT(a.n, 0, "nothing bad was kept");
	stp_cfg_args_free(&a);
}

/* --workers takes N or "auto"; the file's key is the same option. */
static void test_workers_auto(void)
{
	struct stp_server_cfg c;
	struct stp_cfg_args a = { 0 };
	struct stp_err e;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	CHECK_INT(stp_cfg_args_add(&a, "workers", "auto", &e), 0, "--workers auto");
	stp_cfg_args_free(&a);
	if (!CHECK(build(&c, "{\"workers\": \"auto\"}", NULL, &e) == 0, "\"workers\": \"auto\" in a file"))
		DIAG("%s", e.msg);
	else
		CHECK(c.workers >= 1 && (ncpu < 1 || c.workers <= ncpu), "one per CPU");
	stp_cfg_release(&c);
	CHECK_INT(build(&c, "{\"workers\": \"many\"}", NULL, &e), -1, "\"workers\": \"many\"");
	CHECK_STR(e.msg, "F:1:2: workers: not a number: 'many'", "... refused as on the command line");
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	test_defaults();
	test_good_file();
	test_args_over_file();
	test_bad_files();
	test_bad_syntax();
	test_bad_args();
	test_workers_auto();
	unlink(path);
	rmdir(dir);
	return tap_done();
}
