/* stream.h - run one relay to its end on a loop of its own: what stream
 * programs do with stdin/stdout (or an accepted socket) and a proxied
 * connection. Also the -L forwarder: accept, and serve each connection on
 * a thread of its own. */
#ifndef STP_STREAM_H
#define STP_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "client/client.h"
#include "proto/err.h"
#include "core/msg.h"

/* Relays (rfd, wfd) <-> conn until both directions are closed; conn's
 * early bytes (those that came with the proxy's reply) are written to wfd
 * first. Closes conn, rfd and wfd, on every path. Returns 0, or -1 with e
 * (code 1: the stream failed after set-up). */
int stp_stream_run(int rfd, int wfd, struct stp_conn *conn, struct stp_err *e);

/* Called on the connection's own thread for each accepted connection
 * (several at once: it must be thread-safe): connect onward into conn.
 * Returns 0, or -1 with e. */
typedef int stp_forward_open(void *arg, struct stp_conn *conn, struct stp_err *e);

/* Accepts on lfd forever; each connection is served by a detached thread
 * running open() then stp_stream_run(). Logs failures through lg. Returns
 * only on a fatal error: -1 with e. */
int stp_forward_serve(int lfd, stp_forward_open *open, void *arg,
		      const struct stp_log *lg, struct stp_err *e);

/* stp_stream_run on dups of rfd and wfd, which stay open (streams on
 * stdin/stdout one after another). Closes conn. Returns 0, or -1 with e. */
int stp_stream_run_dup(int rfd, int wfd, struct stp_conn *conn, struct stp_err *e);

/* The work of a child process: returns its exit status. */
typedef int stp_child_fn(void *arg);

/* Forks a child that runs fn(arg) and _exits with what it returns (the
 * caller reaps it, or has SIGCHLD set to SA_NOCLDWAIT). Returns the
 * child's pid in the parent, or -1 with e ("fork: why"). */
pid_t stp_run_child(stp_child_fn *fn, void *arg, struct stp_err *e);

/* Replaces this process with /bin/sh -c cmd, fd as its stdin and stdout
 * (fd itself is not passed on). Returns only on failure: -1 with e (code
 * 127 when /bin/sh cannot run, as sh's own "not found"; errno kept). */
int stp_exec_on(const char *cmd, int fd, struct stp_err *e);

/* Runs /bin/sh -c cmd in a child whose stdin and stdout are one end of a
 * socket pair; *fd (the caller's to close) is the other end and *pid the
 * child's. Returns 0 once the exec has happened, or -1 with e (code 127
 * and "/bin/sh: why" when it failed; the child is then reaped). */
int stp_exec_attached(const char *cmd, int *fd, pid_t *pid, struct stp_err *e);

#endif
