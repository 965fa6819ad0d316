/* json.h - jansson values from untrusted text: a user name, a SOCKS4
 * userid, a target name, a path. jansson refuses a string that is not
 * UTF-8, and a log line or event built from one would be lost; these
 * never fail for that reason. */
#ifndef STP_JSON_H
#define STP_JSON_H

#include <jansson.h>
#include <stddef.h>

/* A JSON string of the n bytes at s: valid UTF-8 as it is, each byte that
 * is not part of a valid UTF-8 sequence written as the four characters
 * \xHH. Returns a new reference, or NULL only when memory is short. */
json_t *stp_json_stringn(const char *s, size_t n);
/* The same for a NUL-terminated s. */
json_t *stp_json_string(const char *s);

#endif
