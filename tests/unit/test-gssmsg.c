/* test-gssmsg.c - unit tests of RFC 1961's message framing
 * (libcommon/proto/gssmsg.h): context, protection-level and encapsulated
 * messages and the abort, built and parsed back; every cut of a valid
 * message asks for more (0, never -1); several messages in one buffer are
 * taken one at a time; the bounds (empty token, token_max, the 2-byte
 * length's 65535, the build's capacity); wrong version and type refused
 * at the byte that spoils them; the level names. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "proto/gssmsg.h"
#include "tap.h"

/* An exact-size heap copy, so that a read past n is ASan's to see. */
static uint8_t *exact(const uint8_t *b, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);

	if (!c)
		abort();
	memcpy(c, b, n);
	return c;
}

static ssize_t parse(const uint8_t *b, size_t n, uint8_t expect, size_t max,
		     struct stp_gss_msg *m, const char **why)
{
	uint8_t *c = exact(b, n);
	ssize_t r;

	*why = NULL;
	r = stp_gss_parse(c, n, expect, max, m, why);
	/* the token points into the parsed buffer: compare before it goes */
	if (r > 0 && m->token) {
		static uint8_t keep[STP_GSS_MSG_MAX];
		memcpy(keep, m->token, m->token_len);
		m->token = keep;
	}
	free(c);
	return r;
}

/* Builds a message of mtyp around n bytes of pattern, checks it parses back
 * whole, and that every shorter cut asks for more. */
static void roundtrip(uint8_t mtyp, size_t n)
{
	static uint8_t tok[STP_GSS_TOKEN_MAX], msg[STP_GSS_MSG_MAX];
	struct stp_gss_msg m;
	const char *why;
	ssize_t bl, r;
	int cuts_ok = 1;

	for (size_t i = 0; i < n; i++)
		tok[i] = (uint8_t)(i * 7 + mtyp);
	bl = stp_gss_build(msg, sizeof(msg), mtyp, tok, n);
	CHECK_INT(bl, (ssize_t)(STP_GSS_HDR + n), "build type %u, %zu-byte token", mtyp, n);
	if (bl < 0)
		return;
	CHECK(msg[0] == 1 && msg[1] == mtyp && msg[2] == (uint8_t)(n >> 8) && msg[3] == (uint8_t)n,
	      "type %u, %zu bytes: header 01 %02x %02x %02x", mtyp, n, mtyp, (unsigned)(n >> 8),
	      (unsigned)(n & 0xFF));
	r = parse(msg, (size_t)bl, mtyp, STP_GSS_TOKEN_MAX, &m, &why);
	CHECK(r == bl && m.mtyp == mtyp && m.token_len == n && !memcmp(m.token, tok, n),
	      "type %u, %zu bytes: parses back", mtyp, n);
	for (size_t cut = 0; cut < (size_t)bl; cut++) {
		/* long tokens: every cut of the header and around the ends */
		if (n > 64 && cut > 64 && cut + 64 < (size_t)bl && cut % 997)
			continue;
		if (parse(msg, cut, mtyp, STP_GSS_TOKEN_MAX, &m, &why) != 0) {
			cuts_ok = 0;
			DIAG("cut at %zu: %s", cut, why ? why : "(parsed)");
		}
	}
	CHECK(cuts_ok, "type %u, %zu bytes: every cut asks for more (0, never -1)", mtyp, n);
}

