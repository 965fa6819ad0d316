/* gssauth.c - the GSS-API acceptor: one worker thread runs the context
 * steps, queued fairly between client addresses (authq), bounded per
 * address and in all; results come back through an eventfd the loop
 * watches. One thread: a Kerberos step costs well under a millisecond of
 * CPU (its replay-cache write is what must stay off the loop), and MIT's
 * credential handle is then never shared between threads at once. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <gssapi/gssapi_ext.h>
#include <gssapi/gssapi_krb5.h>

#include "server/policy/authq.h"
#include "server/policy/gssauth.h"

#define QUEUE_PER_ADDR 8
#define QUEUE_TOTAL 4096
#define WHY_MAX 320
#define PRINCIPAL_MAX 256

struct stp_gss_job {
	struct stp_authq_item qi;  /* first: a popped item is its job */
	struct stp_gss_job *next;  /* on the done list */
	gss_ctx_id_t ctx;
	gss_buffer_desc in;        /* the client's token (malloc'd) */
	uint8_t *out;              /* the answer (malloc'd), NULL: none */
	size_t outlen;
	int rounds;
	enum stp_gss_state state;
	bool conf, integ;
	bool busy;                 /* queued or on the worker */
	bool cancelled;            /* ... and nobody waits for it any more */
	stp_gss_cb *cb;
	void *arg;
	char why[WHY_MAX];
	char principal[PRINCIPAL_MAX];
};

struct stp_gssauth {
	gss_cred_id_t cred;
	char service[64];
	struct stp_loop *loop;
	pthread_t thread;
	bool started, locks, stopping;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct stp_authq *todo;    /* under mu */
	struct stp_gss_job *done;  /* under mu */
	int evfd;
};

/* A GSS-API status as one line: the mechanism's words (e.g. "Ticket
 * expired") where it has them, after the routine error's unless that is
 * the generic GSS_S_FAILURE ("Unspecified GSS failure..."). */
static void status_text(OM_uint32 major, OM_uint32 minor, char *buf, size_t cap)
{
	OM_uint32 m, ctx = 0;
	gss_buffer_desc b = GSS_C_EMPTY_BUFFER;
	size_t len = 0;

	buf[0] = '\0';
	if (!minor || GSS_ROUTINE_ERROR(major) != GSS_S_FAILURE) {
		do {
			if (len >= cap || gss_display_status(&m, major, GSS_C_GSS_CODE,
							     GSS_C_NO_OID, &ctx, &b) != GSS_S_COMPLETE)
				break;
			len += (size_t)snprintf(buf + len, cap - len, "%s%.*s", len ? "; " : "",
						(int)b.length, (const char *)b.value);
			gss_release_buffer(&m, &b);
		} while (ctx);
	}
	ctx = 0;
	if (minor)
		do {
			if (len >= cap || gss_display_status(&m, minor, GSS_C_MECH_CODE,
							     GSS_C_NO_OID, &ctx, &b) != GSS_S_COMPLETE)
				break;
			len += (size_t)snprintf(buf + len, cap - len, "%s%.*s", len ? ": " : "",
						(int)b.length, (const char *)b.value);
			gss_release_buffer(&m, &b);
		} while (ctx);
}

/* name as text into buf; false if it cannot be shown. */
static bool name_text(gss_name_t name, char *buf, size_t cap)
{
	OM_uint32 m;
	gss_buffer_desc b = GSS_C_EMPTY_BUFFER;

	if (gss_display_name(&m, name, &b, NULL) != GSS_S_COMPLETE)
		return false;
	bool ok = b.length > 0 && b.length < cap && !memchr(b.value, '\0', b.length);
	if (ok) {
		memcpy(buf, b.value, b.length);
		buf[b.length] = '\0';
	}
	gss_release_buffer(&m, &b);
	return ok;
}

/* The established context's own name is "SERVICE/host@REALM": the keytab
 * may hold other services' keys, which are not this proxy's to accept. */
static bool service_ok(const struct stp_gssauth *g, struct stp_gss_job *j)
{
	OM_uint32 m;
	gss_name_t target = GSS_C_NO_NAME;
	char t[PRINCIPAL_MAX];
	size_t sl = strlen(g->service);
	bool ok = false;

	if (gss_inquire_context(&m, j->ctx, NULL, &target, NULL, NULL, NULL, NULL, NULL) !=
	    GSS_S_COMPLETE) {
		snprintf(j->why, sizeof(j->why), "cannot inquire the context");
		return false;
	}
	if (!name_text(target, t, sizeof(t)))
		snprintf(j->why, sizeof(j->why), "the ticket names no service");
	else if (strncmp(t, g->service, sl) != 0 || (t[sl] != '/' && t[sl] != '@'))
		snprintf(j->why, sizeof(j->why), "wrong service: the ticket is for %.120s, not %.63s/...",
			 t, g->service);
	else
		ok = true;
	gss_release_name(&m, &target);
	return ok;
}

