/* err.c - the caller-owned error of every library call (err.h). */
#include <stdio.h>
#include <string.h>
#include "proto/err.h"

/* Keeps a message on one line: a peer's text or a name with a newline in it
 * must not be able to forge a second diagnostic line. */
static void err_one_line(char *s)
{
	for (; *s; s++)
		if (*s == '\n' || *s == '\r')
			*s = ' ';
}

/* Always returns -1; e may be NULL. Long messages are truncated. */
int stp_err_set(struct stp_err *e, int code, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return -1;
	e->code = code;
	va_start(ap, fmt);
	if (vsnprintf(e->msg, sizeof(e->msg), fmt, ap) < 0)
		e->msg[0] = '\0';
	va_end(ap);
	err_one_line(e->msg);
	return -1;
}

/* Appends as much of s as fits after buf[*len], keeping buf terminated. */
static void err_append(char *buf, size_t cap, size_t *len, const char *s, size_t n)
{
	if (n > cap - 1 - *len)
		n = cap - 1 - *len;
	memcpy(buf + *len, s, n);
	*len += n;
	buf[*len] = '\0';
}

/* Always returns -1; e may be NULL. The code is kept; when prefix and
 * message do not fit, the end of the message is cut off. */
int stp_err_prefix(struct stp_err *e, const char *fmt, ...)
{
	char buf[sizeof(e->msg)];
	size_t len;
	va_list ap;
	int k;

	if (!e)
		return -1;
	va_start(ap, fmt);
	k = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (k < 0)
		return -1;
	len = strlen(buf);
	err_append(buf, sizeof(buf), &len, ": ", 2);
	err_append(buf, sizeof(buf), &len, e->msg, strnlen(e->msg, sizeof(e->msg) - 1));
	memcpy(e->msg, buf, len + 1);
	err_one_line(e->msg);
	return -1;
}
