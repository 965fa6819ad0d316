/* evloop.h - the one event loop (after Redis's ae): an fd-indexed table with
 * one callback per fd, epoll underneath, timers on CLOCK_MONOTONIC in a
 * binary heap, signals as events through signalfd.
 *
 * Files epoll cannot watch (regular files, /dev/null on stdin) are accepted
 * and treated as always ready, so stdin/stdout may be anything. */
#ifndef STP_EVLOOP_H
#define STP_EVLOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "proto/err.h"

enum { STP_EV_READ = 1, STP_EV_WRITE = 2, STP_EV_ERROR = 4 };

struct stp_loop;
/* events: STP_EV_READ/WRITE; errors and hang-ups arrive as READ|WRITE|ERROR
 * so that whichever handler is interested sees them. */
typedef void stp_fd_cb(struct stp_loop *l, int fd, unsigned events, void *arg);

struct stp_timer;
typedef void stp_timer_cb(struct stp_loop *l, struct stp_timer *t, void *arg);
struct stp_timer {
	uint64_t when;      /* ms on the loop's monotonic clock */
	size_t idx;         /* heap position + 1; 0 = not armed; STP_TIMER_DUE:
			     * on the due list (the heap could not grow) */
	struct stp_timer *next_due;
	stp_timer_cb *cb;
	void *arg;
};

#define STP_TIMER_DUE SIZE_MAX

typedef void stp_signal_cb(struct stp_loop *l, int signo, void *arg);

/* Returns a loop sized for fds below maxfds, or NULL with e filled. */
struct stp_loop *stp_loop_new(int maxfds, struct stp_err *e);
/* Frees the loop; does not close watched fds (their owners do). */
void stp_loop_free(struct stp_loop *l);

/* Starts watching fd with interest mask (may be 0). Returns 0, or -1 with
 * errno (EBADF, ERANGE when fd >= maxfds, ENOMEM). */
int stp_loop_watch(struct stp_loop *l, int fd, unsigned mask, stp_fd_cb *cb, void *arg);
/* Changes the interest mask; a no-op when unchanged. Returns 0 or -1. */
int stp_loop_set(struct stp_loop *l, int fd, unsigned mask);
unsigned stp_loop_mask(const struct stp_loop *l, int fd);
/* Stops watching fd (call before close()). Pending events for it are dropped. */
void stp_loop_unwatch(struct stp_loop *l, int fd);
/* The same without telling epoll: only right before close() of the last
 * reference to the file (the kernel then drops it from epoll by itself).
 * Saves a syscall per fd for sessions that end by thousands a second. */
void stp_loop_forget(struct stp_loop *l, int fd);

void stp_timer_init(struct stp_timer *t, stp_timer_cb *cb, void *arg);
/* Arms (or re-arms) t to fire once, ms from now. */
void stp_timer_start(struct stp_loop *l, struct stp_timer *t, uint64_t ms);
void stp_timer_stop(struct stp_loop *l, struct stp_timer *t);
static inline bool stp_timer_armed(const struct stp_timer *t) { return t->idx != 0; }

/* A loop-owned buffer of STP_LOOP_SCRATCH bytes for use inside one
 * callback (it is anyone's after it returns): a relay reads into it and
 * keeps a buffer of its own only for bytes it could not pass on at once.
 * Returns NULL when out of memory. */
#define STP_LOOP_SCRATCH 65536
void *stp_loop_scratch(struct stp_loop *l);

/* The loop's clock in ms, refreshed once per iteration. */
uint64_t stp_loop_now(const struct stp_loop *l);
uint64_t stp_clock_ms(void);
/* The ms from now to deadline (stp_clock_ms time) as a poll(2) timeout:
 * 0 once it has passed, at most INT_MAX. */
int stp_ms_left(uint64_t deadline);

/* Delivers signo as a loop event (blocks it for the process). Returns 0 or -1. */
int stp_loop_signal(struct stp_loop *l, int signo, stp_signal_cb *cb, void *arg);

/* Runs until stp_loop_stop(). Returns 0, or -1 on an epoll failure. */
int stp_loop_run(struct stp_loop *l);
void stp_loop_stop(struct stp_loop *l);

#endif
