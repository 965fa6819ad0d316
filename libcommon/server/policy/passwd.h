/* passwd.h - password hashes for users files: PBKDF2-HMAC-SHA256 from
 * OpenSSL, salted, slow, with a scheme prefix:
 *   $pbkdf2-sha256$ITERATIONS$SALT_BASE64$HASH_BASE64
 * Plain text is never accepted where a hash is expected. */
#ifndef STP_PASSWD_H
#define STP_PASSWD_H

#include <stddef.h>
#include "proto/err.h"

#define STP_HASH_PREFIX "$pbkdf2-sha256$"
#define STP_HASH_ITER 100000
#define STP_HASH_MAX 160

/* Writes a fresh hash of pw into out. Returns 0, or -1 with e filled. */
int stp_passwd_hash(const char *pw, size_t len, char *out, size_t cap, struct stp_err *e);
/* Returns 1 if pw matches hash, 0 if not, -1 if hash is not one of ours.
 * Takes the same time for every pw (constant-time comparison). */
int stp_passwd_verify(const char *pw, size_t len, const char *hash);
/* Returns 0 if hash is well-formed, -1 if not. */
int stp_passwd_check_format(const char *hash);

#endif
