/* users.c - users file, worker threads for the slow hash, a result cache.
 *
 * The checks wait in an authq (fair between client addresses, bounded);
 * a cancelled check still in it is dropped there, so the threads hash
 * only for sessions that are still open (one already being hashed runs to
 * its end, and its answer is thrown away). */
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "server/policy/authq.h"
#include "server/policy/passwd.h"
#include "server/policy/users.h"

#define MAC_LEN 32
#define MAX_THREADS 4
/* Checks queued at once: per client address (the failed-login limit keeps
 * an address to 5 in flight; a little room for reloads), and in all. Past
 * them a login is refused unchecked, never queued without bound. */
#define QUEUE_PER_ADDR 8
#define QUEUE_TOTAL 4096

struct user {
	char *name;
	char *hash;
	bool has_ok;
	unsigned char ok_mac[MAC_LEN];  /* HMAC(key, name NUL pass) last verified */
};

struct stp_auth_job {
	struct stp_authq_item qi;  /* first: a popped item is its job */
	struct stp_auth_job *next; /* on the done list */
	int idx;                 /* user index, -1 unknown */
	char pass[256];
	stp_auth_cb *cb;
	void *arg;
	bool cancelled;
	bool ok;
	unsigned char mac[MAC_LEN];
};

struct stp_users {
	struct user *v;
	size_t n;
	unsigned char key[32];
	char dummy_hash[STP_HASH_MAX];  /* verified for unknown users: same time */
	struct stp_loop *loop;
	pthread_t thread[MAX_THREADS];
	int nthreads;
	bool locks, stopping;
	bool dummy_started, dummy_ready;  /* under mu */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct stp_authq *todo;    /* under mu */
	struct stp_auth_job *done; /* under mu */
	int evfd;
};

static void mac_of(const struct stp_users *u, const char *user, const char *pass,
		   unsigned char *out)
{
	unsigned char buf[600];
	size_t ul = strlen(user), pl = strlen(pass);
	unsigned int ol = MAC_LEN;

	memcpy(buf, user, ul);
	buf[ul] = 0;
	memcpy(buf + ul + 1, pass, pl);
	HMAC(EVP_sha256(), u->key, sizeof(u->key), buf, ul + 1 + pl, out, &ol);
	OPENSSL_cleanse(buf, sizeof(buf));
}

/* Returns the users, or NULL with e filled. */
struct stp_users *stp_users_load(const char *path, struct stp_err *e)
{
	FILE *f = fopen(path, "r");
	struct stp_users *u;
	char line[1024];
	int lineno = 0;

	if (!f) {
		stp_err_set(e, STP_EXIT_USAGE, "users file %s: %s", path, strerror(errno));
		return NULL;
	}
	u = calloc(1, sizeof(*u));
	if (!u)
		goto oom;
	u->evfd = -1;
	while (fgets(line, sizeof(line), f)) {
		char *colon, *nl = strchr(line, '\n');
		lineno++;
		if (!nl && !feof(f)) {
			stp_err_set(e, STP_EXIT_USAGE, "%s:%d: line too long", path, lineno);
			goto fail;
		}
		if (nl)
			*nl = '\0';
		if (nl > line && nl[-1] == '\r')
			nl[-1] = '\0';
		if (line[0] == '#' || line[0] == '\0')
			continue;
		colon = strchr(line, ':');
		if (!colon || colon == line || colon - line > 255) {
			stp_err_set(e, STP_EXIT_USAGE, "%s:%d: expected user:HASH", path, lineno);
			goto fail;
		}
		*colon = '\0';
		if (stp_passwd_check_format(colon + 1) < 0) {
			stp_err_set(e, STP_EXIT_USAGE,
				    "%s:%d: user '%s' has no valid hash (plain text is refused; "
				    "make one with 'stp-serve --hash-password')", path, lineno, line);
			goto fail;
		}
		struct user *nv = realloc(u->v, (u->n + 1) * sizeof(*nv));
		if (!nv)
			goto oom;
		u->v = nv;
		memset(&u->v[u->n], 0, sizeof(u->v[u->n]));
		u->v[u->n].name = strdup(line);
		u->v[u->n].hash = strdup(colon + 1);
		u->n++;
		if (!u->v[u->n - 1].name || !u->v[u->n - 1].hash)
			goto oom;
	}
	OPENSSL_cleanse(line, sizeof(line));
	fclose(f);
	/* the dummy hash is made by the worker: a slow hash here would stall
	 * the loop when SIGHUP loads the file again */
	if (RAND_bytes(u->key, sizeof(u->key)) != 1) {
		stp_users_free(u);
		stp_err_set(e, STP_EXIT_FAIL, "users: no randomness");
		return NULL;
	}
	return u;
oom:
	stp_err_set(e, STP_EXIT_FAIL, "users file %s: out of memory", path);
fail:
	OPENSSL_cleanse(line, sizeof(line));
	fclose(f);
	stp_users_free(u);
	return NULL;
}

