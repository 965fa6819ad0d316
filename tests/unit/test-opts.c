/* test-opts.c - unit tests of the checked number parsers of
 * libcommon/core/opts.h: stp_parse_bytes (sizes and rates such as "1.5M",
 * used by stp-serve --bandwidth and stp-probe --bandwidth) and
 * stp_parse_long, with the messages that name the option. */
#include <limits.h>
#include <string.h>
#include "core/opts.h"
#include "tap.h"

/* Expects s to parse to want within [1, 1T]. */
static void bytes_ok(const char *s, long want)
{
	struct stp_err e = { 0 };
	long v = -7;

	if (!CHECK(stp_parse_bytes(s, 1, STP_BYTES_MAX, &v, "--bandwidth", &e) == 0,
		   "'%s' parses", s))
		DIAG("  %s", e.msg);
	CHECK_INT(v, want, "'%s' is %ld bytes", s, want);
}

/* Expects s to be refused as a usage error whose message contains want;
 * the output is left alone. */
static void bytes_bad(const char *s, long min, long max, const char *want)
{
	struct stp_err e = { 0 };
	long v = -7;
	int rc = stp_parse_bytes(s, min, max, &v, "--bandwidth", &e);

	CHECK(rc == -1 && e.code == STP_EXIT_USAGE, "'%s' is a usage error", s);
	CHECK_STR(e.msg, want, "'%s': the message names the option and the value", s);
	CHECK_INT(v, -7, "'%s' leaves the output alone", s);
}

static void test_bytes_numbers(void)
{
	bytes_ok("1", 1);
	bytes_ok("200000", 200000);
	bytes_ok("1099511627776", 1099511627776L);
	/* fractions (stp-serve's rates took them; stp-probe's sizes now do) */
	bytes_ok("1.5", 1);
	bytes_ok("2.5k", 2560);
	bytes_ok(".5k", 512);
	bytes_ok("0.5M", 524288);
	/* an exponent, as a JSON number reaches the configuration */
	bytes_ok("1e6", 1000000);
	bytes_ok("2.5e3", 2500);
}

static void test_bytes_suffixes(void)
{
	bytes_ok("200k", 204800);
	bytes_ok("200K", 204800);
	bytes_ok("10m", 10485760);
	bytes_ok("10M", 10485760);
	bytes_ok("1.5M", 1572864);
	bytes_ok("1g", 1073741824);
	bytes_ok("1G", 1073741824);
	bytes_ok("1024G", STP_BYTES_MAX);
}

static void test_bytes_syntax(void)
{
	static const char *bad[] = {
		"", "k", "M", "abc", "10x", "10kk", "10 k", " 10", "10 ", "-5", "+5",
		"0x10", "inf", "nan", "1T", "1.5.5", "1e", "1kB",
	};
	char want[160];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(want, sizeof(want), "--bandwidth: not a number of bytes "
			 "(such as 200000, 200k or 1.5M): '%s'", bad[i]);
		bytes_bad(bad[i], 1, STP_BYTES_MAX, want);
	}
}

static void test_bytes_range(void)
{
	bytes_bad("0", 1, STP_BYTES_MAX, "--bandwidth: 0 is out of range 1..1T");
	bytes_bad("0.5", 1, STP_BYTES_MAX, "--bandwidth: 0.5 is out of range 1..1T");
	bytes_bad("1025G", 1, STP_BYTES_MAX, "--bandwidth: 1025G is out of range 1..1T");
	bytes_bad("1099511627777", 1, STP_BYTES_MAX,
		  "--bandwidth: 1099511627777 is out of range 1..1T");
	bytes_bad("1e300", 1, STP_BYTES_MAX, "--bandwidth: 1e300 is out of range 1..1T");
	/* the limits are shown with the suffix that divides them exactly */
	bytes_bad("1k", 2048, 3 << 20, "--bandwidth: 1k is out of range 2k..3M");
	bytes_bad("4M", 1000, 1536, "--bandwidth: 4M is out of range 1000..1536");
	/* a long cannot hold 2^63: refused even when max is LONG_MAX */
	bytes_bad("8589934592G", 1, LONG_MAX,
		  "--bandwidth: 8589934592G is out of range 1..9223372036854775807");
}

static void test_long(void)
{
	struct stp_err e = { 0 };
	long v = -7;

	CHECK(stp_parse_long("42", 1, 64, &v, "--workers", &e) == 0 && v == 42, "42 in 1..64");
	CHECK(stp_parse_long("65", 1, 64, &v, "--workers", &e) == -1 && v == 42,
	      "65 is out of 1..64");
	CHECK_STR(e.msg, "--workers: 65 is out of range 1..64", "the range message");
	CHECK(stp_parse_long("4x", 1, 64, &v, "--workers", &e) == -1, "4x is refused");
	CHECK_STR(e.msg, "--workers: not a number: '4x'", "the syntax message");
}

int main(void)
{
	test_bytes_numbers();
	test_bytes_suffixes();
	test_bytes_syntax();
	test_bytes_range();
	test_long();
	return tap_done();
}
