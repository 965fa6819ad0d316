/* detect.c - what listens on a silent proxy's port (detect.h). */
#include <errno.h>
#include <poll.h>
#include <unistd.h>

#include "client/detect.h"
#include "core/evloop.h"
#include "core/sock.h"
#include "core/tls.h"

/* A connection to sa within the deadline (non-blocking), or -1. */
static int connect_by(const struct sockaddr *sa, socklen_t len, uint64_t deadline)
{
	int fd = stp_connect_start(sa, len);

	if (fd < 0)
		return -1;
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	int r;
	while ((r = poll(&p, 1, stp_ms_left(deadline))) < 0 && errno == EINTR)
		;
	if (r != 1 || stp_connect_result(fd) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Sends the line-ended greeting and reads the answer until it is complete,
 * closed or the deadline. Returns the bytes read (0: none). */
static size_t ask(int fd, uint64_t deadline, uint8_t *ans, size_t cap)
{
	static const uint8_t g[] = { 5, 3, 0, 2, '\n', '\r', '\n' };
	size_t n = 0;

	if (stp_write_all(fd, g, sizeof(g), deadline) < 0)
		return 0;
	while (n < cap && !(n && stp_answer_complete(ans, n))) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int r = poll(&p, 1, stp_ms_left(deadline));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		ssize_t k = read(fd, ans + n, cap - n);
		if (k < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (k <= 0)
			break;
		n += (size_t)k;
	}
	return n;
}

/* Whether the server completes a TLS handshake (certificate not checked). */
static int speaks_tls(const struct sockaddr *sa, socklen_t len, const char *host,
		      uint64_t deadline)
{
	struct stp_tls_client_cfg any = { .insecure = true };
	struct stp_err e = { 0, "" };
	SSL_CTX *ctx = stp_tls_client_ctx(&any, &e);
	int fd, yes = 0;

	if (!ctx)
		return 0;
	fd = connect_by(sa, len, deadline);
	if (fd >= 0) {
		SSL *ssl = stp_tls_connect(ctx, fd, NULL, host, deadline, &e);
		yes = ssl != NULL;
		SSL_free(ssl);
		close(fd);
	}
	SSL_CTX_free(ctx);
	return yes;
}

int stp_detect_silent(const struct sockaddr *sa, socklen_t len, const char *host,
		      uint64_t deadline, uint8_t *ans, size_t cap, size_t *n)
{
	/* an HTTP server answers a bad line at once; a TLS one never does */
	uint64_t soon = stp_clock_ms() + 1000;
	int fd = connect_by(sa, len, deadline);

	*n = 0;
	if (fd < 0)
		return -1;
	*n = ask(fd, soon < deadline ? soon : deadline, ans, cap);
	close(fd);
	if (*n)
		return stp_answer_kind(ans, *n);
	return speaks_tls(sa, len, host, deadline) ? STP_ANS_TLS : -1;
}
