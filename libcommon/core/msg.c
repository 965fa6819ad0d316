/* msg.c - diagnostics lines. */
#include <stdarg.h>

#include "core/msg.h"

void stp_log(const struct stp_log *lg, int level, const char *fmt, ...)
{
	va_list ap;
	char line[1024];

	if (!lg || !lg->f || level > lg->level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* one fprintf per line, so lines from one process never interleave */
	fprintf(lg->f, "%s: %s\n", lg->prog, line);
	fflush(lg->f);
}
