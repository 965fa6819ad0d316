/* fuzz.h - helpers shared by the libFuzzer targets: a check that aborts
 * (so libFuzzer records the input) and field-wise equality of the decoded
 * structs (memcmp would also compare padding and bytes past a name). */
#ifndef STP_FUZZ_H
#define STP_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "proto/socks.h"

/* The entry point libFuzzer calls, one per target. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #cond); \
		abort(); \
	} \
} while (0)

/* The input as a file, for parsers that take a path: a memfd, named
 * /proc/self/fd/N in path (cap bytes). Returns the fd (close it after),
 * or -1. */
static inline int fuzz_file(const uint8_t *data, size_t size, char *path, size_t cap)
{
	int fd = memfd_create("fuzz", MFD_CLOEXEC);
	size_t off = 0;

	if (fd < 0)
		return -1;
	while (off < size) {
		ssize_t n = write(fd, data + off, size - off);
		if (n <= 0) {
			close(fd);
			return -1;
		}
		off += (size_t)n;
	}
	snprintf(path, cap, "/proc/self/fd/%d", fd);
	return fd;
}

static inline int fuzz_addr_eq(const struct stp_addr *a, const struct stp_addr *b)
{
	if (a->atyp != b->atyp || a->port != b->port)
		return 0;
	switch (a->atyp) {
	case STP_ATYP_IPV4:
		return !memcmp(a->u.v4, b->u.v4, 4);
	case STP_ATYP_IPV6:
		return !memcmp(a->u.v6, b->u.v6, 16);
	case STP_ATYP_NAME:
		return a->namelen == b->namelen && a->namelen > 0 &&
		       !memcmp(a->u.name, b->u.name, a->namelen) &&
		       a->u.name[a->namelen] == '\0' && b->u.name[b->namelen] == '\0' &&
		       strlen(a->u.name) == a->namelen;
	default:
		return 0;
	}
}

static inline int fuzz_opts_eq(const struct stp_opts *a, const struct stp_opts *b)
{
	if (a->present != b->present)
		return 0;
	if (STP_OPT_HAS(a, STP_OPT_TICKET) && memcmp(a->ticket, b->ticket, STP_TICKET_LEN))
		return 0;
	if (STP_OPT_HAS(a, STP_OPT_SOURCE) && !fuzz_addr_eq(&a->source, &b->source))
		return 0;
	if (STP_OPT_HAS(a, STP_OPT_TTL) && a->ttl != b->ttl)
		return 0;
	if (STP_OPT_HAS(a, STP_OPT_DIRECTION) && a->direction != b->direction)
		return 0;
	if (STP_OPT_HAS(a, STP_OPT_BACKLOG) && a->backlog != b->backlog)
		return 0;
	if (STP_OPT_HAS(a, STP_OPT_EXPIRY) && a->expiry != b->expiry)
		return 0;
	if (STP_OPT_HAS(a, STP_OPT_ATTACH_AT) && !fuzz_addr_eq(&a->attach_at, &b->attach_at))
		return 0;
	if (STP_OPT_HAS(a, STP_OPT_FEATURES) && strcmp(a->features, b->features))
		return 0;
	if (STP_OPT_HAS(a, STP_OPT_SERVER) && strcmp(a->server, b->server))
		return 0;
	return 1;
}

#endif
