/* logesc.c - escaping untrusted text for text log lines. */
#include <stdio.h>
#include <string.h>

#include "core/logesc.h"

/* The escape of byte c into e (at most 5 bytes with NUL); e is empty when
 * c stands for itself. */
static void esc_of(unsigned char c, bool quoted, char e[5])
{
	e[0] = '\0';
	if (c == '\\' || c == '"')
		snprintf(e, 5, "\\%c", c);
	else if (c == '\n')
		snprintf(e, 5, "\\n");
	else if (c == '\r')
		snprintf(e, 5, "\\r");
	else if (c == '\t')
		snprintf(e, 5, "\\t");
	else if (c == ' ' && quoted)
		return;
	else if (c < 0x21 || c > 0x7e)
		snprintf(e, 5, "\\x%02x", c);
}

char *stp_logesc(char *out, size_t cap, const char *s, bool quoted)
{
	size_t o = 0;
	char e[5];

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		esc_of(*p, quoted, e);
		size_t k = e[0] ? strlen(e) : 1;
		if (o + k >= cap)
			break;
		if (e[0])
			memcpy(out + o, e, k);
		else
			out[o] = (char)*p;
		o += k;
	}
	out[o] = '\0';
	return out;
}