bool stp_users_has(const struct stp_users *u, const char *user)
{
	for (size_t i = 0; i < u->n; i++)
		if (strcmp(u->v[i].name, user) == 0)
			return true;
	return false;
}

/* The first thread makes the dummy hash (with mu held on entry and on
 * return); the others wait for it: unknown users must cost the same. */
static void make_dummy(struct stp_users *u)
{
	struct stp_err e;

	if (u->dummy_started) {
		while (!u->dummy_ready && !u->stopping)
			pthread_cond_wait(&u->cv, &u->mu);
		return;
	}
	u->dummy_started = true;
	pthread_mutex_unlock(&u->mu);
	/* without it, unknown users are refused at once (not in the same time) */
	if (stp_passwd_hash("x", 1, u->dummy_hash, sizeof(u->dummy_hash), &e) < 0)
		u->dummy_hash[0] = '\0';
	pthread_mutex_lock(&u->mu);
	u->dummy_ready = true;
	pthread_cond_broadcast(&u->cv);
}

/* Hashes j's password (mu not held); the job is this thread's meanwhile. */
static void verify(struct stp_users *u, struct stp_auth_job *j)
{
	const char *hash = j->idx >= 0 ? u->v[j->idx].hash : u->dummy_hash;
	int ok = stp_passwd_verify(j->pass, strlen(j->pass), hash) == 1 && j->idx >= 0;

	j->ok = ok;
	if (ok)
		mac_of(u, u->v[j->idx].name, j->pass, j->mac);
	OPENSSL_cleanse(j->pass, sizeof(j->pass));
}

static void *worker(void *arg)
{
	struct stp_users *u = arg;

	pthread_mutex_lock(&u->mu);
	make_dummy(u);
	for (;;) {
		struct stp_authq_item *it = NULL;
		while (!u->stopping && !(it = stp_authq_pop(u->todo)))
			pthread_cond_wait(&u->cv, &u->mu);
		if (u->stopping)
			break;
		struct stp_auth_job *j = (struct stp_auth_job *)it;
		pthread_mutex_unlock(&u->mu);
		verify(u, j);
		pthread_mutex_lock(&u->mu);
		j->next = u->done;
		u->done = j;
		uint64_t one = 1;
		if (write(u->evfd, &one, sizeof(one)) < 0) {
			/* the counter cannot overflow in practice; nothing to do */
		}
	}
	pthread_mutex_unlock(&u->mu);
	return NULL;
}

