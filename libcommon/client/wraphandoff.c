/* wraphandoff.c - the agent's Unix door (wraphandoff.h). */
#include <errno.h>
#include <openssl/crypto.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "client/wrapagent.h"
#include "client/wraphandoff.h"
#include "core/evloop.h"
#include "core/fdrecv.h"

int stp_wrap_door_listen(uint16_t port, char *name, size_t cap)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd, n;

	n = snprintf(name, cap, "stp-wrap.%u.%u", (unsigned)geteuid(), port);
	if (n < 0 || (size_t)n >= cap || (size_t)n >= sizeof(sun.sun_path) - 1)
		return errno = ENAMETOOLONG, -1;
	memcpy(sun.sun_path + 1, name, (size_t)n);   /* sun_path[0] 0: abstract */
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&sun, (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
							   1 + (size_t)n)) < 0 ||
	    listen(fd, 512) < 0) {
		int err = errno;
		close(fd);
		return errno = err, -1;
	}
	return fd;
}

int stp_wrap_door_read(int cfd, const char *token, uint64_t deadline, int *sock,
		       struct stp5_msg *m)
{
	uint8_t b[STP_WRAP_TOKEN_LEN + 8 + 256];
	uint8_t rep;
	bool bad;
	ssize_t n;

	*sock = -1;
	for (;;) {
		n = stp_fdrecv(cfd, b, sizeof(b), sock, &bad);
		if (n >= 0 || errno != EAGAIN)
			break;
		struct pollfd p = { .fd = cfd, .events = POLLIN };
		int left = stp_ms_left(deadline);
		if (left <= 0 || (poll(&p, 1, left) < 0 && errno != EINTR))
			return 0;
	}
	if (n <= 0 || *sock < 0)
		return 0;
	/* the whole request in the one message (SOCK_SEQPACKET keeps it so) */
	if ((size_t)n <= STP_WRAP_TOKEN_LEN || CRYPTO_memcmp(b, token, STP_WRAP_TOKEN_LEN) != 0 ||
	    stp5_request_get(b + STP_WRAP_TOKEN_LEN, (size_t)n - STP_WRAP_TOKEN_LEN, m, &rep) !=
		    n - STP_WRAP_TOKEN_LEN) {
		close(*sock);
		*sock = -1;
		return 0;
	}
	return 1;
}

int stp_wrap_door_reply(int cfd, uint8_t rep)
{
	uint8_t b[10] = { 5, rep, 0, 1 };
	ssize_t n;

	do
		n = send(cfd, b, sizeof(b), MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof(b) ? 0 : -1;
}
