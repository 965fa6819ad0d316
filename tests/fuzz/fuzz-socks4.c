/* fuzz-socks4.c - libFuzzer target for SOCKS4/4a requests and replies.
 * Whatever parses must re-encode, re-parse to the same struct and encode
 * again to the same bytes; one byte less must only ask for more. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz.h"
#include "proto/socks.h"

static uint8_t *exact(const uint8_t *b, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);

	if (!c)
		abort();
	memcpy(c, b, n);
	return c;
}

static int req_eq(const struct stp4_request *a, const struct stp4_request *b)
{
	return a->cmd == b->cmd && fuzz_addr_eq(&a->addr, &b->addr) &&
	       !strcmp(a->userid, b->userid);
}

static void fuzz_request(const uint8_t *b, size_t n)
{
	static struct stp4_request r, r2;
	uint8_t out[1024], out2[1024], *c;
	ssize_t k = stp4_request_get(b, n, &r);
	size_t m;

	if (k <= 0)
		return;
	FUZZ_ASSERT(k >= 9 && (size_t)k <= n && strlen(r.userid) <= 255);
	FUZZ_ASSERT(r.addr.atyp == STP_ATYP_IPV4 || r.addr.atyp == STP_ATYP_NAME);
	c = exact(b, k);
	FUZZ_ASSERT(stp4_request_get(c, k, &r2) == k && req_eq(&r, &r2));
	FUZZ_ASSERT(stp4_request_get(c, k - 1, &r2) == 0);
	free(c);
	m = stp4_request_put(out, sizeof(out), r.cmd, &r.addr, r.userid);
	FUZZ_ASSERT(m == (size_t)k);
	FUZZ_ASSERT(stp4_request_get(out, m, &r2) == (ssize_t)m && req_eq(&r, &r2));
	FUZZ_ASSERT(stp4_request_put(out2, sizeof(out2), r2.cmd, &r2.addr, r2.userid) == m);
	FUZZ_ASSERT(!memcmp(out, out2, m));
	c = malloc(m - 1);
	if (!c)
		abort();
	FUZZ_ASSERT(stp4_request_put(c, m - 1, r.cmd, &r.addr, r.userid) == 0);
	free(c);
}

static void fuzz_reply(const uint8_t *b, size_t n)
{
	struct stp_addr a, a2;
	uint8_t out[16], cd, cd2;
	ssize_t k = stp4_reply_get(b, n, &cd, &a);

	if (k <= 0)
		return;
	FUZZ_ASSERT(k == 8 && a.atyp == STP_ATYP_IPV4);
	FUZZ_ASSERT(stp4_reply_put(out, sizeof(out), cd, &a) == 8 && !memcmp(out, b, 8));
	FUZZ_ASSERT(stp4_reply_get(out, 8, &cd2, &a2) == 8 && cd2 == cd && fuzz_addr_eq(&a, &a2));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_request(data, size);
	fuzz_reply(data, size);
	return 0;
}
