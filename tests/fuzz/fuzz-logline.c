/* fuzz-logline.c - libFuzzer target for the session log line (logsess.h):
 * the input is split at NUL bytes into user, userid, target and result.
 * The text line must stay one line of printable ASCII whose fields are
 * exactly the expected keys in order, whatever the bytes; the JSON line
 * must never be lost and must parse, with each field a string and "ts"
 * there. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz.h"
#include "server/logsess.h"

/* The next field: up to max bytes of the input before a NUL. */
static char *field(const uint8_t **p, const uint8_t *end, size_t max)
{
	const uint8_t *nul = memchr(*p, 0, (size_t)(end - *p));
	size_t n = (size_t)((nul ? nul : end) - *p);
	char *s = malloc((n < max ? n : max) + 1);

	if (!s)
		abort();
	memcpy(s, *p, n < max ? n : max);
	s[n < max ? n : max] = '\0';
	*p = nul ? nul + 1 : end;
	return s;
}

/* The text line's keys, up to result (whose quoted value may hold spaces),
 * are these and nothing else. */
static void check_text(const char *line, bool userid)
{
	static const char *const keys[] = { "client=", "user=", "userid=", "cmd=", "target=",
					    "up=", "down=", "duration=", "result=\"" };
	const char *p = line + strlen("session ");

	FUZZ_ASSERT(strncmp(line, "session ", 8) == 0);
	for (const char *c = line; *c; c++)
		FUZZ_ASSERT(*c >= 0x20 && *c < 0x7f);
	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		if (k == 2 && !userid)
			continue;
		FUZZ_ASSERT(strncmp(p, keys[k], strlen(keys[k])) == 0);
		if (k == 8)
			break;
		p = strchr(p, ' ');
		FUZZ_ASSERT(p);
		p++;
	}
	/* the quoted result ends the line: its quotes are escaped */
	p += strlen("result=\"");
	for (; p[0] != '"'; p++) {
		FUZZ_ASSERT(p[0]);
		if (p[0] == '\\')
			p++;
	}
	FUZZ_ASSERT(p[1] == '\0');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char line[STP_SESS_LINE_MAX];
	const uint8_t *p = data, *end = data + size;
	char *user = field(&p, end, 255), *userid = field(&p, end, 255);
	char *target = field(&p, end, 261), *result = field(&p, end, 255);
	struct stp_sess_rec r = {
		.client = "192.0.2.1:1080", .user = user, .userid = userid, .cmd = "connect",
		.target = target[0] == '-' ? NULL : target, .up = size, .down = (uint64_t)-1,
		.duration = (double)size / 7, .result = result, .socks = size & 1 ? 4 : 5,
	};
	json_t *j;
	int n;

	n = stp_sess_format(&r, false, line, sizeof(line));
	FUZZ_ASSERT(n > 0 && (size_t)n == strlen(line));
	check_text(line, userid[0] != '\0');
	n = stp_sess_format(&r, true, line, sizeof(line));
	FUZZ_ASSERT(n > 0 && (size_t)n == strlen(line) && !strchr(line, '\n'));
	j = json_loads(line, 0, NULL);
	FUZZ_ASSERT(j && json_is_object(j));
	FUZZ_ASSERT(json_is_string(json_object_get(j, "ts")));
	FUZZ_ASSERT(json_is_string(json_object_get(j, "target")));
	FUZZ_ASSERT(json_is_string(json_object_get(j, "result")));
	FUZZ_ASSERT(user[0] ? json_is_string(json_object_get(j, "user"))
			    : json_is_null(json_object_get(j, "user")));
	FUZZ_ASSERT(!userid[0] || json_is_string(json_object_get(j, "userid")));
	json_decref(j);
	free(user);
	free(userid);
	free(target);
	free(result);
	return 0;
}
