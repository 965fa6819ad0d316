/* test-dgram.c - unit tests of the datagram framings (libcommon/proto/dgram.h,
 * SPEC §2.4): each format both ways, input split at every byte, a last
 * line without a newline, over-long and malformed lines, base64 edges. */
#include <stdlib.h>
#include <string.h>
#include "proto/addr.h"
#include "proto/dgram.h"
#include "tap.h"

static uint8_t buf[STP_DGRAM_MAX];

/* Decodes all of in (fed whole, eof at the end) into at most 8 datagrams;
 * returns how many were OK, counting BAD ones in *bad. */
static int decode_all(enum stp_dgram_fmt f, const char *in, size_t n, char out[][64],
		      size_t *lens, int *bad)
{
	struct stp_dgram_reader r = { f, false };
	struct stp_dgram d = { buf, 0, false, "" };
	struct stp_err e;
	size_t off = 0;
	int nok = 0, what;

	*bad = 0;
	while (off <= n && nok < 8) {
		size_t k = stp_dgram_decode(&r, (const uint8_t *)in + off, n - off, true, &d, &what, &e);
		if (what == STP_DGRAM_OK) {
			memcpy(out[nok], d.data, d.len < 63 ? d.len : 63);
			out[nok][d.len < 63 ? d.len : 63] = '\0';
			lens[nok++] = d.len;
		} else if (what == STP_DGRAM_BAD) {
			(*bad)++;
		}
		if (k == 0)
			break;
		off += k;
	}
	return nok;
}

/* Feeds in one byte more at a time (as a slow pipe would), eof only at
 * the end; the datagrams must be the same as when fed whole. */
static int decode_split(enum stp_dgram_fmt f, const char *in, size_t n, char out[][64])
{
	struct stp_dgram_reader r = { f, false };
	struct stp_dgram d = { buf, 0, false, "" };
	struct stp_err e;
	size_t start = 0;
	int nok = 0, what;

	for (size_t end = 0; end <= n && nok < 8; end++) {
		for (;;) {
			size_t k = stp_dgram_decode(&r, (const uint8_t *)in + start, end - start,
						    end == n, &d, &what, &e);
			if (what == STP_DGRAM_OK) {
				memcpy(out[nok], d.data, d.len < 63 ? d.len : 63);
				out[nok++][d.len < 63 ? d.len : 63] = '\0';
			}
			start += k;
			if (k == 0 || start == end)
				break;
		}
	}
	return nok;
}

