/* authurl.c - backend authentication over HTTP: libcurl's multi interface
 * on a worker thread, results to the loop through an eventfd, a cache of
 * answers keyed by an HMAC. */
#include <curl/curl.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "server/policy/authurl.h"
#include "proto/version.h"

#define MAC_LEN 32
#define CACHE_SLOTS 4096
#define BODY_MAX 4096   /* two 255-byte strings, escaped at worst 6:1, and a client */

struct slot {
	unsigned char mac[MAC_LEN];
	bool used, ok;
	uint64_t expires;   /* loop ms */
};

struct stp_authurl_job {
	struct stp_authurl_job *next;
	char body[BODY_MAX];        /* holds the password: wiped when done */
	size_t body_len;
	unsigned char mac[MAC_LEN];
	stp_authurl_cb *cb;
	void *arg;
	bool cancelled;             /* under mu */
	/* the worker's */
	struct stp_authurl_job *inext;  /* in flight */
	CURL *easy;
	struct curl_slist *hdrs;
	bool ok, answered;
	char why[CURL_ERROR_SIZE];
};

struct stp_authurl {
	char *url;
	long cache_ms, neg_cache_ms, timeout_ms;
	unsigned char key[32];
	struct slot cache[CACHE_SLOTS];
	struct stp_loop *loop;
	int evfd;
	CURLM *multi;
	pthread_t thread;
	bool started;
	pthread_mutex_t mu;
	bool stopping;                        /* under mu */
	struct stp_authurl_job *todo, *done;  /* under mu */
	struct stp_authurl_job *inflight;     /* the worker's */
	unsigned long requests;
};

static void mac_of(const struct stp_authurl *a, const char *user, const char *pass,
		   const char *client, unsigned char *out)
{
	unsigned char buf[800];
	size_t ul = strlen(user), pl = strlen(pass), cl = strlen(client);
	unsigned int ol = MAC_LEN;

	/* each at most 255 bytes (RFC 1929), the client an address */
	if (ul > 255 || pl > 255 || cl > 255) {
		memset(out, 0, MAC_LEN);
		return;
	}
	memcpy(buf, user, ul);
	buf[ul] = 0;
	memcpy(buf + ul + 1, pass, pl);
	buf[ul + 1 + pl] = 0;
	memcpy(buf + ul + pl + 2, client, cl);
	HMAC(EVP_sha256(), a->key, sizeof(a->key), buf, ul + pl + 2 + cl, out, &ol);
	OPENSSL_cleanse(buf, sizeof(buf));
}

static struct slot *slot_of(struct stp_authurl *a, const unsigned char *mac)
{
	unsigned idx = ((unsigned)mac[0] << 8 | mac[1]) % CACHE_SLOTS;

	return &a->cache[idx];
}

/* Appends s as a JSON string to out at *n. Returns 0, or -1 if it does not fit. */
static int json_str(char *out, size_t cap, size_t *n, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	if (*n + 1 >= cap)
		return -1;
	out[(*n)++] = '"';
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*n + 7 >= cap)
			return -1;
		if (*p == '"' || *p == '\\') {
			out[(*n)++] = '\\';
			out[(*n)++] = (char)*p;
		} else if (*p < 0x20 || *p == 0x7f) {
			out[(*n)++] = '\\';
			out[(*n)++] = 'u';
			out[(*n)++] = '0';
			out[(*n)++] = '0';
			out[(*n)++] = hex[*p >> 4];
			out[(*n)++] = hex[*p & 15];
		} else {
			/* bytes >= 0x80 go as they are: UTF-8 stays UTF-8 */
			out[(*n)++] = (char)*p;
		}
	}
	if (*n + 1 >= cap)
		return -1;
	out[(*n)++] = '"';
	return 0;
}

static int put_lit(char *out, size_t cap, size_t *n, const char *lit)
{
	size_t l = strlen(lit);

	if (*n + l >= cap)
		return -1;
	memcpy(out + *n, lit, l);
	*n += l;
	return 0;
}

static size_t discard(char *p, size_t size, size_t nmemb, void *arg)
{
	(void)p;
	(void)arg;
	return size * nmemb;
}

/* Worker: sets up the easy handle of j. Returns 0 or -1 (j->why set). */
static int job_start(struct stp_authurl *a, struct stp_authurl_job *j)
{
	CURL *c = curl_easy_init();

	if (!c) {
		snprintf(j->why, sizeof(j->why), "libcurl: cannot make a request");
		return -1;
	}
	j->easy = c;
	j->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	curl_easy_setopt(c, CURLOPT_URL, a->url);
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, j->body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)j->body_len);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, j->hdrs);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, a->timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_USERAGENT, "stp-serve/" STP_VERSION);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, j->why);
	curl_easy_setopt(c, CURLOPT_PRIVATE, j);
	if (!j->hdrs || curl_multi_add_handle(a->multi, c) != CURLM_OK) {
		snprintf(j->why, sizeof(j->why), "libcurl: cannot start a request");
		return -1;
	}
	return 0;
}

