/* cfgfetch.c - getting a client configuration document: from a file, from
 * an http(s):// or file:// URL with libcurl, or from a proxy with the STP
 * CONFIG command (PROTOCOL.md §3: after the reply, LEN(4) | document, then
 * close). Every path is bounded in size (STP_CFG_DOC_MAX) and time. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/clientcfg.h"
#include "core/evloop.h"

struct buf {
	char *p;
	size_t len, cap;
	bool too_big;
};

/* Appends n bytes, keeping a NUL after them. Returns 0, or -1 when the
 * document would pass the limit or memory runs out. */
static int buf_add(struct buf *b, const void *s, size_t n)
{
	if (n > STP_CFG_DOC_MAX - b->len) {
		b->too_big = true;
		return -1;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *q = realloc(b->p, cap);
		if (!q)
			return -1;
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

char *stp_clientcfg_read_file(const char *path, size_t *len, struct stp_err *e)
{
	struct buf b = { 0 };
	char chunk[8192];
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return stp_err_set(e, STP_EXIT_USAGE, "%s: %s", path, strerror(errno)), NULL;
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			stp_err_set(e, STP_EXIT_USAGE, "%s: %s", path, strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		if (buf_add(&b, chunk, (size_t)n) < 0) {
			stp_err_set(e, STP_EXIT_USAGE, "%s: %s", path, b.too_big ?
				    "larger than 1 MiB" : "out of memory");
			goto fail;
		}
	}
	close(fd);
	if (!b.p && buf_add(&b, "", 0) < 0)
		return stp_err_set(e, STP_EXIT_FAIL, "%s: out of memory", path), NULL;
	*len = b.len;
	return b.p;
fail:
	close(fd);
	free(b.p);
	return NULL;
}

static size_t curl_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct buf *b = arg;

	/* returning less than given makes libcurl stop with CURLE_WRITE_ERROR */
	return buf_add(b, data, size * nmemb) < 0 ? 0 : size * nmemb;
}

static char *fetch_curl(const char *url, long timeout_ms, size_t *len, struct stp_err *e)
{
	struct buf b = { 0 };
	char errbuf[CURL_ERROR_SIZE] = "";
	CURL *c = curl_easy_init();
	CURLcode rc;

	if (!c)
		return stp_err_set(e, STP_EXIT_FAIL, "%s: cannot start libcurl", url), NULL;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https,file");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
	curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)STP_CFG_DOC_MAX);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, curl_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	rc = curl_easy_perform(c);
	curl_easy_cleanup(c);
	if (rc != CURLE_OK || (!b.p && buf_add(&b, "", 0) < 0)) {
		free(b.p);
		if (b.too_big || rc == CURLE_FILESIZE_EXCEEDED)
			return stp_err_set(e, STP_EXIT_FAIL, "%s: larger than 1 MiB", url), NULL;
		return stp_err_set(e, STP_EXIT_FAIL, "%s: %s", url, errbuf[0] ? errbuf : curl_easy_strerror(rc)), NULL;
	}
	*len = b.len;
	return b.p;
}

/* Reads exactly n bytes into out: first from conn->early, then the socket,
 * until deadline. Returns 0, or -1 with e. */
static int read_exact(struct stp_conn *conn, uint8_t *out, size_t n, uint64_t deadline,
		      const char *hn, struct stp_err *e)
{
	size_t got = conn->nearly < n ? conn->nearly : n;

	memcpy(out, conn->early, got);
	memmove(conn->early, conn->early + got, conn->nearly - got);
	conn->nearly -= got;
	while (got < n) {
		struct pollfd pfd = { .fd = conn->fd, .events = POLLIN };
		/* TLS, or a GSS-API protected session (RFC 1961 §5), may hold
		 * plaintext the socket no longer shows */
		int rc = stp_conn_pending(conn) ? 1 : poll(&pfd, 1, stp_ms_left(deadline));
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc == 0)
			return stp_err_set(e, STP_EXIT_PROTO, "proxy %s: the configuration did not "
					   "arrive in time", hn);
		ssize_t k = stp_conn_read(conn, out + got, n - got);
		if (k < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (k == 0)
			return stp_err_set(e, STP_EXIT_PROTO, "proxy %s: closed in the middle of "
					   "the configuration", hn);
		if (k < 0)
			return stp_err_set(e, STP_EXIT_FAIL, "proxy %s: %s", hn, strerror(errno));
		got += (size_t)k;
	}
	return 0;
}

static char *fetch_proxy(const struct stp_client *how, size_t *len, struct stp_err *e)
{
	struct stp_conn *conn = malloc(sizeof(*conn));
	uint8_t hdr[4];
	char hn[STP_HOSTPORT_MAX], *doc = NULL;
	uint32_t n;

	if (!conn)
		return stp_err_set(e, STP_EXIT_FAIL, "out of memory"), NULL;
	stp_proxy_hostport(&how->hops[how->nhops - 1], hn, sizeof(hn));
	if (stp_client_open_opts(how, STP_CMD_CONFIG, "0.0.0.0", 0, NULL, conn, e) < 0) {
		free(conn);
		return NULL;
	}
	uint64_t deadline = stp_clock_ms() + (uint64_t)how->timeout_ms;
	if (read_exact(conn, hdr, 4, deadline, hn, e) < 0)
		goto out;
	n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
	if (n > STP_CFG_DOC_MAX) {
		stp_err_set(e, STP_EXIT_PROTO, "proxy %s: a configuration of %u bytes is too large",
			    hn, n);
		goto out;
	}
	doc = malloc((size_t)n + 1);
	if (!doc) {
		stp_err_set(e, STP_EXIT_FAIL, "out of memory");
		goto out;
	}
	if (read_exact(conn, (uint8_t *)doc, n, deadline, hn, e) < 0) {
		free(doc);
		doc = NULL;
		goto out;
	}
	doc[n] = '\0';
	*len = n;
out:
	stp_conn_close(conn);
	free(conn);
	return doc;
}

char *stp_clientcfg_fetch(const char *src, const struct stp_client *how, size_t *len,
			  struct stp_err *e)
{
	switch (stp_clientcfg_source(src)) {
	case STP_CFG_CURL:
		return fetch_curl(src, how->timeout_ms, len, e);
	case STP_CFG_PROXY:
		return fetch_proxy(how, len, e);
	case STP_CFG_FILE:
		break;
	}
	return stp_clientcfg_read_file(src, len, e);
}
