/* fuzz-udp-mux.c - libFuzzer target for the UDP datagram header and MUX
 * frames. The input is read as one datagram and as a stream of frames;
 * whatever parses must re-encode and re-parse to the same thing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz.h"
#include "proto/socks.h"

static uint8_t frame_buf[STP_MUX_HDR + STP_MUX_MAX];

static uint8_t *exact(const uint8_t *b, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);

	if (!c)
		abort();
	memcpy(c, b, n);
	return c;
}

static void fuzz_udp(const uint8_t *b, size_t n)
{
	struct stp_udp_hdr h, h2;
	uint8_t out[300], *c;
	ssize_t k = stp_udp_hdr_get(b, n, &h);
	size_t m;

	if (k <= 0)
		return;
	FUZZ_ASSERT((size_t)k <= n && h.frag == b[2]);
	c = exact(b, k);
	FUZZ_ASSERT(stp_udp_hdr_get(c, k - 1, &h2) == 0);
	free(c);
	m = stp_udp_hdr_put(out, sizeof(out), &h.addr);
	FUZZ_ASSERT(m == (size_t)k && !memcmp(out + 3, b + 3, m - 3));
	FUZZ_ASSERT(stp_udp_hdr_get(out, m, &h2) == (ssize_t)m && h2.frag == 0 &&
		    fuzz_addr_eq(&h.addr, &h2.addr));
}

/* Returns the frame's length, 0 for more, -1 when malformed. */
static ssize_t fuzz_frame(const uint8_t *b, size_t n)
{
	struct stp_mux_frame f, f2;
	uint8_t *c;
	ssize_t k = stp_mux_frame_get(b, n, &f);
	size_t m;

	if (k <= 0)
		return k;
	FUZZ_ASSERT((size_t)k == STP_MUX_HDR + f.len && f.len <= STP_MUX_MAX);
	FUZZ_ASSERT(f.payload == b + STP_MUX_HDR && f.type >= 1 && f.type <= 8);
	c = exact(b, k);
	FUZZ_ASSERT(stp_mux_frame_get(c, k - 1, &f2) == 0);
	free(c);
	m = stp_mux_frame_put(frame_buf, sizeof(frame_buf), f.type, f.stream, f.payload, f.len);
	FUZZ_ASSERT(m == (size_t)k && !memcmp(frame_buf, b, m));
	FUZZ_ASSERT(stp_mux_frame_get(frame_buf, m, &f2) == (ssize_t)m);
	FUZZ_ASSERT(f2.type == f.type && f2.stream == f.stream && f2.len == f.len &&
		    !memcmp(f2.payload, f.payload, f.len));
	return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;
	ssize_t k;

	fuzz_udp(data, size);
	while (off < size && (k = fuzz_frame(data + off, size - off)) > 0)
		off += (size_t)k;
	FUZZ_ASSERT(off <= size);
	return 0;
}