static void test_formats(void)
{
	char out[8][64];
	size_t lens[8];
	int bad, n;

	CHECK(1, "formats");
	enum stp_dgram_fmt f;
	CHECK(stp_dgram_fmt_parse("line", &f) == 0 && f == STP_DGRAM_LINE, "parse line");
	CHECK(stp_dgram_fmt_parse("raw", &f) == 0 && f == STP_DGRAM_RAW, "parse raw");
	CHECK(stp_dgram_fmt_parse("hex", &f) == 0 && f == STP_DGRAM_HEX, "parse hex");
	CHECK(stp_dgram_fmt_parse("json", &f) == 0 && f == STP_DGRAM_JSON, "parse json");
	CHECK(stp_dgram_fmt_parse("JSON", &f) < 0 && stp_dgram_fmt_parse("", &f) < 0, "others refused");

	/* line */
	n = decode_all(STP_DGRAM_LINE, "one\ntwo\n\nlast", 14, out, lens, &bad);
	CHECK_INT(n, 4, "line: 4 datagrams, the last without newline");
	CHECK_STR(out[0], "one", "line: first");
	CHECK(lens[2] == 0, "line: an empty line is an empty datagram");
	CHECK_STR(out[3], "last", "line: last line without newline");
	n = decode_split(STP_DGRAM_LINE, "one\ntwo\n\nlast", 14, out);
	CHECK(n == 4 && strcmp(out[1], "two") == 0 && strcmp(out[3], "last") == 0,
	      "line: split at every byte gives the same");
	n = decode_all(STP_DGRAM_LINE, "cr\r\n", 4, out, lens, &bad);
	CHECK(n == 1 && lens[0] == 3, "line: a CR stays in the payload");

	/* raw: one read, one datagram */
	n = decode_all(STP_DGRAM_RAW, "a\nb\0c", 5, out, lens, &bad);
	CHECK(n == 1 && lens[0] == 5, "raw: everything read is one datagram, NUL and newline too");

	/* hex */
	n = decode_all(STP_DGRAM_HEX, "48656c6c6f\n00 ff 7F\n\n", 21, out, lens, &bad);
	CHECK_INT(n, 3, "hex: 3 datagrams");
	CHECK_STR(out[0], "Hello", "hex: decoded");
	CHECK(lens[1] == 3 && (uint8_t)out[1][0] == 0 && (uint8_t)out[1][1] == 0xff &&
	      out[1][2] == 0x7f, "hex: blanks between bytes, both cases");
	CHECK(lens[2] == 0, "hex: an empty line is an empty datagram");
	n = decode_all(STP_DGRAM_HEX, "abc\nzz\n41\n", 10, out, lens, &bad);
	CHECK(n == 1 && bad == 2 && strcmp(out[0], "A") == 0,
	      "hex: odd digits and non-hex are bad lines, the next line still decodes");
	n = decode_split(STP_DGRAM_HEX, "4142\n43", 7, out);
	CHECK(n == 2 && strcmp(out[0], "AB") == 0 && strcmp(out[1], "C") == 0, "hex: split");

	/* json */
	const char *j = "{\"to\":\"127.0.0.1:53\",\"data\":\"aGVsbG8=\"}\n"
			"\n"
			"{\"data\":\"\"}\n"
			"{\"from\":\"[::1]:9\",\"data\":\"AAEC\"}\n";
	struct stp_dgram_reader r = { STP_DGRAM_JSON, false };
	struct stp_dgram d = { buf, 0, false, "" };
	struct stp_err e;
	int what;
	size_t k = stp_dgram_decode(&r, (const uint8_t *)j, strlen(j), false, &d, &what, &e);
	CHECK(what == STP_DGRAM_OK && d.len == 5 && memcmp(d.data, "hello", 5) == 0,
	      "json: data is base64");
	CHECK(d.has_to && strcmp(d.to, "127.0.0.1:53") == 0, "json: to");
	size_t k2 = stp_dgram_decode(&r, (const uint8_t *)j + k, strlen(j) - k, false, &d, &what, &e);
	CHECK(what == STP_DGRAM_MORE && k2 == 1, "json: a blank line is skipped");
	k += k2;
	k += stp_dgram_decode(&r, (const uint8_t *)j + k, strlen(j) - k, false, &d, &what, &e);
	CHECK(what == STP_DGRAM_OK && d.len == 0 && !d.has_to, "json: empty data, no to");
	k += stp_dgram_decode(&r, (const uint8_t *)j + k, strlen(j) - k, false, &d, &what, &e);
	CHECK(what == STP_DGRAM_OK && d.len == 3 && d.data[2] == 2, "json: from is ignored on input");
	CHECK(k == strlen(j), "json: all consumed");
	const char *badj[] = { "not json\n", "[1]\n", "{\"data\":5}\n", "{\"data\":\"a\"}\n",
			       "{\"data\":\"YQ==\",\"to\":7}\n", "{\"data\":\"Y===\"}\n",
			       "{\"data\":\"YQ==\",\"data\":\"YQ==\"}\n" };
	for (size_t i = 0; i < sizeof(badj) / sizeof(badj[0]); i++) {
		k = stp_dgram_decode(&r, (const uint8_t *)badj[i], strlen(badj[i]), false, &d,
				     &what, &e);
		CHECK(what == STP_DGRAM_BAD && k == strlen(badj[i]) && e.msg[0],
		      "json: bad line %zu refused (%s)", i, e.msg);
	}

	/* encoding */
	char o[1024];
	struct stp_addr from;
	stp_addr_from_host(&from, "192.0.2.1", 5353);
	size_t l = stp_dgram_encode(STP_DGRAM_LINE, &from, (const uint8_t *)"hi", 2, o, sizeof(o));
	CHECK(l == 3 && memcmp(o, "hi\n", 3) == 0, "encode line");
	l = stp_dgram_encode(STP_DGRAM_RAW, &from, (const uint8_t *)"hi", 2, o, sizeof(o));
	CHECK(l == 2 && memcmp(o, "hi", 2) == 0, "encode raw");
	l = stp_dgram_encode(STP_DGRAM_HEX, &from, (const uint8_t *)"\x00\xffz", 3, o, sizeof(o));
	CHECK(l == 7 && memcmp(o, "00ff7a\n", 7) == 0, "encode hex");
	l = stp_dgram_encode(STP_DGRAM_JSON, &from, (const uint8_t *)"hello", 5, o, sizeof(o));
	o[l] = '\0';
	CHECK_STR(o, "{\"from\":\"192.0.2.1:5353\",\"data\":\"aGVsbG8=\"}\n", "encode json");
	stp_addr_from_host(&from, "2001:db8::1", 53);
	l = stp_dgram_encode(STP_DGRAM_JSON, &from, (const uint8_t *)"", 0, o, sizeof(o));
	o[l] = '\0';
	CHECK_STR(o, "{\"from\":\"[2001:db8::1]:53\",\"data\":\"\"}\n", "encode json: IPv6, empty");
	CHECK(stp_dgram_encode(STP_DGRAM_HEX, NULL, (const uint8_t *)"abc", 3, o, 6) == 0,
	      "encode: short cap gives 0");
	/* round trip through json: every byte value */
	uint8_t all[256];
	for (int i = 0; i < 256; i++)
		all[i] = (uint8_t)i;
	l = stp_dgram_encode(STP_DGRAM_JSON, NULL, all, 256, o, sizeof(o));
	k = stp_dgram_decode(&r, (const uint8_t *)o, l, false, &d, &what, &e);
	CHECK(what == STP_DGRAM_OK && k == l && d.len == 256 && memcmp(d.data, all, 256) == 0,
	      "json round trip of all 256 byte values");
	l = stp_dgram_encode(STP_DGRAM_HEX, NULL, all, 150, o, sizeof(o));
	struct stp_dgram_reader rh = { STP_DGRAM_HEX, false };
	k = stp_dgram_decode(&rh, (const uint8_t *)o, l, false, &d, &what, &e);
	CHECK(what == STP_DGRAM_OK && d.len == 150 && memcmp(d.data, all, 150) == 0,
	      "hex round trip");
}

