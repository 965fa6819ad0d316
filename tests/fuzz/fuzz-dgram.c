/* fuzz-dgram.c - libFuzzer target for the datagram framings of stp-udp and
 * stp-mcast (line, raw, hex, json with base64). The first byte picks the
 * framing; the rest is stdin, fed in two pieces split where the second
 * byte says. Every datagram decoded is encoded again and must decode to the
 * same bytes; no input may make the decoder stall (consume nothing while
 * it asks for nothing more). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "proto/dgram.h"
#include "fuzz.h"

static uint8_t data[STP_DGRAM_MAX], again[STP_DGRAM_MAX];
static char enc[4 * STP_DGRAM_MAX + 512];

static void roundtrip(enum stp_dgram_fmt f, const struct stp_dgram *d)
{
	struct stp_dgram_reader r = { .fmt = f };
	struct stp_dgram d2 = { .data = again };
	struct stp_err e;
	int what;
	size_t n;

	if (f == STP_DGRAM_RAW && d->len == 0)
		return;
	n = stp_dgram_encode(f, NULL, d->data, d->len, enc, sizeof(enc));
	FUZZ_ASSERT(n > 0 && n <= stp_dgram_encoded_max(f, d->len));
	stp_dgram_decode(&r, (const uint8_t *)enc, n, true, &d2, &what, &e);
	FUZZ_ASSERT(what == STP_DGRAM_OK);
	FUZZ_ASSERT(d2.len == d->len && memcmp(d2.data, d->data, d->len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t n)
{
	struct stp_dgram_reader r;
	struct stp_dgram d = { .data = data };
	struct stp_err e;
	enum stp_dgram_fmt f;
	size_t off = 0, split;

	if (n < 2)
		return 0;
	f = (enum stp_dgram_fmt)(in[0] % 4);
	split = 2 + (in[1] % (n - 1));
	if (split > n)
		split = n;
	memset(&r, 0, sizeof(r));
	r.fmt = f;
	in += 2;
	n -= 2;
	split -= 2;
	/* the first piece as if more will come, then everything with EOF */
	for (int round = 0; round < 2; round++) {
		size_t end = round == 0 ? split : n;
		bool eof = round == 1;
		for (int guard = 0; off < end && guard < 100000; guard++) {
			int what = STP_DGRAM_MORE;
			size_t k = stp_dgram_decode(&r, in + off, end - off, eof, &d, &what, &e);
			FUZZ_ASSERT(k <= end - off);
			off += k;
			if (what == STP_DGRAM_OK)
				roundtrip(f, &d);
			if (what == STP_DGRAM_MORE && k == 0)
				break;  /* needs more input (or EOF handling below) */
			FUZZ_ASSERT(k > 0 || what != STP_DGRAM_BAD);
			if (f == STP_DGRAM_RAW)
				break;  /* raw: one read, one datagram */
		}
		if (f == STP_DGRAM_RAW)
			break;
	}
	return 0;
}
