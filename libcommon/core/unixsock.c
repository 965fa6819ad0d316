/* unixsock.c - Unix stream sockets at a path (see unixsock.h). */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/unixsock.h"

/* Fills sun with path. Returns its length for bind/connect, or -1 with e
 * when path is empty or does not fit sun_path (with its terminating NUL). */
static int unix_addr(struct sockaddr_un *sun, const char *path, struct stp_err *e)
{
	size_t n = strlen(path);

	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (n == 0)
		return stp_err_set(e, STP_EXIT_USAGE, "empty Unix socket path");
	if (n >= sizeof(sun->sun_path))
		return stp_err_set(e, STP_EXIT_USAGE, "%.60s...: too long for a Unix socket "
				   "(%zu bytes, at most %zu)", path, n, sizeof(sun->sun_path) - 1);
	memcpy(sun->sun_path, path, n + 1);
	return (int)(offsetof(struct sockaddr_un, sun_path) + n + 1);
}

int stp_unix_connect(const char *path, struct stp_err *e)
{
	struct sockaddr_un sun;
	int len = unix_addr(&sun, path, e), fd, err;

	if (len < 0) {
		errno = EINVAL;
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err = errno;
		stp_err_set(e, STP_EXIT_FAIL, "socket: %s", strerror(err));
		errno = err;
		return -1;
	}
	while (connect(fd, (struct sockaddr *)&sun, (socklen_t)len) < 0) {
		err = errno;
		if (err == EINTR)
			continue;
		close(fd);
		stp_err_set(e, STP_EXIT_REACH, "%s: %s", path, strerror(err));
		errno = err;
		return -1;
	}
	return fd;
}

/* Looks at what is at path already. Returns 0 when path is free (absent,
 * or a stale socket of ours, now unlinked), or -1 with e. */
static int unix_claim(const char *path, struct stp_err *e)
{
	struct stat st;
	struct stp_err ce;
	int fd;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		return stp_err_set(e, STP_EXIT_FAIL, "%s: %s", path, strerror(errno));
	}
	if (!S_ISSOCK(st.st_mode))
		return stp_err_set(e, STP_EXIT_FAIL, "%s: exists and is not a socket", path);
	if (st.st_uid != geteuid())
		return stp_err_set(e, STP_EXIT_FAIL, "%s: not owned by you", path);
	fd = stp_unix_connect(path, &ce);
	if (fd >= 0) {
		close(fd);
		return stp_err_set(e, STP_EXIT_FAIL, "%s: a master is already running", path);
	}
	if (errno != ECONNREFUSED && errno != ENOENT)
		return stp_err_set(e, STP_EXIT_FAIL, "%s", ce.msg);
	/* stale: left behind by a master that did not exit cleanly */
	if (unlink(path) < 0 && errno != ENOENT)
		return stp_err_set(e, STP_EXIT_FAIL, "%s: cannot remove the stale socket: %s",
				   path, strerror(errno));
	return 0;
}

int stp_unix_listen(const char *path, struct stp_err *e)
{
	struct sockaddr_un sun;
	int len = unix_addr(&sun, path, e), fd, rc, err;
	mode_t old;

	if (len < 0 || unix_claim(path, e) < 0)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return stp_err_set(e, STP_EXIT_FAIL, "socket: %s", strerror(errno));
	/* the socket file is created by bind with 0777 & ~umask: 0600 here,
	 * so there is no moment in which others could connect */
	old = umask(0177);
	rc = bind(fd, (struct sockaddr *)&sun, (socklen_t)len);
	err = errno;
	umask(old);
	if (rc < 0) {
		close(fd);
		if (err == EADDRINUSE)  /* another master won the race */
			return stp_err_set(e, STP_EXIT_FAIL, "%s: a master is already running", path);
		return stp_err_set(e, STP_EXIT_FAIL, "listen %s: %s", path, strerror(err));
	}
	if (listen(fd, 128) < 0) {
		err = errno;
		close(fd);
		unlink(path);
		return stp_err_set(e, STP_EXIT_FAIL, "listen %s: %s", path, strerror(err));
	}
	return fd;
}
