/* logesc.h - untrusted text (a user name, a SOCKS4 userid, a target name)
 * made safe for a text log line: it can neither end the line nor fake a
 * "key=" field. The format is documented in stp-serve(1), "Session log". */
#ifndef STP_LOGESC_H
#define STP_LOGESC_H

#include <stdbool.h>
#include <stddef.h>

/* The room stp_logesc needs for n input bytes, NUL included. */
#define STP_LOGESC_SIZE(n) (4 * (n) + 1)

/* Writes s into out (cap > 0 bytes, always NUL-terminated) with '\\' and
 * '"' as \\ and \", newline, CR and tab as \n, \r, \t, and every other
 * byte below 0x21 or above 0x7e as \xHH; with quoted (a value between
 * double quotes) a space stays a space. Output that does not fit is cut
 * before the escape that would not fit. Returns out. */
char *stp_logesc(char *out, size_t cap, const char *s, bool quoted);

#endif