/* One step of j's context (mu not held; the job is this thread's). */
static void accept_step(struct stp_gssauth *g, struct stp_gss_job *j)
{
	OM_uint32 major, minor, m, flags = 0;
	gss_buffer_desc out = GSS_C_EMPTY_BUFFER;
	gss_name_t src = GSS_C_NO_NAME;
	size_t outlen;

	j->rounds++;
	major = gss_accept_sec_context(&minor, &j->ctx, g->cred, &j->in,
				       GSS_C_NO_CHANNEL_BINDINGS, &src, NULL, &out, &flags,
				       NULL, NULL);
	free(j->in.value);
	j->in.value = NULL;
	j->in.length = 0;
	outlen = out.length;
	if (out.length > 0 && !GSS_ERROR(major)) {
		if ((j->out = malloc(out.length))) {
			memcpy(j->out, out.value, out.length);
			j->outlen = out.length;
		}
	}
	gss_release_buffer(&m, &out);
	if (GSS_ERROR(major)) {
		status_text(major, minor, j->why, sizeof(j->why));
		j->state = STP_GSS_FAILED;
	} else if (outlen > 0 && !j->out) {
		snprintf(j->why, sizeof(j->why), "out of memory");
		j->state = STP_GSS_FAILED;
	} else if (major & GSS_S_CONTINUE_NEEDED) {
		if (j->rounds >= STP_GSS_ROUNDS_MAX) {
			snprintf(j->why, sizeof(j->why), "more than %d context tokens",
				 STP_GSS_ROUNDS_MAX);
			j->state = STP_GSS_FAILED;
		} else {
			j->state = STP_GSS_CONTINUE;
		}
	} else if (!name_text(src, j->principal, sizeof(j->principal))) {
		snprintf(j->why, sizeof(j->why), "the client principal cannot be shown");
		j->state = STP_GSS_FAILED;
	} else if (service_ok(g, j)) {
		j->conf = flags & GSS_C_CONF_FLAG;
		j->integ = flags & GSS_C_INTEG_FLAG;
		j->state = STP_GSS_DONE;
	} else {
		j->state = STP_GSS_FAILED;
	}
	gss_release_name(&m, &src);
	if (j->state == STP_GSS_FAILED) {
		free(j->out);
		j->out = NULL;
		j->outlen = 0;
	}
}

static void *worker(void *arg)
{
	struct stp_gssauth *g = arg;

	pthread_mutex_lock(&g->mu);
	for (;;) {
		struct stp_authq_item *it = NULL;
		while (!g->stopping && !(it = stp_authq_pop(g->todo)))
			pthread_cond_wait(&g->cv, &g->mu);
		if (g->stopping)
			break;
		struct stp_gss_job *j = (struct stp_gss_job *)it;
		pthread_mutex_unlock(&g->mu);
		accept_step(g, j);
		pthread_mutex_lock(&g->mu);
		j->next = g->done;
		g->done = j;
		uint64_t one = 1;
		if (write(g->evfd, &one, sizeof(one)) < 0) {
			/* an eventfd counter does not overflow in practice */
		}
	}
	pthread_mutex_unlock(&g->mu);
	return NULL;
}

static void job_free(struct stp_gss_job *j)
{
	OM_uint32 m;

	if (!j)
		return;
	if (j->ctx != GSS_C_NO_CONTEXT)
		gss_delete_sec_context(&m, &j->ctx, GSS_C_NO_BUFFER);
	free(j->in.value);
	free(j->out);
	free(j);
}

