/* fuzz-users.c - libFuzzer target for the users file (users.h): the input
 * is the file. A file that loads knows the user of its first line; a
 * refusal must be a one-line usage error naming the file. */
#include <stdint.h>
#include <string.h>
#include "fuzz.h"
#include "server/policy/users.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64], name[256];
	struct stp_err e = { 0, "" };
	struct stp_users *u;
	int fd = fuzz_file(data, size, path, sizeof(path));

	if (fd < 0)
		return 0;
	u = stp_users_load(path, &e);
	close(fd);
	if (!u) {
		FUZZ_ASSERT(e.code != 0 && e.msg[0] && strstr(e.msg, path));
		return 0;
	}
	/* the first user line's name, if the file starts with one */
	const char *colon = memchr(data, ':', size);
	size_t n = colon ? (size_t)(colon - (const char *)data) : 0;
	if (n && n < sizeof(name) && data[0] != '#' && !memchr(data, '\n', n) &&
	    !memchr(data, '\0', n) && !memchr(data, '\r', n)) {
		memcpy(name, data, n);
		name[n] = '\0';
		FUZZ_ASSERT(stp_users_has(u, name));
	}
	stp_users_free(u);
	return 0;
}
