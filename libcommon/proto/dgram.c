/* dgram.c - datagram framings for stdin/stdout (SPEC §2.4). */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "proto/addr.h"
#include "proto/dgram.h"
#include "proto/url.h"

static const char *const fmt_names[] = { "line", "raw", "hex", "json" };

int stp_dgram_fmt_parse(const char *s, enum stp_dgram_fmt *f)
{
	for (int i = 0; i < 4; i++)
		if (strcmp(s, fmt_names[i]) == 0) {
			*f = (enum stp_dgram_fmt)i;
			return 0;
		}
	return -1;
}

/* --- base64 ------------------------------------------------------------------ */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t stp_base64_encode(const uint8_t *in, size_t n, char *out, size_t cap)
{
	size_t need = (n + 2) / 3 * 4, o = 0;

	if (need > cap)
		return 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		out[o++] = b64[v >> 18 & 63];
		out[o++] = b64[v >> 12 & 63];
		out[o++] = i + 1 < n ? b64[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? b64[v & 63] : '=';
	}
	return o;
}

static int b64_val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Strict: length a multiple of 4, padding only at the end. */
ssize_t stp_base64_decode(const char *in, size_t n, uint8_t *out, size_t cap)
{
	size_t o = 0;

	if (n % 4)
		return -1;
	for (size_t i = 0; i < n; i += 4) {
		int v[4], pad = 0;
		for (int j = 0; j < 4; j++) {
			if (in[i + j] == '=' && i + 4 == n && j >= 2) {
				v[j] = 0;
				pad++;
				continue;
			}
			if (pad || (v[j] = b64_val(in[i + j])) < 0)
				return -1;
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
			     (uint32_t)v[3];
		size_t k = 3 - (size_t)pad;
		if (o + k > cap)
			return -1;
		out[o++] = (uint8_t)(w >> 16);
		if (k > 1)
			out[o++] = (uint8_t)(w >> 8);
		if (k > 2)
			out[o++] = (uint8_t)w;
	}
	return (ssize_t)o;
}

/* --- decoding ------------------------------------------------------------------- */

/* Hex digits, blanks between bytes allowed. Returns 0 or -1 with e. */
static int decode_hex(const uint8_t *s, size_t n, struct stp_dgram *d, struct stp_err *e)
{
	size_t o = 0;

	for (size_t i = 0; i < n;) {
		if (s[i] == ' ' || s[i] == '\t' || s[i] == '\r') {
			i++;
			continue;
		}
		int hi = stp_hexval(s[i]), lo = i + 1 < n ? stp_hexval(s[i + 1]) : -1;
		if (hi < 0 || lo < 0)
			return stp_err_set(e, STP_EXIT_FAIL, "hex: %s at column %zu",
					   hi < 0 ? "not a hex digit" : "odd number of digits", i + 1);
		if (o == STP_DGRAM_MAX)
			return stp_err_set(e, STP_EXIT_FAIL, "hex: more than %d bytes", STP_DGRAM_MAX);
		d->data[o++] = (uint8_t)(hi << 4 | lo);
		i += 2;
	}
	d->len = o;
	return 0;
}

/* {"data":"BASE64"[,"to":"HOST:PORT"]}; other members are ignored (so
 * that lines printed with "from" can be fed back). Returns 0 or -1. */
static int decode_json(const uint8_t *s, size_t n, struct stp_dgram *d, struct stp_err *e)
{
	json_error_t je;
	json_t *o = json_loadb((const char *)s, n, JSON_REJECT_DUPLICATES, &je), *v;
	int rc = -1;

	if (!o)
		return stp_err_set(e, STP_EXIT_FAIL, "json: %s at column %d", je.text, je.column);
	if (!json_is_object(o)) {
		stp_err_set(e, STP_EXIT_FAIL, "json: not an object");
		goto out;
	}
	v = json_object_get(o, "data");
	if (!json_is_string(v)) {
		stp_err_set(e, STP_EXIT_FAIL, "json: no \"data\" string");
		goto out;
	}
	ssize_t k = stp_base64_decode(json_string_value(v), json_string_length(v), d->data,
				      STP_DGRAM_MAX);
	if (k < 0) {
		stp_err_set(e, STP_EXIT_FAIL, "json: \"data\" is not base64 of at most %d bytes",
			    STP_DGRAM_MAX);
		goto out;
	}
	d->len = (size_t)k;
	v = json_object_get(o, "to");
	if (v) {
		if (!json_is_string(v) || json_string_length(v) >= sizeof(d->to) ||
		    json_string_length(v) != strlen(json_string_value(v))) {
			stp_err_set(e, STP_EXIT_FAIL, "json: \"to\" is not a HOST:PORT string");
			goto out;
		}
		memcpy(d->to, json_string_value(v), json_string_length(v) + 1);
		d->has_to = true;
	}
	rc = 0;
out:
	json_decref(o);
	return rc;
}

size_t stp_dgram_decode(struct stp_dgram_reader *r, const uint8_t *in, size_t n, bool eof,
			struct stp_dgram *d, int *what, struct stp_err *e)
{
	size_t max = r->fmt == STP_DGRAM_LINE ? STP_DGRAM_MAX
		   : r->fmt == STP_DGRAM_HEX ? 3 * STP_DGRAM_MAX : STP_DGRAM_LINE_MAX;

	*what = STP_DGRAM_MORE;
	d->len = 0;
	d->has_to = false;
	d->to[0] = '\0';
	if (r->fmt == STP_DGRAM_RAW) {
		if (n == 0)
			return 0;
		if (n > STP_DGRAM_MAX)
			n = STP_DGRAM_MAX;
		memcpy(d->data, in, n);
		d->len = n;
		*what = STP_DGRAM_OK;
		return n;
	}
	const uint8_t *nl = memchr(in, '\n', n);
	if (r->skipping) {
		if (!nl)
			return n;
		r->skipping = false;
		return (size_t)(nl - in) + 1;
	}
	size_t len = nl ? (size_t)(nl - in) : n;
	if (len > max) {
		/* too long to be one datagram: drop it up to its newline */
		*what = STP_DGRAM_BAD;
		stp_err_set(e, STP_EXIT_FAIL, "line longer than %zu bytes", max);
		if (nl)
			return len + 1;
		r->skipping = !eof;
		return n;
	}
	if (!nl && !eof)
		return 0;
	if (!nl && n == 0)
		return 0;
	size_t used = nl ? len + 1 : len;
	switch (r->fmt) {
	case STP_DGRAM_LINE:
		memcpy(d->data, in, len);
		d->len = len;
		*what = STP_DGRAM_OK;
		break;
	case STP_DGRAM_HEX:
		*what = decode_hex(in, len, d, e) < 0 ? STP_DGRAM_BAD : STP_DGRAM_OK;
		break;
	case STP_DGRAM_JSON: {
		size_t i = 0;
		while (i < len && (in[i] == ' ' || in[i] == '\t' || in[i] == '\r'))
			i++;
		if (i == len)
			return used;  /* a blank line: nothing */
		*what = decode_json(in, len, d, e) < 0 ? STP_DGRAM_BAD : STP_DGRAM_OK;
		break;
	}
	default:
		break;
	}
	return used;
}

/* --- encoding ------------------------------------------------------------------- */

size_t stp_dgram_encoded_max(enum stp_dgram_fmt f, size_t len)
{
	switch (f) {
	case STP_DGRAM_LINE: return len + 1;
	case STP_DGRAM_RAW: return len;
	case STP_DGRAM_HEX: return 2 * len + 1;
	case STP_DGRAM_JSON: return (len + 2) / 3 * 4 + 40 + STP_ADDRSTRLEN + 256;
	}
	return 0;
}

size_t stp_dgram_encode(enum stp_dgram_fmt f, const struct stp_addr *from,
			const uint8_t *data, size_t len, char *out, size_t cap)
{
	static const char hx[] = "0123456789abcdef";
	size_t o = 0;

	if (cap < stp_dgram_encoded_max(f, len))
		return 0;
	switch (f) {
	case STP_DGRAM_LINE:
	case STP_DGRAM_RAW:
		memcpy(out, data, len);
		o = len;
		if (f == STP_DGRAM_LINE)
			out[o++] = '\n';
		return o;
	case STP_DGRAM_HEX:
		for (size_t i = 0; i < len; i++) {
			out[o++] = hx[data[i] >> 4];
			out[o++] = hx[data[i] & 15];
		}
		out[o++] = '\n';
		return o;
	case STP_DGRAM_JSON: {
		char a[STP_HOSTPORT_MAX];
		int k;
		if (from) {
			/* a name may hold '"' or '\': json_dumps would escape it; a
			 * sender is always an address, a name only if a relay says so */
			stp_addr_str(from, a, sizeof(a));
			for (char *p = a; *p; p++)
				if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
					*p = '?';
			k = snprintf(out, cap, "{\"from\":\"%s\",\"data\":\"", a);
		} else {
			k = snprintf(out, cap, "{\"data\":\"");
		}
		if (k < 0 || (size_t)k >= cap)
			return 0;
		o = (size_t)k;
		size_t b = stp_base64_encode(data, len, out + o, cap - o);
		if (len && !b)
			return 0;
		o += b;
		if (cap - o < 3)
			return 0;
		memcpy(out + o, "\"}\n", 3);
		return o + 3;
	}
	}
	return 0;
}