static void on_done(struct stp_loop *l, int fd, unsigned ev, void *arg)
{
	struct stp_gssauth *g = arg;
	struct stp_gss_job *list;
	uint64_t cnt;

	(void)l;
	(void)ev;
	if (read(fd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&g->mu);
	list = g->done;
	g->done = NULL;
	pthread_mutex_unlock(&g->mu);
	while (list) {
		struct stp_gss_job *j = list;
		list = j->next;
		j->busy = false;
		if (j->cancelled) {
			job_free(j);
			continue;
		}
		struct stp_gss_result r = {
			.state = j->state, .out = j->out, .outlen = j->outlen, .why = j->why,
			.principal = j->principal, .conf = j->conf, .integ = j->integ,
		};
		j->cb(j->arg, &r);  /* may cancel or finish j */
	}
}

struct stp_gssauth *stp_gssauth_new(const char *keytab, const char *service,
				    struct stp_loop *l, struct stp_err *e)
{
	struct stp_gssauth *g = calloc(1, sizeof(*g));
	gss_key_value_element_desc kv = { .key = "keytab", .value = keytab };
	gss_key_value_set_desc store = { .count = 1, .elements = &kv };
	OM_uint32 major, minor;
	char why[WHY_MAX];
	int rc;

	if (!g) {
		stp_err_set(e, STP_EXIT_FAIL, "GSS-API: out of memory");
		return NULL;
	}
	g->evfd = -1;
	g->loop = l;
	if (strlen(service) >= sizeof(g->service)) {
		stp_err_set(e, STP_EXIT_USAGE, "--gssapi-service %s: too long", service);
		goto fail;
	}
	snprintf(g->service, sizeof(g->service), "%s", service);
	/* no desired name: any principal of the keytab (the service is checked
	 * on each context), so one keytab serves every name of the host */
	major = gss_acquire_cred_from(&minor, GSS_C_NO_NAME, GSS_C_INDEFINITE, GSS_C_NO_OID_SET,
				      GSS_C_ACCEPT, &store, &g->cred, NULL, NULL);
	if (GSS_ERROR(major)) {
		status_text(major, minor, why, sizeof(why));
		stp_err_set(e, STP_EXIT_USAGE, "--gssapi-keytab %s: %s", keytab, why);
		goto fail;
	}
	if (pthread_mutex_init(&g->mu, NULL) != 0) {
		stp_err_set(e, STP_EXIT_FAIL, "GSS-API worker: cannot make a lock");
		goto fail;
	}
	if (pthread_cond_init(&g->cv, NULL) != 0) {
		pthread_mutex_destroy(&g->mu);
		stp_err_set(e, STP_EXIT_FAIL, "GSS-API worker: cannot make a lock");
		goto fail;
	}
	g->locks = true;
	if (!(g->todo = stp_authq_new(QUEUE_PER_ADDR, QUEUE_TOTAL))) {
		stp_err_set(e, STP_EXIT_FAIL, "GSS-API worker: out of memory");
		goto fail;
	}
	g->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (g->evfd < 0 || stp_loop_watch(l, g->evfd, STP_EV_READ, on_done, g) < 0) {
		stp_err_set(e, STP_EXIT_FAIL, "GSS-API worker: %s", strerror(errno));
		goto fail;
	}
	/* signals belong to the loop's signalfd, not to this thread */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(&g->thread, NULL, worker, g);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		stp_err_set(e, STP_EXIT_FAIL, "GSS-API worker: cannot start a thread: %s",
			    strerror(rc));
		goto fail;
	}
	g->started = true;
	return g;
fail:
	stp_gssauth_free(g);
	return NULL;
}

void stp_gssauth_free(struct stp_gssauth *g)
{
	OM_uint32 m;

	if (!g)
		return;
	if (g->started) {
		pthread_mutex_lock(&g->mu);
		g->stopping = true;
		pthread_cond_broadcast(&g->cv);
		pthread_mutex_unlock(&g->mu);
		pthread_join(g->thread, NULL);
	}
	for (struct stp_authq_item *it; g->todo && (it = stp_authq_pop(g->todo));)
		job_free((struct stp_gss_job *)it);
	stp_authq_free(g->todo);
	for (struct stp_gss_job *j = g->done, *n; j; j = n) {
		n = j->next;
		job_free(j);
	}
	if (g->locks) {
		pthread_mutex_destroy(&g->mu);
		pthread_cond_destroy(&g->cv);
	}
	if (g->evfd >= 0) {
		stp_loop_unwatch(g->loop, g->evfd);
		close(g->evfd);
	}
	if (g->cred != GSS_C_NO_CREDENTIAL)
		gss_release_cred(&m, &g->cred);
	free(g);
}

int stp_gssauth_step(struct stp_gssauth *g, struct stp_gss_job **jp, const uint8_t *token,
		     size_t n, const struct sockaddr *peer, stp_gss_cb *cb, void *arg)
{
	struct stp_gss_job *j = *jp;
	bool fresh = !j;
	int rc;

	if (n == 0 || (j && j->busy))
		return -1;
	if (!j && !(j = calloc(1, sizeof(*j))))
		return -1;
	free(j->out);
	j->out = NULL;
	j->outlen = 0;
	if (!(j->in.value = malloc(n))) {
		if (fresh)
			free(j);
		return -1;
	}
	memcpy(j->in.value, token, n);
	j->in.length = n;
	j->cb = cb;
	j->arg = arg;
	pthread_mutex_lock(&g->mu);
	rc = stp_authq_push(g->todo, &j->qi, peer);
	if (rc == 0) {
		j->busy = true;
		pthread_cond_signal(&g->cv);
	}
	pthread_mutex_unlock(&g->mu);
	if (rc < 0) {
		free(j->in.value);
		j->in.value = NULL;
		j->in.length = 0;
		if (fresh)
			free(j);
		return -1;
	}
	*jp = j;
	return 0;
}

void stp_gss_job_cancel(struct stp_gssauth *g, struct stp_gss_job *j)
{
	bool running;

	if (!j)
		return;
	pthread_mutex_lock(&g->mu);
	running = j->busy && !j->qi.owner;
	if (j->busy && j->qi.owner)
		stp_authq_remove(g->todo, &j->qi);  /* still waiting: never runs */
	if (running)
		j->cancelled = true;  /* on the worker or on the done list */
	pthread_mutex_unlock(&g->mu);
	if (!running)
		job_free(j);
}

gss_ctx_id_t stp_gss_job_finish(struct stp_gssauth *g, struct stp_gss_job *j)
{
	gss_ctx_id_t ctx = j->ctx;

	(void)g;
	j->ctx = GSS_C_NO_CONTEXT;
	job_free(j);
	return ctx;
}
