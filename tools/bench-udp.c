/* bench-udp.c - UDP load generator for SOCKS5 UDP ASSOCIATE relays.
 *
 *   bench-udp [-s SECS] [-w WINDOW] [-n SIZE] [-f] NAME=HOST:PORT|direct ...
 *
 * Runs its own UDP echo on 127.0.0.1 (a thread), then for each proxy in
 * turn: a UDP ASSOCIATE (no authentication), and for SECS seconds a closed
 * loop of SIZE-byte datagrams (default 512) with WINDOW (default 64) in
 * flight through the relay to the echo. A datagram not back within 200 ms
 * counts as lost and is replaced. Prints per proxy one line
 *   BENCH udp NAME dgrams_per_s=N loss_pct=P sent=N received=N
 * With -f, each proxy gets two associations at once: a flood (window 1024)
 * and a quiet one with one datagram in flight (window 1), whose rate is the
 * round trips a client gets through while the flood runs:
 *   BENCH udp NAME/flood ...   and   BENCH udp NAME/quiet-under-flood ...
 * (tests/udp.bats only checks that the quiet one gets answers at all.)
 * NAME=direct (no HOST:PORT) is the physical reference: the same datagrams,
 * header and all, straight to the echo, no proxy between.
 * Used by tools/bench-udp; standalone so that it does not depend on
 * tools/bench's own load generator. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXWIN 4096
#define LOSS_MS 200

static int echo_fd;

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void *echo_main(void *arg)
{
	static uint8_t buf[64][2048];
	struct mmsghdr m[64];
	struct iovec iov[64];
	struct sockaddr_in from[64];

	(void)arg;
	for (;;) {
		for (int i = 0; i < 64; i++) {
			iov[i] = (struct iovec){ buf[i], sizeof(buf[i]) };
			memset(&m[i], 0, sizeof(m[i]));
			m[i].msg_hdr.msg_iov = &iov[i];
			m[i].msg_hdr.msg_iovlen = 1;
			m[i].msg_hdr.msg_name = &from[i];
			m[i].msg_hdr.msg_namelen = sizeof(from[i]);
		}
		int n = recvmmsg(echo_fd, m, 64, MSG_WAITFORONE, NULL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("bench-udp: echo recvmmsg");
			exit(1);
		}
		for (int i = 0; i < n; i++)
			iov[i].iov_len = m[i].msg_len;
		(void)sendmmsg(echo_fd, m, (unsigned)n, 0);
	}
	return NULL;
}

static int read_full(int fd, uint8_t *b, size_t n)
{
	while (n) {
		ssize_t k = read(fd, b, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		b += k;
		n -= (size_t)k;
	}
	return 0;
}

/* UDP ASSOCIATE at host:port; returns the control fd and the relay in r. */
static int associate(const char *host, int port, struct sockaddr_in *r)
{
	struct sockaddr_in p = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	uint8_t b[32];
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0 || inet_pton(AF_INET, host, &p.sin_addr) != 1 ||
	    connect(fd, (struct sockaddr *)&p, sizeof(p)) < 0)
		goto fail;
	if (write(fd, "\x05\x01\x00", 3) != 3 || read_full(fd, b, 2) < 0 || b[1] != 0)
		goto fail;
	if (write(fd, "\x05\x03\x00\x01\x00\x00\x00\x00\x00\x00", 10) != 10 ||
	    read_full(fd, b, 4) < 0 || b[1] != 0 || b[3] != 1 || read_full(fd, b + 4, 6) < 0)
		goto fail;
	memset(r, 0, sizeof(*r));
	r->sin_family = AF_INET;
	memcpy(&r->sin_addr, b + 4, 4);
	memcpy(&r->sin_port, b + 8, 2);
	if (r->sin_addr.s_addr == 0)
		r->sin_addr = p.sin_addr;
	return fd;
fail:
	fprintf(stderr, "bench-udp: UDP ASSOCIATE at %s:%d failed\n", host, port);
	if (fd >= 0)
		close(fd);
	return -1;
}

