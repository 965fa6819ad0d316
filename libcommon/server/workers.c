/* workers.c - the supervisor of stp-serve's worker processes (workers.h).
 *
 * No event loop here: the supervisor blocks SIGTERM, SIGINT, SIGHUP and
 * SIGCHLD and takes them with sigtimedwait, so a signal can neither be lost
 * between a check and a wait nor interrupt anything. The timeout only
 * serves delayed restarts: a worker that dies within a second of its start
 * (a setup failure, say) is started again a second later, not in a tight
 * loop. */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proto/addr.h"
#include "core/evloop.h"
#include "server/workers.h"

#define RESTART_DELAY_MS 1000   /* after a worker that lived less than this */

struct slot {
	pid_t pid;                  /* 0: not running */
	uint64_t started;           /* stp_clock_ms() of its fork */
	uint64_t restart_at;        /* 0: no restart due */
};

/* Forks worker k (0-based) into sl. Returns 0 in the supervisor, k + 1 in
 * the worker, or -1 with errno when fork failed. */
static int spawn(const struct stp_workers *w, struct slot *sl, int k, const sigset_t *child_mask)
{
	pid_t parent = getpid();
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		/* the worker: SIGTERM/SIGINT/SIGHUP stay blocked until its
		 * loop's signalfd takes them (one that comes earlier waits) */
		sigprocmask(SIG_SETMASK, child_mask, NULL);
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent)
			raise(SIGTERM);  /* no supervisor (any more): stop at once */
		return k + 1;
	}
	sl->pid = pid;
	sl->started = stp_clock_ms();
	sl->restart_at = 0;
	stp_log(w->log, STP_LOG_DEBUG, "worker %d started (pid %ld)", k + 1, (long)pid);
	return 0;
}

static void forward(struct slot *v, int n, int signo)
{
	for (int k = 0; k < n; k++)
		if (v[k].pid > 0)
			kill(v[k].pid, signo);
}

static int running(const struct slot *v, int n)
{
	int c = 0;

	for (int k = 0; k < n; k++)
		c += v[k].pid > 0;
	return c;
}

/* Collects the workers that ended; logs those that did not end as asked
 * and (unless stopping) plans their restart. */
static void reap(const struct stp_workers *w, struct slot *v, bool stopping)
{
	int st;
	pid_t pid;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		int k;
		for (k = 0; k < w->n && v[k].pid != pid; k++)
			;
		if (k == w->n)
			continue;  /* not a worker */
		v[k].pid = 0;
		if (stopping && WIFEXITED(st) && WEXITSTATUS(st) == 0)
			continue;
		if (WIFSIGNALED(st))
			stp_log(w->log, STP_LOG_WARN, "worker %ld killed by signal %d (%s)%s",
				(long)pid, WTERMSIG(st), strsignal(WTERMSIG(st)),
				stopping ? "" : ": starting another");
		else
			stp_log(w->log, STP_LOG_WARN, "worker %ld exited with status %d%s", (long)pid,
				WIFEXITED(st) ? WEXITSTATUS(st) : -1,
				stopping ? "" : ": starting another");
		if (!stopping) {
			uint64_t now = stp_clock_ms();
			v[k].restart_at = now - v[k].started < RESTART_DELAY_MS ?
						  now + RESTART_DELAY_MS : now;
		}
	}
}

int stp_workers_run(const struct stp_workers *w, struct stp_err *e)
{
	struct slot v[STP_MAX_WORKERS] = { { 0 } };
	sigset_t set, old, child;
	bool stopping = false;
	int rc;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &set, &old) < 0)
		return stp_err_set(e, STP_EXIT_FAIL, "workers: sigprocmask: %s", strerror(errno));
	child = old;
	sigaddset(&child, SIGTERM);
	sigaddset(&child, SIGINT);
	sigaddset(&child, SIGHUP);
	for (int k = 0; k < w->n; k++) {
		rc = spawn(w, &v[k], k, &child);
		if (rc != 0) {
			if (rc > 0)
				return rc;  /* the worker */
			stp_err_set(e, STP_EXIT_FAIL, "workers: fork: %s", strerror(errno));
			goto fail;
		}
	}
	if (w->started && w->started(w->arg, e) < 0)
		goto fail;
	for (;;) {
		uint64_t now = stp_clock_ms(), next = 0;
		for (int k = 0; k < w->n && !stopping; k++) {
			if (!v[k].restart_at)
				continue;
			if (v[k].restart_at <= now) {
				rc = spawn(w, &v[k], k, &child);
				if (rc > 0)
					return rc;  /* the worker */
				if (rc < 0) {
					stp_log(w->log, STP_LOG_WARN, "worker %d: fork: %s", k + 1,
						strerror(errno));
					v[k].restart_at = now + RESTART_DELAY_MS;
				}
			}
			if (v[k].restart_at && (!next || v[k].restart_at < next))
				next = v[k].restart_at;
		}
		if (stopping && running(v, w->n) == 0)
			break;
		/* SIGCHLD is not lost while blocked, but reap on every wake-up
		 * anyway: one pending SIGCHLD stands for any number of children */
		uint64_t wait_ms = next ? next - now : 1000;
		struct timespec ts = { .tv_sec = (time_t)(wait_ms / 1000),
				       .tv_nsec = (long)(wait_ms % 1000) * 1000000 };
		siginfo_t si;
		int sig = sigtimedwait(&set, &si, &ts);
		if (sig < 0 && errno != EAGAIN && errno != EINTR) {
			stp_err_set(e, STP_EXIT_FAIL, "workers: sigtimedwait: %s", strerror(errno));
			goto fail;
		}
		if (sig == SIGTERM || sig == SIGINT) {
			if (!stopping) {
				stopping = true;
				if (w->stopping)
					w->stopping(w->arg);
				for (int k = 0; k < w->n; k++)
					v[k].restart_at = 0;
			}
			/* a terminal's ^C reached the whole process group
			 * already: another copy would cut the drain short */
			if (si.si_code != SI_KERNEL)
				forward(v, w->n, sig);
		} else if (sig == SIGHUP) {
			if (si.si_code != SI_KERNEL)
				forward(v, w->n, SIGHUP);
		}
		reap(w, v, stopping);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	return 0;
fail:
	/* stop those that run, and wait for them: nothing is left behind */
	if (w->stopping && !stopping)
		w->stopping(w->arg);
	forward(v, w->n, SIGTERM);
	for (int k = 0; k < w->n; k++)
		if (v[k].pid > 0)
			while (waitpid(v[k].pid, NULL, 0) < 0 && errno == EINTR)
				;
	sigprocmask(SIG_SETMASK, &old, NULL);
	return -1;
}
