/* json.c - JSON strings that survive bytes that are not UTF-8. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"

/* The length of the valid UTF-8 sequence at p (1 to 4), or 0 if the
 * bytes there are not one: overlong forms, surrogates and code points
 * past U+10FFFF are not (RFC 3629). */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	unsigned c = p[0];
	size_t len;
	unsigned cp, min;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		len = 2, cp = c & 0x1F, min = 0x80;
	else if (c >= 0xE0 && c <= 0xEF)
		len = 3, cp = c & 0x0F, min = 0x800;
	else if (c >= 0xF0 && c <= 0xF4)
		len = 4, cp = c & 0x07, min = 0x10000;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3F);
	}
	if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return len;
}

json_t *stp_json_stringn(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	json_t *j = json_stringn(s, n);

	if (j)
		return j;
	/* not UTF-8 (or NUL inside): at most 4 output bytes per input byte */
	char *buf = malloc(4 * n + 1);
	size_t o = 0;

	if (!buf)
		return NULL;
	for (size_t i = 0; i < n;) {
		size_t k = p[i] ? utf8_len(p + i, n - i) : 0;
		if (k) {
			memcpy(buf + o, p + i, k);
			o += k, i += k;
		} else {
			snprintf(buf + o, 5, "\\x%02x", p[i]);
			o += 4, i++;
		}
	}
	j = json_stringn(buf, o);
	free(buf);
	return j;
}

json_t *stp_json_string(const char *s)
{
	return stp_json_stringn(s, strlen(s));
}