static void run(const char *name, const char *host, int port, double secs, int win, int size,
		const struct sockaddr_in *echo)
{
	struct sockaddr_in relay = *echo;
	int cfd = host ? associate(host, port, &relay) : -2, ufd;
	uint8_t pkt[2048], in[2048];
	uint64_t *sent_at = calloc(MAXWIN, sizeof(uint64_t)), seq = 0;
	uint64_t sent = 0, recvd = 0;

	if (cfd == -1 || !sent_at)
		exit(1);
	ufd = socket(AF_INET, SOCK_DGRAM, 0);
	int sz = 4 << 20;
	setsockopt(ufd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	setsockopt(ufd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	if (ufd < 0 || connect(ufd, (struct sockaddr *)&relay, sizeof(relay)) < 0) {
		perror("bench-udp: relay");
		exit(1);
	}
	/* RSV RSV FRAG ATYP=1 ADDR PORT | seq(8) slot(4) | padding */
	memset(pkt, 0, sizeof(pkt));
	pkt[3] = 1;
	memcpy(pkt + 4, &echo->sin_addr, 4);
	memcpy(pkt + 8, &echo->sin_port, 2);
	size_t len = 10 + (size_t)size;
	uint64_t start = now_ms(), end = start + (uint64_t)(secs * 1000);
	/* slot i holds the sequence number in flight there (0 = free) */
	uint64_t *slot_seq = calloc(MAXWIN, sizeof(uint64_t));
	for (int i = 0; i < win; i++) {
		slot_seq[i] = ++seq;
		memcpy(pkt + 10, &slot_seq[i], 8);
		memcpy(pkt + 18, &i, 4);
		if (send(ufd, pkt, len, 0) == (ssize_t)len)
			sent++;
		sent_at[i] = now_ms();
	}
	for (;;) {
		uint64_t t = now_ms();
		if (t >= end)
			break;
		struct pollfd pf = { ufd, POLLIN, 0 };
		if (poll(&pf, 1, 10) > 0) {
			for (int k = 0; k < 256; k++) {
				ssize_t n = recv(ufd, in, sizeof(in), MSG_DONTWAIT);
				if (n < 0)
					break;
				if ((size_t)n != len)
					continue;
				uint64_t s;
				int i;
				memcpy(&s, in + 10, 8);
				memcpy(&i, in + 18, 4);
				if (i < 0 || i >= win || slot_seq[i] != s)
					continue;  /* late: already counted lost */
				recvd++;
				slot_seq[i] = ++seq;
				memcpy(pkt + 10, &slot_seq[i], 8);
				memcpy(pkt + 18, &i, 4);
				if (send(ufd, pkt, len, 0) == (ssize_t)len)
					sent++;
				sent_at[i] = now_ms();
			}
		}
		t = now_ms();
		for (int i = 0; i < win; i++) {
			if (t - sent_at[i] < LOSS_MS)
				continue;
			slot_seq[i] = ++seq;
			memcpy(pkt + 10, &slot_seq[i], 8);
			memcpy(pkt + 18, &i, 4);
			if (send(ufd, pkt, len, 0) == (ssize_t)len)
				sent++;
			sent_at[i] = t;
		}
	}
	double el = (double)(now_ms() - start) / 1000.0;
	/* those still in flight at the end are neither lost nor received */
	uint64_t inflight = (uint64_t)win;
	uint64_t done = sent > inflight ? sent - inflight : 0;
	double loss = done ? 100.0 * (double)(done > recvd ? done - recvd : 0) / (double)done : 0;
	printf("BENCH udp %s dgrams_per_s=%.0f loss_pct=%.3f sent=%llu received=%llu\n", name,
	       (double)recvd / el, loss, (unsigned long long)sent, (unsigned long long)recvd);
	fflush(stdout);
	close(ufd);
	if (cfd >= 0)
		close(cfd);
	free(sent_at);
	free(slot_seq);
}

struct flood_arg {
	char name[96];
	const char *host;
	int port, size;
	double secs;
	const struct sockaddr_in *echo;
};

static void *flood_main(void *arg)
{
	struct flood_arg *f = arg;

	run(f->name, f->host, f->port, f->secs, 1024, f->size, f->echo);
	return NULL;
}

int main(int argc, char **argv)
{
	double secs = 3;
	int win = 64, size = 512, c, flood = 0;
	struct sockaddr_in echo = { .sin_family = AF_INET };
	socklen_t el = sizeof(echo);
	pthread_t th;

	while ((c = getopt(argc, argv, "s:w:n:f")) != -1) {
		switch (c) {
		case 'f': flood = 1; break;
		case 's': secs = atof(optarg); break;
		case 'w': win = atoi(optarg); break;
		case 'n': size = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: bench-udp [-s SECS] [-w WINDOW] [-n SIZE] [-f] NAME=HOST:PORT ...\n");
			return 2;
		}
	}
	if (optind == argc || win < 1 || win > MAXWIN || size < 12 || size > 1400 || secs <= 0) {
		fprintf(stderr, "usage: bench-udp [-s SECS] [-w 1..%d] [-n 12..1400] NAME=HOST:PORT ...\n",
			MAXWIN);
		return 2;
	}
	echo_fd = socket(AF_INET, SOCK_DGRAM, 0);
	inet_pton(AF_INET, "127.0.0.1", &echo.sin_addr);
	int sz = 4 << 20;
	setsockopt(echo_fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	if (echo_fd < 0 || bind(echo_fd, (struct sockaddr *)&echo, sizeof(echo)) < 0 ||
	    getsockname(echo_fd, (struct sockaddr *)&echo, &el) < 0) {
		perror("bench-udp: echo");
		return 1;
	}
	if (pthread_create(&th, NULL, echo_main, NULL) != 0) {
		fprintf(stderr, "bench-udp: thread\n");
		return 1;
	}
	for (int i = optind; i < argc; i++) {
		char name[64], host[64];
		int port;
		if (strcmp(argv[i], "direct") == 0 && !flood) {
			run("direct", NULL, 0, secs, win, size, &echo);
			continue;
		}
		if (sscanf(argv[i], "%63[^=]=%63[^:]:%d", name, host, &port) != 3) {
			fprintf(stderr, "bench-udp: expected NAME=HOST:PORT, not '%s'\n", argv[i]);
			return 2;
		}
		if (!flood) {
			run(name, host, port, secs, win, size, &echo);
			continue;
		}
		struct flood_arg fa = { .host = host, .port = port, .size = size, .secs = secs,
					.echo = &echo };
		pthread_t ft;
		char quiet[96];
		snprintf(fa.name, sizeof(fa.name), "%s/flood", name);
		snprintf(quiet, sizeof(quiet), "%s/quiet-under-flood", name);
		if (pthread_create(&ft, NULL, flood_main, &fa) != 0) {
			fprintf(stderr, "bench-udp: thread\n");
			return 1;
		}
		run(quiet, host, port, secs, 1, size, &echo);
		pthread_join(ft, NULL);
	}
	return 0;
}
