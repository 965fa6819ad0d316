/* evloop.c - epoll event loop with a timer heap and signalfd signals. */
#include <errno.h>
#include <signal.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "core/evloop.h"

#define MAX_EVENTS 256
#define MAX_SIGNALS 8

struct fdent {
	stp_fd_cb *cb;
	void *arg;
	unsigned mask;
	uint32_t gen;       /* bumped per watch, so stale events of a reused fd are dropped */
	bool active;
	bool always_ready;  /* epoll refused it (regular file): poll by calling */
	bool parked;        /* hung up while nobody listened: out of epoll until wanted */
};

struct sigent {
	int signo;
	stp_signal_cb *cb;
	void *arg;
};

struct stp_loop {
	int epfd;
	int maxfds;
	struct fdent *fds;
	int nready_always;      /* how many always_ready fds are watched */
	struct stp_timer **heap;
	size_t nheap, capheap;
	struct stp_timer *due;  /* armed when the heap could not grow: fire next */
	uint64_t now;
	bool stop;
	int sigfd;
	sigset_t sigs;
	void *scratch;
	struct sigent sig[MAX_SIGNALS];
	int nsig;
};

uint64_t stp_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int stp_ms_left(uint64_t deadline)
{
	uint64_t now = stp_clock_ms();

	if (now >= deadline)
		return 0;
	return deadline - now > INT_MAX ? INT_MAX : (int)(deadline - now);
}

void *stp_loop_scratch(struct stp_loop *l)
{
	if (!l->scratch)
		l->scratch = malloc(STP_LOOP_SCRATCH);
	return l->scratch;
}

uint64_t stp_loop_now(const struct stp_loop *l)
{
	return l->now;
}

/* Returns the loop, or NULL with e filled. */
struct stp_loop *stp_loop_new(int maxfds, struct stp_err *e)
{
	struct stp_loop *l = calloc(1, sizeof(*l));

	if (!l) {
		stp_err_set(e, STP_EXIT_FAIL, "out of memory");
		return NULL;
	}
	l->maxfds = maxfds;
	l->sigfd = -1;
	l->fds = calloc((size_t)maxfds, sizeof(*l->fds));
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (!l->fds || l->epfd < 0) {
		stp_err_set(e, STP_EXIT_FAIL, "event loop: %s", strerror(errno));
		stp_loop_free(l);
		return NULL;
	}
	l->now = stp_clock_ms();
	return l;
}

void stp_loop_free(struct stp_loop *l)
{
	if (!l)
		return;
	if (l->epfd >= 0)
		close(l->epfd);
	if (l->sigfd >= 0)
		close(l->sigfd);
	free(l->fds);
	free(l->heap);
	free(l->scratch);
	free(l);
}

static uint32_t ev_to_epoll(unsigned mask)
{
	return ((mask & STP_EV_READ) ? EPOLLIN : 0) | ((mask & STP_EV_WRITE) ? EPOLLOUT : 0);
}

static int epoll_update(struct stp_loop *l, int fd, int op, unsigned mask)
{
	struct epoll_event ev = {
		.events = ev_to_epoll(mask),
		.data.u64 = (uint64_t)(uint32_t)fd | ((uint64_t)l->fds[fd].gen << 32),
	};

	return epoll_ctl(l->epfd, op, fd, &ev);
}

/* Returns 0, or -1 with errno. */
int stp_loop_watch(struct stp_loop *l, int fd, unsigned mask, stp_fd_cb *cb, void *arg)
{
	struct fdent *f;

	if (fd < 0 || fd >= l->maxfds) {
		errno = fd < 0 ? EBADF : ERANGE;
		return -1;
	}
	f = &l->fds[fd];
	if (f->active) {
		f->cb = cb;
		f->arg = arg;
		return stp_loop_set(l, fd, mask);
	}
	f->gen++;
	f->parked = false;
	if (epoll_update(l, fd, EPOLL_CTL_ADD, mask) < 0) {
		if (errno != EPERM)
			return -1;
		f->always_ready = true;
		l->nready_always++;
	} else {
		f->always_ready = false;
	}
	f->cb = cb;
	f->arg = arg;
	f->mask = mask;
	f->active = true;
	return 0;
}

