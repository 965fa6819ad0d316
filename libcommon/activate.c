/* activate.c - systemd socket activation: LISTEN_PID and LISTEN_FDS. */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "activate.h"

/* A decimal number in 1 .. max, the whole string. Returns it, or -1. */
static long whole_number(const char *s, long max)
{
	char *end;
	long v;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < 1 || v > max)
		return -1;
	return v;
}

int stp_listen_fds(bool unset)
{
	long pid = whole_number(getenv("LISTEN_PID"), 1L << 30);
	const char *fds = getenv("LISTEN_FDS");
	int n = 0;

	if (pid > 0 && pid == (long)getpid() && fds) {
		/* the fd table is far smaller than this; a bad count is an error */
		long v = whole_number(fds, 65536);
		n = v > 0 ? (int)v : (fds[0] == '0' && !fds[1] ? 0 : -1);
	}
	if (unset) {
		unsetenv("LISTEN_PID");
		unsetenv("LISTEN_FDS");
		unsetenv("LISTEN_FDNAMES");
	}
	return n;
}