static void on_done(struct stp_loop *l, int fd, unsigned ev, void *arg)
{
	struct stp_users *u = arg;
	struct stp_auth_job *list;
	uint64_t cnt;

	(void)l;
	(void)ev;
	if (read(fd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&u->mu);
	list = u->done;
	u->done = NULL;
	pthread_mutex_unlock(&u->mu);
	while (list) {
		struct stp_auth_job *j = list;
		list = j->next;
		if (j->ok) {
			memcpy(u->v[j->idx].ok_mac, j->mac, MAC_LEN);
			u->v[j->idx].has_ok = true;
		}
		if (!j->cancelled)
			j->cb(j->arg, j->ok);
		free(j);
	}
}

/* Hashing threads: one per online CPU, at most MAX_THREADS, at least 1. */
static int thread_count(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : (int)n;
}

/* Returns 0, or -1 with e filled. */
int stp_users_start(struct stp_users *u, struct stp_loop *l, struct stp_err *e)
{
	int want = thread_count(), rc = 0;

	u->loop = l;
	if (pthread_mutex_init(&u->mu, NULL) != 0)
		return stp_err_set(e, STP_EXIT_FAIL, "auth worker: cannot make a lock");
	if (pthread_cond_init(&u->cv, NULL) != 0) {
		pthread_mutex_destroy(&u->mu);
		return stp_err_set(e, STP_EXIT_FAIL, "auth worker: cannot make a lock");
	}
	u->locks = true;
	if (!(u->todo = stp_authq_new(QUEUE_PER_ADDR, QUEUE_TOTAL)))
		return stp_err_set(e, STP_EXIT_FAIL, "auth worker: out of memory");
	u->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (u->evfd < 0 || stp_loop_watch(l, u->evfd, STP_EV_READ, on_done, u) < 0)
		return stp_err_set(e, STP_EXIT_FAIL, "auth worker: %s", strerror(errno));
	/* the workers take no signals: SIGTERM and friends belong to the
	 * loop's signalfd, and a thread that does not block them would be
	 * chosen to die of them instead */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	while (u->nthreads < want &&
	       (rc = pthread_create(&u->thread[u->nthreads], NULL, worker, u)) == 0)
		u->nthreads++;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	/* fewer threads than cores is slower, not wrong */
	if (u->nthreads == 0)
		return stp_err_set(e, STP_EXIT_FAIL, "auth worker: cannot start a thread: %s",
				   strerror(rc));
	return 0;
}

void stp_users_free(struct stp_users *u)
{
	if (!u)
		return;
	if (u->nthreads > 0) {
		pthread_mutex_lock(&u->mu);
		u->stopping = true;
		pthread_cond_broadcast(&u->cv);
		pthread_mutex_unlock(&u->mu);
		for (int i = 0; i < u->nthreads; i++)
			pthread_join(u->thread[i], NULL);
	}
	for (struct stp_authq_item *it; u->todo && (it = stp_authq_pop(u->todo));) {
		struct stp_auth_job *j = (struct stp_auth_job *)it;
		OPENSSL_cleanse(j->pass, sizeof(j->pass));
		free(j);
	}
	stp_authq_free(u->todo);
	if (u->locks) {
		pthread_mutex_destroy(&u->mu);
		pthread_cond_destroy(&u->cv);
	}
	for (struct stp_auth_job *j = u->done, *n; j; j = n) {
		n = j->next;
		free(j);
	}
	if (u->evfd >= 0) {
		if (u->loop)
			stp_loop_unwatch(u->loop, u->evfd);
		close(u->evfd);
	}
	for (size_t i = 0; i < u->n; i++) {
		free(u->v[i].name);
		OPENSSL_cleanse(u->v[i].hash, strlen(u->v[i].hash));
		free(u->v[i].hash);
	}
	free(u->v);
	OPENSSL_cleanse(u->key, sizeof(u->key));
	free(u);
}

/* Returns 0 with *jp set, 1 when cb already ran (a remembered answer, or
 * out of memory: denied), -1 when the queue has no room for peer (cb not
 * run). */
int stp_users_check(struct stp_users *u, const char *user, const char *pass,
		    const struct sockaddr *peer, stp_auth_cb *cb, void *arg,
		    struct stp_auth_job **jp)
{
	struct stp_auth_job *j;
	int idx = -1, rc;

	for (size_t i = 0; i < u->n; i++)
		if (strcmp(u->v[i].name, user) == 0)
			idx = (int)i;
	if (idx >= 0 && u->v[idx].has_ok) {
		unsigned char mac[MAC_LEN];
		mac_of(u, user, pass, mac);
		if (CRYPTO_memcmp(mac, u->v[idx].ok_mac, MAC_LEN) == 0) {
			cb(arg, true);
			return 1;
		}
	}
	j = calloc(1, sizeof(*j));
	if (!j || strlen(pass) >= sizeof(j->pass)) {
		free(j);
		cb(arg, false);
		return 1;
	}
	j->idx = idx;
	j->cb = cb;
	j->arg = arg;
	memcpy(j->pass, pass, strlen(pass) + 1);
	pthread_mutex_lock(&u->mu);
	rc = stp_authq_push(u->todo, &j->qi, peer);
	if (rc == 0)
		pthread_cond_signal(&u->cv);
	pthread_mutex_unlock(&u->mu);
	if (rc < 0) {
		OPENSSL_cleanse(j->pass, sizeof(j->pass));
		free(j);
		return -1;
	}
	*jp = j;
	return 0;
}

void stp_auth_cancel(struct stp_users *u, struct stp_auth_job *j)
{
	bool queued;

	if (!j)
		return;
	pthread_mutex_lock(&u->mu);
	/* still waiting: dropped unhashed; else a thread or the done list
	 * has it, and on_done throws its answer away */
	queued = j->qi.owner != NULL;
	if (queued)
		stp_authq_remove(u->todo, &j->qi);
	else
		j->cancelled = true;
	pthread_mutex_unlock(&u->mu);
	if (queued) {
		OPENSSL_cleanse(j->pass, sizeof(j->pass));
		free(j);
	}
}