/* Returns 0, or -1 with errno; unchanged masks cost no syscall. */
int stp_loop_set(struct stp_loop *l, int fd, unsigned mask)
{
	struct fdent *f;

	if (fd < 0 || fd >= l->maxfds || !l->fds[fd].active) {
		errno = EBADF;
		return -1;
	}
	f = &l->fds[fd];
	if (f->mask == mask)
		return 0;
	if (f->parked) {
		if (mask && epoll_update(l, fd, EPOLL_CTL_ADD, mask) < 0)
			return -1;
		f->parked = !mask;
	} else if (!f->always_ready && epoll_update(l, fd, EPOLL_CTL_MOD, mask) < 0) {
		return -1;
	}
	f->mask = mask;
	return 0;
}

unsigned stp_loop_mask(const struct stp_loop *l, int fd)
{
	if (fd < 0 || fd >= l->maxfds || !l->fds[fd].active)
		return 0;
	return l->fds[fd].mask;
}

/* Drops fd's entry; with tell_kernel, its epoll registration too (not
 * needed when the fd is about to be closed: close removes it). */
static void drop_entry(struct stp_loop *l, int fd, bool tell_kernel)
{
	struct fdent *f;

	if (fd < 0 || fd >= l->maxfds || !l->fds[fd].active)
		return;
	f = &l->fds[fd];
	if (f->always_ready)
		l->nready_always--;
	else if (tell_kernel && !f->parked)
		epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
	f->active = false;
	f->parked = false;
	f->always_ready = false;
	f->cb = NULL;
	f->arg = NULL;
	f->mask = 0;
	f->gen++;
}

void stp_loop_forget(struct stp_loop *l, int fd)
{
	drop_entry(l, fd, false);
}

void stp_loop_unwatch(struct stp_loop *l, int fd)
{
	drop_entry(l, fd, true);
}

/* --- timers: a binary min-heap of pointers, each knowing its index ------- */
static void heap_swap(struct stp_loop *l, size_t a, size_t b)
{
	struct stp_timer *t = l->heap[a];

	l->heap[a] = l->heap[b];
	l->heap[b] = t;
	l->heap[a]->idx = a + 1;
	l->heap[b]->idx = b + 1;
}

static void heap_up(struct stp_loop *l, size_t i)
{
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (l->heap[p]->when <= l->heap[i]->when)
			break;
		heap_swap(l, i, p);
		i = p;
	}
}

static void heap_down(struct stp_loop *l, size_t i)
{
	for (;;) {
		size_t c = 2 * i + 1, m = i;
		if (c < l->nheap && l->heap[c]->when < l->heap[m]->when)
			m = c;
		if (c + 1 < l->nheap && l->heap[c + 1]->when < l->heap[m]->when)
			m = c + 1;
		if (m == i)
			break;
		heap_swap(l, i, m);
		i = m;
	}
}

void stp_timer_init(struct stp_timer *t, stp_timer_cb *cb, void *arg)
{
	memset(t, 0, sizeof(*t));
	t->cb = cb;
	t->arg = arg;
}

void stp_timer_stop(struct stp_loop *l, struct stp_timer *t)
{
	size_t i;

	if (!t->idx)
		return;
	if (t->idx == STP_TIMER_DUE) {
		struct stp_timer **pp = &l->due;
		while (*pp != t)
			pp = &(*pp)->next_due;
		*pp = t->next_due;
		t->idx = 0;
		return;
	}
	i = t->idx - 1;
	t->idx = 0;
	l->nheap--;
	if (i == l->nheap)
		return;
	l->heap[i] = l->heap[l->nheap];
	l->heap[i]->idx = i + 1;
	heap_up(l, i);
	heap_down(l, i);
}

/* Arms t; on allocation failure the timer fires at the next iteration
 * instead of being lost (its callback re-checks its own deadline). */
void stp_timer_start(struct stp_loop *l, struct stp_timer *t, uint64_t ms)
{
	stp_timer_stop(l, t);
	t->when = l->now + ms;
	if (l->nheap == l->capheap) {
		size_t cap = l->capheap ? l->capheap * 2 : 64;
		struct stp_timer **h = realloc(l->heap, cap * sizeof(*h));
		if (!h) {
			/* a lost timer would hang a session forever */
			struct stp_timer **pp = &l->due;
			while (*pp)  /* at the tail: run_timers fires in order */
				pp = &(*pp)->next_due;
			t->idx = STP_TIMER_DUE;
			t->next_due = NULL;
			*pp = t;
			return;
		}
		l->heap = h;
		l->capheap = cap;
	}
	l->heap[l->nheap] = t;
	t->idx = ++l->nheap;
	heap_up(l, l->nheap - 1);
}