int main(void)
{
	static uint8_t buf[STP_GSS_MSG_MAX + 16];
	struct stp_gss_msg m;
	const char *why;
	uint8_t ab[STP_GSS_ABORT_LEN];
	ssize_t r;

	roundtrip(STP_GSS_MT_AUTH, 1);
	roundtrip(STP_GSS_MT_AUTH, 600);
	roundtrip(STP_GSS_MT_PROT, 28);
	roundtrip(STP_GSS_MT_ENCAP, 300);
	roundtrip(STP_GSS_MT_ENCAP, STP_GSS_TOKEN_MAX);

	/* the abort: two bytes, allowed whatever type is expected */
	CHECK_INT((int)stp_gss_build_abort(ab), 2, "abort is two bytes");
	CHECK(ab[0] == 1 && ab[1] == 0xFF, "abort is 01 ff");
	for (uint8_t t = STP_GSS_MT_AUTH; t <= STP_GSS_MT_ENCAP; t++) {
		r = parse(ab, 2, t, 100, &m, &why);
		CHECK(r == 2 && m.mtyp == STP_GSS_MT_ABORT && !m.token && m.token_len == 0,
		      "abort parses while type %u is expected", t);
	}
	CHECK_INT(parse(ab, 1, STP_GSS_MT_AUTH, 100, &m, &why), 0, "abort cut after 1 byte: more");

	/* wrong version, wrong type: refused as soon as the byte is there */
	memcpy(buf, "\x05\x01\x00\x01\x00", 5);
	CHECK_INT(parse(buf, 1, STP_GSS_MT_AUTH, 100, &m, &why), -1, "version 5: refused at byte 1");
	CHECK(why && strstr(why, "version"), "... saying version (%s)", why ? why : "-");
	memcpy(buf, "\x01\x02\x00\x01\x00", 5);
	CHECK_INT(parse(buf, 2, STP_GSS_MT_AUTH, 100, &m, &why), -1, "type 2 when 1 is expected: refused at byte 2");
	CHECK(why && strstr(why, "type"), "... saying type (%s)", why ? why : "-");
	memcpy(buf, "\x01\x07\x00\x01\x00", 5);
	CHECK_INT(parse(buf, 5, STP_GSS_MT_ENCAP, 100, &m, &why), -1, "type 7: refused");

	/* the bounds of the length */
	memcpy(buf, "\x01\x01\x00\x00", 4);
	CHECK_INT(parse(buf, 4, STP_GSS_MT_AUTH, 100, &m, &why), -1, "an empty token is refused");
	memcpy(buf, "\x01\x01\x00\x65", 4);  /* 101 */
	CHECK_INT(parse(buf, 4, STP_GSS_MT_AUTH, 100, &m, &why), -1, "101 bytes over token_max 100: refused at the length");
	CHECK(why && strstr(why, "too long"), "... saying too long (%s)", why ? why : "-");
	memcpy(buf, "\x01\x01\x00\x64", 4);  /* 100 */
	CHECK_INT(parse(buf, 4, STP_GSS_MT_AUTH, 100, &m, &why), 0, "100 bytes at token_max 100: more");
	memset(buf + 4, 0xAB, 100);
	CHECK_INT(parse(buf, 104, STP_GSS_MT_AUTH, 100, &m, &why), 104, "... and taken whole");
	memcpy(buf, "\x01\x01\xff\xff", 4);
	CHECK_INT(parse(buf, 4, STP_GSS_MT_AUTH, 12288, &m, &why), -1, "65535 over a server's 12288: refused");
	CHECK_INT(parse(buf, 4, STP_GSS_MT_AUTH, 1u << 20, &m, &why), 0,
		  "65535 with token_max above the 2-byte limit: clamped, more");
	memset(buf + 4, 0x11, 65535);
	CHECK_INT(parse(buf, 4 + 65535, STP_GSS_MT_AUTH, STP_GSS_TOKEN_MAX, &m, &why), 4 + 65535,
		  "65535 bytes at STP_GSS_TOKEN_MAX: taken");

	/* several messages in one buffer: one at a time, the rest untouched */
	{
		size_t off = 0;
		ssize_t a = stp_gss_build(buf, sizeof(buf), STP_GSS_MT_ENCAP, (const uint8_t *)"one", 3);
		ssize_t b = stp_gss_build(buf + a, sizeof(buf) - (size_t)a, STP_GSS_MT_ENCAP,
					  (const uint8_t *)"second", 6);
		size_t total = (size_t)(a + b);
		r = parse(buf, total, STP_GSS_MT_ENCAP, 100, &m, &why);
		CHECK(r == a && m.token_len == 3 && !memcmp(m.token, "one", 3), "two messages: the first");
		off = (size_t)r;
		r = parse(buf + off, total - off, STP_GSS_MT_ENCAP, 100, &m, &why);
		CHECK(r == b && m.token_len == 6 && !memcmp(m.token, "second", 6), "... then the second");
	}

	/* build's refusals */
	CHECK_INT(stp_gss_build(buf, sizeof(buf), STP_GSS_MT_AUTH, (const uint8_t *)"", 0), -1,
		  "build: empty token refused");
	CHECK_INT(stp_gss_build(buf, sizeof(buf), STP_GSS_MT_AUTH, buf, STP_GSS_TOKEN_MAX + 1), -1,
		  "build: 65536 bytes refused");
	CHECK_INT(stp_gss_build(buf, 10, STP_GSS_MT_AUTH, (const uint8_t *)"0123456789", 7), -1,
		  "build: no room refused");
	CHECK_INT(stp_gss_build(buf, 11, STP_GSS_MT_AUTH, (const uint8_t *)"0123456789", 7), 11,
		  "build: exact room taken");
	CHECK_INT(stp_gss_build(buf, sizeof(buf), STP_GSS_MT_ABORT, (const uint8_t *)"x", 1), -1,
		  "build: abort is not a token message");

	/* levels */
	CHECK_STR(stp_gss_level_name(0), "none", "level 0 is none");
	CHECK_STR(stp_gss_level_name(2), "confidentiality", "level 2 is confidentiality");
	CHECK(stp_gss_level_name(4) == NULL && stp_gss_level_name(-1) == NULL, "no level 4 or -1");
	CHECK_INT(stp_gss_level_parse("integrity"), 1, "integrity is 1");
	CHECK_INT(stp_gss_level_parse("Integrity"), -1, "names are exact");
	return tap_done();
}
