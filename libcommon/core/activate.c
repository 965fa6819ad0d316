/* activate.c - systemd socket activation: LISTEN_PID and LISTEN_FDS. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/activate.h"

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

int stp_inetd_stdio(void)
{
	struct stat in, st;
	int which = 0, null = -1;

	if (fstat(0, &in) < 0 || !S_ISSOCK(in.st_mode))
		return 0;  /* the server says what is wrong with stdin */
	for (int fd = 1; fd <= 2; fd++) {
		if (fstat(fd, &st) < 0 || st.st_dev != in.st_dev || st.st_ino != in.st_ino)
			continue;
		if (null < 0 && (null = open("/dev/null", O_WRONLY | O_CLOEXEC)) < 0)
			return -1;
		if (dup2(null, fd) < 0) {
			int keep = errno;
			close(null);
			errno = keep;
			return -1;
		}
		which |= fd;
	}
	if (null >= 0)
		close(null);
	return which;
}
