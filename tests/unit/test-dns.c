/* test-dns.c - the DNS channel's framing (stp_dns_unframe): LEN(2) |
 * message frames taken out of a stream that arrives split at any byte or
 * several frames at once; a frame larger than the caller's buffer; empty
 * frames. */
#include <stdint.h>
#include <string.h>

#include "proto/dns.h"
#include "tap.h"

/* Appends LEN(2) | len bytes of fill to s at *n. */
static void frame(uint8_t *s, size_t *n, size_t len, uint8_t fill)
{
	s[(*n)++] = (uint8_t)(len >> 8);
	s[(*n)++] = (uint8_t)len;
	memset(s + *n, fill, len);
	*n += len;
}

/* Feeds stream[0..n) in two pieces, cut at `cut`, and takes out every
 * frame; they must be the lengths in want[] (each filled with 'a' + i). */
static int feed_split(const uint8_t *stream, size_t n, size_t cut, const size_t *want,
		      int nwant)
{
	uint8_t in[1024], msg[600];
	size_t inlen = 0;
	int got = 0;

	for (int piece = 0; piece < 2; piece++) {
		size_t from = piece ? cut : 0, to = piece ? n : cut;
		memcpy(in + inlen, stream + from, to - from);
		inlen += to - from;
		for (;;) {
			ssize_t k = stp_dns_unframe(in, &inlen, msg, sizeof(msg));
			if (k <= 0)
				break;
			if (got >= nwant || (size_t)k != want[got])
				return 0;
			for (ssize_t i = 0; i < k; i++)
				if (msg[i] != (uint8_t)('a' + got))
					return 0;
			got++;
		}
	}
	return got == nwant && inlen == 0;
}

static void test_split(void)
{
	static const size_t want[] = { 12, 1, 300, 40 };
	uint8_t s[1024];
	size_t n = 0;
	int bad = -1;

	for (int i = 0; i < 4; i++)
		frame(s, &n, want[i], (uint8_t)('a' + i));
	for (size_t cut = 0; cut <= n; cut++)
		if (!feed_split(s, n, cut, want, 4) && bad < 0)
			bad = (int)cut;
	CHECK_INT(bad, -1, "four frames split at every byte come out whole, in order");
}

static void test_partial(void)
{
	uint8_t in[64] = { 0, 20 }, msg[64];
	size_t inlen = 1;

	CHECK_INT(stp_dns_unframe(in, &inlen, msg, sizeof(msg)), 0, "one byte: need more");
	CHECK_INT(inlen, 1, "one byte: kept");
	inlen = 21;
	CHECK_INT(stp_dns_unframe(in, &inlen, msg, sizeof(msg)), 0, "a byte short: need more");
	CHECK_INT(inlen, 21, "a byte short: kept");
	inlen = 22;
	CHECK_INT(stp_dns_unframe(in, &inlen, msg, sizeof(msg)), 20, "whole: its length");
	CHECK_INT(inlen, 0, "whole: consumed");
}

static void test_too_big(void)
{
	uint8_t in[64], msg[16];
	size_t inlen = 0;

	frame(in, &inlen, 9, 'x');
	frame(in, &inlen, 3, 'y');
	CHECK_INT(stp_dns_unframe(in, &inlen, msg, 8), -1, "9 bytes into 8: -1");
	CHECK_INT(inlen, 16, "the frame that does not fit stays");
	CHECK(in[0] == 0 && in[1] == 9 && in[2] == 'x', "and is still at the front");
	CHECK_INT(stp_dns_unframe(in, &inlen, msg, 9), 9, "a larger buffer takes it");
}

/* A LEN of 0 is no message; it must not stop the frames behind it. */
static void test_empty(void)
{
	uint8_t in[64], msg[64];
	size_t inlen = 0;

	frame(in, &inlen, 0, 0);
	frame(in, &inlen, 0, 0);
	frame(in, &inlen, 12, 'q');
	CHECK_INT(stp_dns_unframe(in, &inlen, msg, sizeof(msg)), 12,
		  "empty frames passed over to the message behind them");
	CHECK_INT(inlen, 0, "all consumed");
	CHECK(msg[0] == 'q' && msg[11] == 'q', "the message's bytes");
	frame(in, &inlen, 0, 0);
	CHECK_INT(stp_dns_unframe(in, &inlen, msg, sizeof(msg)), 0, "a lone empty frame: 0");
	CHECK_INT(inlen, 0, "and it is consumed");
}

int main(void)
{
	test_split();
	test_partial();
	test_too_big();
	test_empty();
	return tap_done();
}
