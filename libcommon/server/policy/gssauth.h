/* gssauth.h - the server's GSS-API acceptor (RFC 1961 §3, MIT Kerberos):
 * the keytab's credential, and context establishment steps that never run
 * on the event loop. gss_accept_sec_context is CPU work, but it reads the
 * keytab and writes the replay cache (file I/O, fsync), so each step runs
 * on a worker thread, taking turns between client addresses (authq.h) like
 * the password checks of users.h; its result comes back as a loop event.
 *
 * A job is one session's context: the caller submits each token the client
 * sends and gets back the token to answer, until the context is complete
 * (then the client principal is known and the context is the caller's) or
 * has failed (a one-line reason). */
#ifndef STP_GSSAUTH_H
#define STP_GSSAUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <gssapi/gssapi.h>

#include "proto/err.h"
#include "core/evloop.h"

struct stp_gssauth;
struct stp_gss_job;

/* The acceptor for every principal of service (e.g. "rcmd": rcmd/localhost,
 * rcmd/proxy.example.net, ...) in keytab. Reads the keytab now (a missing
 * or empty one is a usage error) and starts the worker. Returns NULL with
 * e filled. */
struct stp_gssauth *stp_gssauth_new(const char *keytab, const char *service,
				    struct stp_loop *l, struct stp_err *e);
/* Stops the worker and frees what it still holds; jobs the caller holds
 * must have been cancelled. NULL is a no-op. */
void stp_gssauth_free(struct stp_gssauth *g);

enum stp_gss_state {
	STP_GSS_CONTINUE = 0,  /* send the output token, wait for the next */
	STP_GSS_DONE = 1,      /* established (output token: maybe one more) */
	STP_GSS_FAILED = -1,   /* why says it */
};

struct stp_gss_result {
	enum stp_gss_state state;
	const uint8_t *out;       /* token for the client, NULL: none; the job's */
	size_t outlen;
	const char *why;          /* FAILED: one line, the job's */
	const char *principal;    /* DONE: "alice@STP.TEST", the job's */
	bool conf, integ;         /* DONE: what the context can protect */
};

typedef void stp_gss_cb(void *arg, const struct stp_gss_result *r);

/* Runs one step of job *jp (NULL: a new context) on token[0..n) of a
 * client at peer. Returns 0 with *jp set: cb runs once later from the loop,
 * unless the job is cancelled; -1: the queue (peer's share, or all) is
 * full or memory is short: nothing runs. */
int stp_gssauth_step(struct stp_gssauth *g, struct stp_gss_job **jp, const uint8_t *token,
		     size_t n, const struct sockaddr *peer, stp_gss_cb *cb, void *arg);
/* Forgets j (and its context): dropped if waiting, else freed when its
 * step ends. NULL is a no-op. */
void stp_gss_job_cancel(struct stp_gssauth *g, struct stp_gss_job *j);
/* After DONE: takes the established context out of j and frees j. The
 * caller deletes the context (gss_delete_sec_context). */
gss_ctx_id_t stp_gss_job_finish(struct stp_gssauth *g, struct stp_gss_job *j);
/* Steps a context may take before it is refused (SPNEGO takes two, the
 * Kerberos mechanism one). */
#define STP_GSS_ROUNDS_MAX 8

#endif
