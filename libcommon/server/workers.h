/* workers.h - stp-serve --workers N: N forked worker processes, each with
 * its own event loop, and the supervisor that keeps them running.
 *
 * The supervisor (the process that bound the listeners) only forks, waits
 * and forwards signals: SIGTERM/SIGINT (a stop: every worker drains, the
 * supervisor returns once all have ended), SIGHUP (each worker reloads).
 * A worker that dies otherwise is logged and started again. */
#ifndef STP_WORKERS_H
#define STP_WORKERS_H

#include <sys/socket.h>
#include "proto/err.h"
#include "core/msg.h"

#define STP_MAX_WORKERS 64

struct stp_workers {
	int n;                      /* 2..STP_MAX_WORKERS */
	const struct stp_log *log;
	/* In the supervisor, once the first n workers are forked (e.g. to
	 * drop privileges): 0, or -1 with e (the workers are stopped). */
	int (*started)(void *arg, struct stp_err *e);
	/* In the supervisor at the stop, before the signal is forwarded:
	 * release what only the workers may use (the listening sockets). */
	void (*stopping)(void *arg);
	void *arg;
};

/* Forks w->n workers and supervises them. Returns like fork(): in each
 * worker its number, 1..n (it then serves and exits; a replacement is
 * forked from the supervisor with the same number), in the supervisor 0
 * once every worker has ended after SIGTERM/SIGINT, or -1 with e when it
 * could not start them (those forked are stopped and waited for). Workers
 * inherit SIGTERM, SIGINT and SIGHUP blocked (the loop's signalfd takes
 * them) and get SIGTERM when the supervisor dies. */
int stp_workers_run(const struct stp_workers *w, struct stp_err *e);

#endif
