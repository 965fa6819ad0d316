/* fuzz-gssdgram.c - libFuzzer target for the client's reading of a
 * protected UDP datagram (client/gssudp.h, RFC 1961 section 5): the input
 * is one datagram as the relay sends it. A datagram is taken only when it
 * is exactly one encapsulated message (X'01' X'03' LEN token) filling it:
 * then the token is the datagram's own bytes after the header, its length
 * the header's; anything else is refused with a reason, and the framing
 * parser (proto/gssmsg.h) agrees. Opening it without an established
 * context always fails cleanly (no context: nothing unwraps), and the
 * token read as a plaintext (UDP header + data, what the client parses
 * next) never reads past it. */
#include <gssapi/gssapi.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz.h"
#include "client/gssudp.h"
#include "proto/socks.h"
#include "proto/gssmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[STP_GSS_UDP_MAX];
	const uint8_t *tok = NULL;
	const char *why = NULL;
	/* an exact copy, so that ASan sees any read past the datagram */
	uint8_t *d = malloc(size ? size : 1);

	if (!d)
		abort();
	memcpy(d, data, size);
	ssize_t tl = stp_gss_udp_token(d, size, &tok, &why);
	FUZZ_ASSERT((tl < 0) == (why != NULL));
	FUZZ_ASSERT(tl != 0);
	struct stp_gss_msg m;
	const char *pwhy = NULL;
	ssize_t k = stp_gss_parse(d, size, STP_GSS_MT_ENCAP, STP_GSS_TOKEN_MAX, &m, &pwhy);
	if (tl > 0) {
		FUZZ_ASSERT(size >= STP_GSS_HDR && d[0] == STP_GSS_VER && d[1] == STP_GSS_MT_ENCAP);
		FUZZ_ASSERT(tok == d + STP_GSS_HDR && (size_t)tl == size - STP_GSS_HDR);
		FUZZ_ASSERT((size_t)tl == ((size_t)d[2] << 8 | d[3]));
		FUZZ_ASSERT(k == (ssize_t)size && m.mtyp == STP_GSS_MT_ENCAP &&
			    m.token == tok && m.token_len == (size_t)tl);
		/* what the client does with a plaintext: the header, then data */
		struct stp_udp_hdr h;
		ssize_t hl = stp_udp_hdr_get(tok, (size_t)tl, &h);
		FUZZ_ASSERT(hl <= tl);
	} else {
		/* refused: the framing says it is not one whole message here */
		FUZZ_ASSERT(k != (ssize_t)size || m.mtyp != STP_GSS_MT_ENCAP);
	}
	for (int level = STP_GSS_LEVEL_INTEGRITY; level <= STP_GSS_LEVEL_CONFIDENTIALITY; level++) {
		why = NULL;
		FUZZ_ASSERT(stp_gss_udp_open(GSS_C_NO_CONTEXT, level, d, size, out, sizeof(out),
					     &why) == -1 && why);
	}
	free(d);
	return 0;
}