static void run_timers(struct stp_loop *l)
{
	/* only those due now: a callback that re-arms while memory is still
	 * short goes to the tail, for the next iteration */
	size_t n = 0;
	for (struct stp_timer *t = l->due; t; t = t->next_due)
		n++;
	while (n-- && l->due && !l->stop) {
		struct stp_timer *t = l->due;
		stp_timer_stop(l, t);
		t->cb(l, t, t->arg);
	}
	while (l->nheap && l->heap[0]->when <= l->now && !l->stop) {
		struct stp_timer *t = l->heap[0];
		stp_timer_stop(l, t);
		t->cb(l, t, t->arg);
	}
}

/* --- signals -------------------------------------------------------------- */
static void on_signalfd(struct stp_loop *l, int fd, unsigned events, void *arg)
{
	struct signalfd_siginfo si;

	(void)events;
	(void)arg;
	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		for (int i = 0; i < l->nsig; i++)
			if (l->sig[i].signo == (int)si.ssi_signo)
				l->sig[i].cb(l, (int)si.ssi_signo, l->sig[i].arg);
	}
}

/* Returns 0, or -1 with errno. */
int stp_loop_signal(struct stp_loop *l, int signo, stp_signal_cb *cb, void *arg)
{
	int fd;

	if (l->nsig == MAX_SIGNALS) {
		errno = ENOSPC;
		return -1;
	}
	if (l->nsig == 0)
		sigemptyset(&l->sigs);
	sigaddset(&l->sigs, signo);
	if (sigprocmask(SIG_BLOCK, &l->sigs, NULL) < 0)
		return -1;
	fd = signalfd(l->sigfd, &l->sigs, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		return -1;
	if (l->sigfd < 0) {
		l->sigfd = fd;
		if (stp_loop_watch(l, fd, STP_EV_READ, on_signalfd, NULL) < 0)
			return -1;
	}
	l->sig[l->nsig++] = (struct sigent){ signo, cb, arg };
	return 0;
}

/* --- the loop --------------------------------------------------------------- */
void stp_loop_stop(struct stp_loop *l)
{
	l->stop = true;
}

static void run_always_ready(struct stp_loop *l)
{
	for (int fd = 0; fd < l->maxfds && l->nready_always && !l->stop; fd++) {
		struct fdent *f = &l->fds[fd];
		if (f->active && f->always_ready && f->mask)
			f->cb(l, fd, f->mask, f->arg);
	}
}

static bool any_always_ready(const struct stp_loop *l)
{
	if (!l->nready_always)
		return false;
	for (int fd = 0; fd < l->maxfds; fd++)
		if (l->fds[fd].active && l->fds[fd].always_ready && l->fds[fd].mask)
			return true;
	return false;
}

/* Returns 0 after stp_loop_stop(), or -1 if epoll_wait fails. */
int stp_loop_run(struct stp_loop *l)
{
	struct epoll_event evs[MAX_EVENTS];

	l->stop = false;
	while (!l->stop) {
		int timeout = -1, n;

		l->now = stp_clock_ms();
		if (l->due)
			timeout = 0;
		else if (l->nheap)
			timeout = l->heap[0]->when <= l->now ? 0 : (int)(l->heap[0]->when - l->now);
		if (any_always_ready(l))
			timeout = 0;
		n = epoll_wait(l->epfd, evs, MAX_EVENTS, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		l->now = stp_clock_ms();
		for (int i = 0; i < n && !l->stop; i++) {
			int fd = (int)(uint32_t)evs[i].data.u64;
			uint32_t gen = (uint32_t)(evs[i].data.u64 >> 32);
			struct fdent *f = &l->fds[fd];
			unsigned ev = 0;

			if (!f->active || f->gen != gen)
				continue;  /* unwatched (or reused) by an earlier callback */
			if (evs[i].events & (EPOLLERR | EPOLLHUP)) {
				if (!f->mask) {
					/* epoll reports hang-ups even with no interest:
					 * park the fd so it cannot spin the loop */
					epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
					f->parked = true;
					continue;
				}
				ev = STP_EV_READ | STP_EV_WRITE | STP_EV_ERROR;
			}
			if (evs[i].events & EPOLLIN)
				ev |= STP_EV_READ;
			if (evs[i].events & EPOLLOUT)
				ev |= STP_EV_WRITE;
			f->cb(l, fd, ev, f->arg);
		}
		run_always_ready(l);
		run_timers(l);
	}
	return 0;
}
