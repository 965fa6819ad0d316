/*
 * bench-origin - the HTTP origin of tools/bench-http (stp): one epoll loop,
 * non-blocking sockets, answers every request head with "200 OK" and a
 * fixed 64-byte body (Content-Length), keeping the connection unless the
 * request says "Connection: close" or is HTTP/1.0 without keep-alive. Fast
 * enough that the proxy in front of it is what gets measured. Prints
 * "listening 127.0.0.1 PORT" on stderr; runs until killed.
 *
 * Build: gcc -O2 -Wall -Wextra -Werror -D_GNU_SOURCE -o build/bench-origin \
 *            tools/bench-origin.c
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAXFD 65536
#define BUF 8192

static char body[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n";

struct conn {
	char in[BUF];
	size_t len;
};

static struct conn *conns[MAXFD];

static void drop(int ep, int fd)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
	close(fd);
	free(conns[fd]);
	conns[fd] = NULL;
}

/* Answers every whole head in c; returns -1 when the connection must end. */
static int serve(int fd, struct conn *c)
{
	char *end;

	while ((end = memmem(c->in, c->len, "\r\n\r\n", 4))) {
		size_t hl = (size_t)(end - c->in) + 4;
		char out[256];
		/* 1.0 closes unless asked to keep; any "close" closes */

		int v10 = memmem(c->in, hl, "HTTP/1.0", 8) != NULL;
		int ka = memmem(c->in, hl, "eep-Alive", 9) || memmem(c->in, hl, "eep-alive", 9);
		int cl = memmem(c->in, hl, "onnection: close", 16) || memmem(c->in, hl, "onnection: Close", 16);
		int keep = !cl && (!v10 || ka);
		int n = snprintf(out, sizeof(out), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n%s\r\n%s",
				 sizeof(body) - 1, keep ? (v10 ? "Connection: keep-alive\r\n" : "")
				 : "Connection: close\r\n", body);
		/* small answers into an empty socket buffer: written whole */
		if (send(fd, out, (size_t)n, MSG_NOSIGNAL) != n)
			return -1;
		memmove(c->in, c->in + hl, c->len - hl);
		c->len -= hl;
		if (!keep)
			return -1;
	}
	return c->len == BUF ? -1 : 0;
}

int main(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	struct epoll_event ev = { .events = EPOLLIN }, evs[256];
	int one = 1, lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), ep = epoll_create1(0);

	if (lfd < 0 || ep < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(lfd, 4096) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&a, &al) < 0) {
		perror("bench-origin");
		return 1;
	}
	ev.data.fd = lfd;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0) {
		perror("bench-origin: epoll");
		return 1;
	}
	fprintf(stderr, "listening 127.0.0.1 %u\n", ntohs(a.sin_port));
	for (;;) {
		int n = epoll_wait(ep, evs, 256, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return 1;
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == lfd) {
				for (int k = 0; k < 64; k++) {
					int c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
					if (c < 0)
						break;
					if (c >= MAXFD || !(conns[c] = calloc(1, sizeof(struct conn)))) {
						close(c);
						continue;
					}
					struct epoll_event ce = { .events = EPOLLIN, .data.fd = c };
					if (epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce) < 0)
						drop(ep, c);
				}
				continue;
			}
			struct conn *c = conns[fd];
			if (!c)
				continue;
			ssize_t r = read(fd, c->in + c->len, BUF - c->len);
			if (r < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (r <= 0) {
				drop(ep, fd);
				continue;
			}
			c->len += (size_t)r;
			if (serve(fd, c) < 0)
				drop(ep, fd);
		}
	}
}
