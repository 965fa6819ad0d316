/* msg.c - diagnostics lines. */
#include <stdarg.h>
#include <stdlib.h>

#include "core/msg.h"

void stp_log(const struct stp_log *lg, int level, const char *fmt, ...)
{
	va_list ap;
	char small[1024], *line = small;
	int n;

	if (!lg || !lg->f || level > lg->level)
		return;
	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	/* escaped client bytes (a user name, a target: 4 characters each)
	 * can make a line longer than most: it is never cut short, or its
	 * end (a closing quote, a reason) would be lost unseen */
	if ((size_t)n >= sizeof(small)) {
		line = malloc((size_t)n + 1);
		if (line) {
			va_start(ap, fmt);
			vsnprintf(line, (size_t)n + 1, fmt, ap);
			va_end(ap);
		} else {
			line = small;
		}
	}
	/* one fprintf per line, so lines from one process never interleave */
	fprintf(lg->f, "%s: %s%s\n", lg->prog, line,
		line == small && (size_t)n >= sizeof(small) ? " [line cut: out of memory]" : "");
	fflush(lg->f);
	if (line != small)
		free(line);
}
