/* fuzz-http-request.c - libFuzzer target for the HTTP proxy request head
 * parser (proto/httpreq.h). A head parses the same from an exact-size
 * copy and from the input with bytes after it; any cut of a valid head
 * asks for more, never refuses; a refusal comes with a status and a
 * reason; the fields' offsets lie inside the head; the head forwarded to
 * an origin fits its bound, ends in an empty line and has no bare LF; an
 * error answer always fits. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz.h"
#include "proto/addr.h"
#include "proto/httpreq.h"

static struct stp_http_req r1, r2;

static ssize_t parse(const uint8_t *b, size_t n, struct stp_http_req *r)
{
	uint8_t *c = malloc(n ? n : 1);
	const char *why = NULL;
	int status = 0;
	ssize_t k;

	if (!c)
		abort();
	memcpy(c, b, n);
	k = stp_http_req_get(c, n, r, &status, &why);
	free(c);
	if (k < 0)
		FUZZ_ASSERT(why && status >= 400 && status <= 599);
	FUZZ_ASSERT(k <= (ssize_t)n && k <= STP_HTTP_HEAD_MAX);
	return k;
}

static void check_forward(const uint8_t *b, const struct stp_http_req *r)
{
	static uint8_t out[STP_HTTP_HEAD_MAX + 512];
	size_t n = stp_http_forward_head(b, r, "stp-serve-fuzz", r->keep_alive, out,
						sizeof(out));

	FUZZ_ASSERT(n >= 4 && n <= sizeof(out));
	FUZZ_ASSERT(!memcmp(out + n - 4, "\r\n\r\n", 4));
	for (size_t i = 0; i < n; i++)
		if (out[i] == '\n')
			FUZZ_ASSERT(i > 0 && out[i - 1] == '\r');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ssize_t r = parse(data, size, &r1);
	uint8_t ans[STP_REPLY_MAX];
	char text[200];

	/* any text as an answer's body: cut to fit, never refused */
	snprintf(text, sizeof(text), "%.*s", (int)(size < 199 ? size : 199), (const char *)data);
	FUZZ_ASSERT(stp_http_error_put(ans, sizeof(ans), 502, NULL, text) > 0);
	if (r <= 0)
		return 0;
	FUZZ_ASSERT((size_t)r == r1.head_len);
	for (int i = 0; i < r1.nfields; i++)
		FUZZ_ASSERT((size_t)r1.f[i].val_off + r1.f[i].val_len <= (size_t)r &&
			    (size_t)r1.f[i].name_off + r1.f[i].name_len <= (size_t)r);
	/* the head alone says the same; any cut of it asks for more */
	FUZZ_ASSERT(parse(data, (size_t)r, &r2) == r);
	char a1[STP_ADDRSTRLEN + 256], a2[STP_ADDRSTRLEN + 256];
	FUZZ_ASSERT(r2.connect == r1.connect && r2.nfields == r1.nfields &&
		    !strcmp(stp_addr_str(&r1.dst, a1, sizeof(a1)),
			    stp_addr_str(&r2.dst, a2, sizeof(a2))));
	FUZZ_ASSERT(parse(data, (size_t)r - 1, &r2) == 0);
	FUZZ_ASSERT(parse(data, (size_t)r / 2, &r2) == 0);
	if (!r1.connect)
		check_forward(data, &r1);
	return 0;
}
