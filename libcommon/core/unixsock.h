/* unixsock.h - Unix stream sockets for stp-connect's MUX master (--mux-master)
 * and its clients (--mux): a private listener at a path the user owns, and a
 * blocking connect to it. */
#ifndef STP_UNIXSOCK_H
#define STP_UNIXSOCK_H

#include "proto/err.h"

/* Listens on the Unix socket path: non-blocking, close-on-exec, created with
 * mode 0600 (bound under umask 0177). An existing path is taken over only
 * when it is a socket owned by the effective user that nobody listens on
 * (a stale one: unlinked first). Returns the fd (the caller's, and so is
 * unlinking path when done), or -1 with e: "PATH: not owned by you", "PATH:
 * exists and is not a socket", "PATH: a master is already running", a
 * failed system call (those STP_EXIT_FAIL), or a path longer than a socket
 * address holds (STP_EXIT_USAGE). */
int stp_unix_listen(const char *path, struct stp_err *e);

/* Connects to the Unix socket path. Returns the fd (blocking, close-on-exec;
 * the caller's), or -1 with e ("PATH: Connection refused", code
 * STP_EXIT_REACH; a path too long: STP_EXIT_USAGE) and errno kept from the
 * failed call: ENOENT or ECONNREFUSED mean that nothing listens there. */
int stp_unix_connect(const char *path, struct stp_err *e);

#endif