/* Worker: j is finished (answered or failed); hands it to the loop. */
static void job_done(struct stp_authurl *a, struct stp_authurl_job *j)
{
	for (struct stp_authurl_job **pp = &a->inflight; *pp; pp = &(*pp)->inext)
		if (*pp == j) {
			*pp = j->inext;
			break;
		}
	if (j->easy) {
		curl_multi_remove_handle(a->multi, j->easy);
		curl_easy_cleanup(j->easy);
		j->easy = NULL;
	}
	curl_slist_free_all(j->hdrs);
	j->hdrs = NULL;
	OPENSSL_cleanse(j->body, sizeof(j->body));
	pthread_mutex_lock(&a->mu);
	j->next = a->done;
	a->done = j;
	pthread_mutex_unlock(&a->mu);
	uint64_t one = 1;
	if (write(a->evfd, &one, sizeof(one)) < 0) {
		/* an eventfd counter does not overflow in practice */
	}
}

static void *worker(void *arg)
{
	struct stp_authurl *a = arg;

	for (;;) {
		struct stp_authurl_job *list;
		CURLMsg *m;
		int running, left;

		pthread_mutex_lock(&a->mu);
		if (a->stopping) {
			pthread_mutex_unlock(&a->mu);
			break;
		}
		list = a->todo;
		a->todo = NULL;
		pthread_mutex_unlock(&a->mu);
		while (list) {
			struct stp_authurl_job *j = list;
			list = j->next;
			j->inext = a->inflight;
			a->inflight = j;
			if (job_start(a, j) < 0)
				job_done(a, j);
		}
		curl_multi_perform(a->multi, &running);
		while ((m = curl_multi_info_read(a->multi, &left))) {
			struct stp_authurl_job *j;
			long status = 0;
			if (m->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&j);
			if (m->data.result == CURLE_OK) {
				curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
				if (status >= 200 && status <= 299) {
					j->ok = j->answered = true;
				} else if (status >= 400 && status <= 499) {
					j->answered = true;
				} else {
					snprintf(j->why, sizeof(j->why), "HTTP %ld", status);
				}
			} else if (!j->why[0]) {
				snprintf(j->why, sizeof(j->why), "%s", curl_easy_strerror(m->data.result));
			}
			job_done(a, j);
		}
		curl_multi_poll(a->multi, NULL, 0, 1000, NULL);
	}
	/* stopping: requests in flight are abandoned */
	while (a->inflight) {
		struct stp_authurl_job *j = a->inflight;
		a->inflight = j->inext;
		if (j->easy) {
			curl_multi_remove_handle(a->multi, j->easy);
			curl_easy_cleanup(j->easy);
		}
		curl_slist_free_all(j->hdrs);
		OPENSSL_cleanse(j->body, sizeof(j->body));
		free(j);
	}
	return NULL;
}

