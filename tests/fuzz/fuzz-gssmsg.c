/* fuzz-gssmsg.c - libFuzzer target for RFC 1961's message framing
 * (proto/gssmsg.h). The first byte picks the message type expected (a
 * context token, a protection level, an encapsulated message) and a
 * token_max; the rest is a stream of messages as a peer sends them. The
 * stream is taken whole, message after message, and byte by byte (each
 * message parsed as soon as its last byte has arrived): both ways see the
 * same messages and stop at the same refusal; a cut of a message always
 * asks for more; a refusal comes with a reason and only then; each
 * message parsed builds back to the very same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz.h"
#include "proto/gssmsg.h"

#define MAX_MSGS 64

struct seen {
	size_t off, len;         /* where in the stream, how long */
	uint8_t mtyp;
	size_t token_len;
};

static uint8_t *exact(const uint8_t *b, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);

	if (!c)
		abort();
	memcpy(c, b, n);
	return c;
}

static ssize_t parse(const uint8_t *b, size_t n, uint8_t expect, size_t max,
		     struct stp_gss_msg *m)
{
	const char *why = NULL;
	uint8_t *c = exact(b, n);
	ssize_t r = stp_gss_parse(c, n, expect, max, m, &why);

	FUZZ_ASSERT((r < 0) == (why != NULL));
	FUZZ_ASSERT(r <= (ssize_t)n);
	if (r > 0) {
		FUZZ_ASSERT(m->mtyp == STP_GSS_MT_ABORT ? r == STP_GSS_ABORT_LEN && !m->token
							: (size_t)r == STP_GSS_HDR + m->token_len);
		FUZZ_ASSERT(m->mtyp == STP_GSS_MT_ABORT || (m->mtyp == expect && m->token_len > 0 &&
							    m->token_len <= max));
		/* the token is the parsed buffer's own bytes */
		FUZZ_ASSERT(!m->token || (m->token == c + STP_GSS_HDR &&
					  !memcmp(m->token, b + STP_GSS_HDR, m->token_len)));
	}
	free(c);
	return r;
}

/* Messages of s[0..n), whole: returns how many, the last refusal in *bad. */
static size_t whole(const uint8_t *s, size_t n, uint8_t expect, size_t max,
		    struct seen *v, int *bad)
{
	size_t off = 0, k = 0;

	*bad = 0;
	while (k < MAX_MSGS) {
		struct stp_gss_msg m;
		ssize_t r = parse(s + off, n - off, expect, max, &m);
		if (r < 0)
			*bad = 1;
		if (r <= 0)
			break;
		v[k++] = (struct seen){ off, (size_t)r, m.mtyp, m.token_len };
		off += (size_t)r;
		if (m.mtyp == STP_GSS_MT_ABORT)
			break;  /* the exchange is over */
	}
	return k;
}

/* The same stream arriving one byte at a time into a buffer. */
static size_t bytewise(const uint8_t *s, size_t n, uint8_t expect, size_t max,
		       struct seen *v, int *bad)
{
	size_t start = 0, k = 0;

	*bad = 0;
	for (size_t have = 1; have <= n && k < MAX_MSGS; have++) {
		struct stp_gss_msg m;
		ssize_t r = parse(s + start, have - start, expect, max, &m);
		if (r < 0) {
			*bad = 1;
			break;
		}
		if (r == 0)
			continue;
		/* taken at its last byte, not later */
		FUZZ_ASSERT(start + (size_t)r == have);
		v[k++] = (struct seen){ start, (size_t)r, m.mtyp, m.token_len };
		start = have;
		if (m.mtyp == STP_GSS_MT_ABORT)
			break;
	}
	return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t maxes[4] = { 16, 1024, 12288, STP_GSS_TOKEN_MAX };
	struct seen a[MAX_MSGS], b[MAX_MSGS];
	static uint8_t rebuilt[STP_GSS_MSG_MAX];
	int bad_a, bad_b;

	if (size < 1)
		return 0;
	uint8_t expect = (uint8_t)(1 + data[0] % 3);  /* AUTH, PROT, ENCAP */
	size_t max = maxes[(data[0] >> 2) & 3];
	const uint8_t *s = data + 1;
	size_t n = size - 1;

	size_t ka = whole(s, n, expect, max, a, &bad_a);
	size_t kb = bytewise(s, n, expect, max, b, &bad_b);
	FUZZ_ASSERT(ka == kb);
	for (size_t i = 0; i < ka; i++)
		FUZZ_ASSERT(a[i].off == b[i].off && a[i].len == b[i].len && a[i].mtyp == b[i].mtyp &&
			    a[i].token_len == b[i].token_len);
	if (ka < MAX_MSGS && !(ka && a[ka - 1].mtyp == STP_GSS_MT_ABORT))
		FUZZ_ASSERT(bad_a == bad_b);
	for (size_t i = 0; i < ka; i++) {
		const uint8_t *msg = s + a[i].off;
		struct stp_gss_msg m;
		/* every cut of it asks for more */
		for (size_t cut = 0; cut < a[i].len; cut += 1 + cut / 8)
			FUZZ_ASSERT(parse(msg, cut, expect, max, &m) == 0);
		if (a[i].mtyp == STP_GSS_MT_ABORT) {
			FUZZ_ASSERT(stp_gss_build_abort(rebuilt) == a[i].len &&
				    !memcmp(rebuilt, msg, a[i].len));
			continue;
		}
		ssize_t bl = stp_gss_build(rebuilt, sizeof(rebuilt), a[i].mtyp, msg + STP_GSS_HDR,
					   a[i].token_len);
		FUZZ_ASSERT(bl == (ssize_t)a[i].len && !memcmp(rebuilt, msg, a[i].len));
	}
	return 0;
}
