/* test-logesc.c - unit tests of the log escaping (core/logesc.h) and of the
 * session line built with it (server/logsess.h): untrusted bytes can
 * neither end a line nor fake a field, and no JSON line is ever lost. */
#include <jansson.h>
#include <string.h>
#include "core/logesc.h"
#include "server/logsess.h"
#include "tap.h"

static void esc(const char *in, bool quoted, const char *want)
{
	char out[STP_LOGESC_SIZE(64)];

	CHECK_STR(stp_logesc(out, sizeof(out), in, quoted), want, "escape '%s'%s", want,
		  quoted ? " (quoted)" : "");
}

static void test_escape(void)
{
	char out[8];

	esc("alice", false, "alice");
	esc("", false, "");
	esc("a b", false, "a\\x20b");
	esc("a b", true, "a b");
	esc("x\ny", false, "x\\ny");
	esc("x\r\ty", true, "x\\r\\ty");
	esc("q\"b\\s", false, "q\\\"b\\\\s");
	esc("\x01\x1b\x7f", false, "\\x01\\x1b\\x7f");
	esc("\xc3\xa9\xff", false, "\\xc3\\xa9\\xff");
	esc("k=v", false, "k=v");
	/* cut before an escape that would not fit, always terminated */
	CHECK_STR(stp_logesc(out, sizeof(out), "abcd\n", false), "abcd\\n", "fits exactly");
	CHECK_STR(stp_logesc(out, sizeof(out), "abcdef\n", false), "abcdef", "cut before \\n");
	CHECK_STR(stp_logesc(out, sizeof(out), "abcdefghij", false), "abcdefg", "cut plain");
	CHECK_STR(stp_logesc(out, 1, "abc", false), "", "cap 1");
}

static struct stp_sess_rec rec(const char *user, const char *userid, const char *target)
{
	struct stp_sess_rec r = {
		.client = "10.0.0.7:4242", .user = user, .userid = userid, .cmd = "connect",
		.target = target, .up = 5, .down = 1000, .duration = 1.25, .result = "ok",
		.socks = 4,
	};
	return r;
}

static void test_text(void)
{
	char line[STP_SESS_LINE_MAX];
	struct stp_sess_rec r = rec(NULL, NULL, "example.org:80");

	CHECK_INT(stp_sess_format(&r, false, line, sizeof(line)), (long long)strlen(line), "length");
	CHECK_STR(line, "session client=10.0.0.7:4242 user=- cmd=connect target=example.org:80 "
		  "up=5 down=1000 duration=1.250s result=\"ok\"", "plain line");
	r = rec("alice", "x\nstp-serve: session client=10.0.0.5:1 user=root", "h\n:1");
	stp_sess_format(&r, false, line, sizeof(line));
	CHECK(!strchr(line, '\n'), "no newline from userid or target");
	CHECK_STR(line, "session client=10.0.0.7:4242 user=alice userid=x\\nstp-serve:\\x20session"
		  "\\x20client=10.0.0.5:1\\x20user=root cmd=connect target=h\\n:1 up=5 down=1000 "
		  "duration=1.250s result=\"ok\"", "escaped fields");
	r = rec(NULL, NULL, NULL);
	r.result = "bad\" result=\"ok";
	stp_sess_format(&r, false, line, sizeof(line));
	CHECK_HAS(line, "target=- ", "no target");
	CHECK_HAS(line, "result=\"bad\\\" result=\\\"ok\"", "quote in result");
	CHECK_INT(stp_sess_format(&r, false, line, 20), -1, "too small a buffer");
}

static void test_json(void)
{
	char line[STP_SESS_LINE_MAX], big[256];
	struct stp_sess_rec r = rec(NULL, "bob\xff", "caf\xe9.example:80");
	json_t *j;

	CHECK(stp_sess_format(&r, true, line, sizeof(line)) > 0, "JSON line with non-UTF-8");
	j = json_loads(line, 0, NULL);
	CHECK(j != NULL, "parses: %s", line);
	CHECK(json_is_null(json_object_get(j, "user")), "user null");
	CHECK_STR(json_string_value(json_object_get(j, "userid")), "bob\\xff", "userid");
	CHECK_STR(json_string_value(json_object_get(j, "target")), "caf\\xe9.example:80", "target");
	CHECK_INT(json_integer_value(json_object_get(j, "bytes_down")), 1000, "bytes_down");
	CHECK_INT(json_integer_value(json_object_get(j, "socks")), 4, "socks");
	json_decref(j);
	/* the longest fields still fit */
	memset(big, '\x01', 255);
	big[255] = '\0';
	r = rec(big, big, big);
	r.result = big;
	CHECK(stp_sess_format(&r, true, line, sizeof(line)) > 0, "longest JSON fields fit");
	CHECK(stp_sess_format(&r, false, line, sizeof(line)) > 0, "longest text fields fit");
	r = rec("alice", NULL, "x:1");
	stp_sess_format(&r, true, line, sizeof(line));
	CHECK(!strstr(line, "userid"), "no userid key without one: %s", line);
}

/* Issue 16 item 14: the time first, and a duration to the millisecond. */
static void test_time(void)
{
	static const char first[] = "{\"ts\":\"2026-12-02T17:44:03.123Z\",\"event\":\"session\",";
	char ts[STP_SESS_TS_SIZE], line[STP_SESS_LINE_MAX];
	struct stp_sess_rec r = rec(NULL, NULL, "x:1");

	CHECK_STR(stp_sess_ts(1796233443123, ts, sizeof(ts)), "2026-12-02T17:44:03.123Z",
		  "RFC 3339, UTC, milliseconds");
	CHECK_STR(stp_sess_ts(0, ts, sizeof(ts)), "1970-01-01T00:00:00.000Z", "the epoch");
	CHECK_STR(stp_sess_ts(5, ts, sizeof(ts)), "1970-01-01T00:00:00.005Z", "leading zeros");
	r.ts_ms = 1796233443123;
	r.duration = 0.051;
	CHECK(stp_sess_format(&r, true, line, sizeof(line)) > 0, "JSON line");
	CHECK(strncmp(line, first, strlen(first)) == 0, "ts first: %s", line);
	CHECK_HAS(line, "\"duration\":0.051,", "0.051, not 0.050999999999999997");
	r.duration = 12345.6789;
	stp_sess_format(&r, true, line, sizeof(line));
	CHECK_HAS(line, "\"duration\":12345.679,", "rounded to the millisecond");
	r.duration = 0.0004;
	stp_sess_format(&r, true, line, sizeof(line));
	CHECK_HAS(line, "\"duration\":0.0,", "below half a millisecond");
	r.duration = 2.0;
	stp_sess_format(&r, true, line, sizeof(line));
	CHECK_HAS(line, "\"duration\":2.0,", "still a real");
	r.duration = 0.051;
	stp_sess_format(&r, false, line, sizeof(line));
	CHECK_HAS(line, " duration=0.051s ", "text: three decimals");
}

int main(void)
{
	test_escape();
	test_text();
	test_json();
	test_time();
	return tap_done();
}