static void test_long_lines(void)
{
	size_t n = STP_DGRAM_MAX + 10;
	char *in = malloc(n + 8);
	struct stp_dgram_reader r = { STP_DGRAM_LINE, false };
	struct stp_dgram d = { buf, 0, false, "" };
	struct stp_err e;
	int what;

	memset(in, 'x', n);
	/* no newline yet: the line is known to be too long, dropped up to its end */
	size_t k = stp_dgram_decode(&r, (const uint8_t *)in, n, false, &d, &what, &e);
	CHECK(what == STP_DGRAM_BAD && k == n && r.skipping, "line: over-long line is bad");
	memcpy(in, "more\nok\n", 8);
	k = stp_dgram_decode(&r, (const uint8_t *)in, 8, false, &d, &what, &e);
	CHECK(what == STP_DGRAM_MORE && k == 5 && !r.skipping, "line: its rest is skipped");
	k = stp_dgram_decode(&r, (const uint8_t *)in + 5, 3, false, &d, &what, &e);
	CHECK(what == STP_DGRAM_OK && d.len == 2, "line: the next line is fine");
	/* the longest line that is still a datagram */
	memset(in, 'y', STP_DGRAM_MAX);
	in[STP_DGRAM_MAX] = '\n';
	k = stp_dgram_decode(&r, (const uint8_t *)in, STP_DGRAM_MAX + 1, false, &d, &what, &e);
	CHECK(what == STP_DGRAM_OK && d.len == STP_DGRAM_MAX, "line: %d bytes is fine", STP_DGRAM_MAX);
	/* raw: at most STP_DGRAM_MAX per datagram */
	struct stp_dgram_reader rr = { STP_DGRAM_RAW, false };
	k = stp_dgram_decode(&rr, (const uint8_t *)in, STP_DGRAM_MAX + 1, false, &d, &what, &e);
	CHECK(what == STP_DGRAM_OK && k == STP_DGRAM_MAX, "raw: a longer read is cut");
	free(in);
}

static void test_base64(void)
{
	char o[16];
	uint8_t b[16];
	const char *v[][2] = { { "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
			       { "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" } };

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		size_t l = stp_base64_encode((const uint8_t *)v[i][0], strlen(v[i][0]), o, sizeof(o));
		o[l] = '\0';
		CHECK_STR(o, v[i][1], "base64 encode '%s' (RFC 4648)", v[i][0]);
		ssize_t k = stp_base64_decode(v[i][1], strlen(v[i][1]), b, sizeof(b));
		CHECK(k == (ssize_t)strlen(v[i][0]) && memcmp(b, v[i][0], (size_t)k) == 0,
		      "base64 decode '%s'", v[i][1]);
	}
	CHECK(stp_base64_decode("Zg=", 3, b, sizeof(b)) < 0, "base64: length not a multiple of 4");
	CHECK(stp_base64_decode("Z===", 4, b, sizeof(b)) < 0, "base64: too much padding");
	CHECK(stp_base64_decode("Zg==Zg==", 8, b, sizeof(b)) < 0, "base64: padding in the middle");
	CHECK(stp_base64_decode("Zm9v", 4, b, 2) < 0, "base64: short output");
	CHECK(stp_base64_decode("Zm*v", 4, b, sizeof(b)) < 0, "base64: bad character");
	CHECK(stp_base64_encode((const uint8_t *)"foo", 3, o, 3) == 0, "base64: short cap");
}

int main(void)
{
	test_formats();
	test_long_lines();
	test_base64();
	return tap_done();
}
