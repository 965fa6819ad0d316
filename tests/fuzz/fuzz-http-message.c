/* fuzz-http-message.c - libFuzzer target for the framing of forwarded
 * HTTP messages and the rewritten answer head (proto/httpmsg.h). The first
 * byte picks request or response, HEAD or not, and where the input is cut
 * into pieces; the rest is the stream. Fed whole or in pieces, the stream
 * gives the same events at the same offsets; counts never pass the input;
 * a head that EV_HEAD ends is rewritten into its bound with CRLF lines
 * only, ending in an empty line, with none of the hop-by-hop fields. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "fuzz.h"
#include "proto/httpmsg.h"

#define MAX_EVENTS 64

struct trace {
	int n;
	enum stp_http_ev ev[MAX_EVENTS];
	size_t at[MAX_EVENTS];
	bool failed;
	size_t failed_at;
};

static void check_rewrite(const uint8_t *head, size_t len)
{
	static uint8_t out[STP_HTTP_RESP_HEAD_MAX * 2 + 256];
	size_t n = stp_http_resp_rewrite(head, len, "stp-serve-fuzz", (int)(len % 3) - 1, out,
					 sizeof(out));

	if (n == 0)
		return;
	FUZZ_ASSERT(n >= 4 && n <= sizeof(out));
	FUZZ_ASSERT(!memcmp(out, "HTTP/1.1 ", 9));
	FUZZ_ASSERT(!memcmp(out + n - 4, "\r\n\r\n", 4));
	for (size_t i = 0; i < n; i++)
		if (out[i] == '\n')
			FUZZ_ASSERT(i > 0 && out[i - 1] == '\r');
	/* no line of the result starts with a hop-by-hop name */
	static const char *const hop[] = { "Keep-Alive:", "Proxy-Authenticate:", "TE:",
					   "Upgrade:", "Proxy-Connection:" };
	for (size_t i = 0; i + 1 < n; i++) {
		if (out[i] != '\n')
			continue;
		for (size_t k = 0; k < sizeof(hop) / sizeof(hop[0]); k++) {
			size_t hl = strlen(hop[k]);
			if (n - i - 1 >= hl)
				FUZZ_ASSERT(strncasecmp((const char *)out + i + 1, hop[k], hl) != 0);
		}
	}
}

/* Feeds data[0..size) in pieces of at most step bytes (0: whole). */
static void run(const uint8_t *data, size_t size, bool request, bool head_req, size_t step,
		struct trace *t, bool rewrite)
{
	struct stp_http_msg m;
	size_t pos = 0, msg_start = 0;

	memset(t, 0, sizeof(*t));
	stp_http_msg_init(&m, request);
	m.skip_body = head_req;
	while (pos < size && t->n < MAX_EVENTS) {
		size_t len = size - pos;
		if (step && len > step)
			len = step;
		enum stp_http_ev ev;
		ssize_t k = stp_http_msg_feed(&m, data + pos, len, &ev);
		if (k < 0) {
			t->failed = true;
			t->failed_at = pos;
			return;
		}
		FUZZ_ASSERT((size_t)k <= len);
		pos += (size_t)k;
		if (ev == STP_HTTP_EV_NONE) {
			FUZZ_ASSERT((size_t)k == len);
			continue;
		}
		t->ev[t->n] = ev;
		t->at[t->n++] = pos;
		if (ev == STP_HTTP_EV_HEAD) {
			FUZZ_ASSERT(pos < size);  /* the head's last LF is still to come */
			if (rewrite && !request && pos + 1 - msg_start <= STP_HTTP_RESP_HEAD_MAX)
				check_rewrite(data + msg_start, pos + 1 - msg_start);
		} else {
			msg_start = pos;
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct trace whole, cut;

	if (size < 1)
		return 0;
	bool request = data[0] & 1, head_req = data[0] & 2;
	size_t step = (size_t)(data[0] >> 2) + 1;
	uint8_t *c = malloc(size - 1 ? size - 1 : 1);
	if (!c)
		abort();
	memcpy(c, data + 1, size - 1);
	run(c, size - 1, request, head_req, 0, &whole, true);
	run(c, size - 1, request, head_req, step, &cut, false);
	free(c);
	/* the same events at the same offsets, whichever way the bytes came,
	 * as far as both went */
	int n = whole.n < cut.n ? whole.n : cut.n;
	for (int i = 0; i < n; i++)
		FUZZ_ASSERT(whole.ev[i] == cut.ev[i] && whole.at[i] == cut.at[i]);
	if (whole.failed && cut.failed)
		FUZZ_ASSERT(whole.n == cut.n);
	return 0;
}