/* Loop: answers from the worker. */
static void on_done(struct stp_loop *l, int fd, unsigned ev, void *arg)
{
	struct stp_authurl *a = arg;
	struct stp_authurl_job *list;
	uint64_t cnt;

	(void)ev;
	if (read(fd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&a->mu);
	list = a->done;
	a->done = NULL;
	pthread_mutex_unlock(&a->mu);
	while (list) {
		struct stp_authurl_job *j = list;
		list = j->next;
		long keep = j->ok ? a->cache_ms : a->neg_cache_ms;
		if (j->answered && keep > 0) {
			struct slot *s = slot_of(a, j->mac);
			memcpy(s->mac, j->mac, MAC_LEN);
			s->used = true;
			s->ok = j->ok;
			s->expires = stp_loop_now(l) + (uint64_t)keep;
		}
		pthread_mutex_lock(&a->mu);
		bool cancelled = j->cancelled;
		pthread_mutex_unlock(&a->mu);
		if (!cancelled)
			j->cb(j->arg, j->ok, j->answered ? NULL : j->why);
		OPENSSL_cleanse(j->mac, sizeof(j->mac));
		free(j);
	}
}

static void free_jobs(struct stp_authurl_job *j)
{
	while (j) {
		struct stp_authurl_job *n = j->next;
		OPENSSL_cleanse(j->body, sizeof(j->body));
		free(j);
		j = n;
	}
}

struct stp_authurl *stp_authurl_new(const struct stp_authurl_cfg *cfg, struct stp_loop *l,
				    struct stp_err *e)
{
	struct stp_authurl *a;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		stp_err_set(e, STP_EXIT_FAIL, "auth-url: libcurl does not start");
		return NULL;
	}
	a = calloc(1, sizeof(*a));
	if (!a || !(a->url = strdup(cfg->url))) {
		free(a);
		curl_global_cleanup();
		stp_err_set(e, STP_EXIT_FAIL, "auth-url: out of memory");
		return NULL;
	}
	a->cache_ms = cfg->cache_ms;
	a->neg_cache_ms = cfg->neg_cache_ms;
	a->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 5000;
	a->loop = l;
	a->evfd = -1;
	pthread_mutex_init(&a->mu, NULL);
	if (RAND_bytes(a->key, sizeof(a->key)) != 1) {
		stp_err_set(e, STP_EXIT_FAIL, "auth-url: no randomness");
		goto fail;
	}
	a->multi = curl_multi_init();
	if (!a->multi) {
		stp_err_set(e, STP_EXIT_FAIL, "auth-url: libcurl cannot make a request set");
		goto fail;
	}
	a->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (a->evfd < 0 || stp_loop_watch(l, a->evfd, STP_EV_READ, on_done, a) < 0) {
		stp_err_set(e, STP_EXIT_FAIL, "auth-url worker: %s", strerror(errno));
		goto fail;
	}
	if (pthread_create(&a->thread, NULL, worker, a) != 0) {
		stp_err_set(e, STP_EXIT_FAIL, "auth-url worker: cannot start a thread");
		goto fail;
	}
	a->started = true;
	return a;
fail:
	stp_authurl_free(a);
	return NULL;
}

void stp_authurl_free(struct stp_authurl *a)
{
	if (!a)
		return;
	if (a->started) {
		pthread_mutex_lock(&a->mu);
		a->stopping = true;
		pthread_mutex_unlock(&a->mu);
		curl_multi_wakeup(a->multi);
		pthread_join(a->thread, NULL);
	}
	if (a->multi)
		curl_multi_cleanup(a->multi);
	free_jobs(a->todo);
	free_jobs(a->done);
	if (a->evfd >= 0) {
		stp_loop_unwatch(a->loop, a->evfd);
		close(a->evfd);
	}
	pthread_mutex_destroy(&a->mu);
	OPENSSL_cleanse(a->key, sizeof(a->key));
	OPENSSL_cleanse(a->url, strlen(a->url));  /* may hold user:password@ */
	free(a->url);
	free(a);
	curl_global_cleanup();
}

struct stp_authurl_job *stp_authurl_check(struct stp_authurl *a, const char *user,
					  const char *pass, const char *client,
					  stp_authurl_cb *cb, void *arg)
{
	struct stp_authurl_job *j = calloc(1, sizeof(*j));
	size_t n = 0;

	if (!j) {
		cb(arg, false, "out of memory");
		return NULL;
	}
	mac_of(a, user, pass, client, j->mac);
	struct slot *s = slot_of(a, j->mac);
	if (s->used && s->expires > stp_loop_now(a->loop) &&
	    CRYPTO_memcmp(s->mac, j->mac, MAC_LEN) == 0) {
		bool ok = s->ok;
		free(j);
		cb(arg, ok, NULL);
		return NULL;
	}
	if (put_lit(j->body, sizeof(j->body), &n, "{\"user\":") < 0 ||
	    json_str(j->body, sizeof(j->body), &n, user) < 0 ||
	    put_lit(j->body, sizeof(j->body), &n, ",\"password\":") < 0 ||
	    json_str(j->body, sizeof(j->body), &n, pass) < 0 ||
	    put_lit(j->body, sizeof(j->body), &n, ",\"client\":") < 0 ||
	    json_str(j->body, sizeof(j->body), &n, client) < 0 ||
	    put_lit(j->body, sizeof(j->body), &n, "}") < 0) {
		OPENSSL_cleanse(j->body, sizeof(j->body));
		free(j);
		cb(arg, false, "credentials too long");
		return NULL;
	}
	j->body_len = n;
	j->cb = cb;
	j->arg = arg;
	a->requests++;
	pthread_mutex_lock(&a->mu);
	j->next = a->todo;
	a->todo = j;
	pthread_mutex_unlock(&a->mu);
	curl_multi_wakeup(a->multi);
	return j;
}

void stp_authurl_cancel(struct stp_authurl *a, struct stp_authurl_job *j)
{
	if (!j)
		return;
	pthread_mutex_lock(&a->mu);
	j->cancelled = true;
	pthread_mutex_unlock(&a->mu);
}

