/* passwd.c - PBKDF2-HMAC-SHA256 password hashes. */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/policy/passwd.h"

#define SALT_LEN 16
#define KEY_LEN 32

/* Base64 with padding; returns the text length. */
static int b64_enc(const unsigned char *in, int n, char *out)
{
	return EVP_EncodeBlock((unsigned char *)out, in, n);
}

/* Returns the decoded length (padding removed), or -1. */
static int b64_dec(const char *in, size_t n, unsigned char *out, size_t cap)
{
	int len, pad = 0;

	if (n == 0 || n % 4 || n / 4 * 3 > cap)
		return -1;
	len = EVP_DecodeBlock(out, (const unsigned char *)in, (int)n);
	if (len < 0)
		return -1;
	if (in[n - 1] == '=')
		pad++;
	if (in[n - 2] == '=')
		pad++;
	return len - pad;
}

/* Returns 0, or -1 with e filled. */
int stp_passwd_hash(const char *pw, size_t len, char *out, size_t cap, struct stp_err *e)
{
	unsigned char salt[SALT_LEN], key[KEY_LEN];
	char s64[32], k64[48];
	int n;

	if (RAND_bytes(salt, sizeof(salt)) != 1)
		return stp_err_set(e, STP_EXIT_FAIL, "no randomness for a salt");
	if (PKCS5_PBKDF2_HMAC(pw, (int)len, salt, sizeof(salt), STP_HASH_ITER,
			      EVP_sha256(), sizeof(key), key) != 1)
		return stp_err_set(e, STP_EXIT_FAIL, "PBKDF2 failed");
	b64_enc(salt, sizeof(salt), s64);
	b64_enc(key, sizeof(key), k64);
	OPENSSL_cleanse(key, sizeof(key));
	n = snprintf(out, cap, "%s%d$%s$%s", STP_HASH_PREFIX, STP_HASH_ITER, s64, k64);
	if (n < 0 || (size_t)n >= cap)
		return stp_err_set(e, STP_EXIT_FAIL, "hash buffer too small");
	return 0;
}

/* Splits a hash; returns 0 or -1 if malformed. */
static int parse(const char *hash, long *iter, unsigned char *salt, int *saltlen,
		 unsigned char *key)
{
	const char *p, *d1, *d2;
	char *end;

	if (strncmp(hash, STP_HASH_PREFIX, strlen(STP_HASH_PREFIX)) != 0)
		return -1;
	p = hash + strlen(STP_HASH_PREFIX);
	*iter = strtol(p, &end, 10);
	if (end == p || *end != '$' || *iter < 1000 || *iter > 100000000)
		return -1;
	d1 = end + 1;
	d2 = strchr(d1, '$');
	if (!d2)
		return -1;
	*saltlen = b64_dec(d1, (size_t)(d2 - d1), salt, 64);
	if (*saltlen < 8)
		return -1;
	if (b64_dec(d2 + 1, strlen(d2 + 1), key, 48) != KEY_LEN)
		return -1;
	return 0;
}

int stp_passwd_check_format(const char *hash)
{
	unsigned char salt[64], key[48];
	long iter;
	int sl;

	return parse(hash, &iter, salt, &sl, key);
}

/* Returns 1 on a match, 0 on a mismatch, -1 for a malformed hash. */
int stp_passwd_verify(const char *pw, size_t len, const char *hash)
{
	unsigned char salt[64], key[48], got[KEY_LEN];
	long iter;
	int sl, ok;

	if (parse(hash, &iter, salt, &sl, key) < 0)
		return -1;
	if (PKCS5_PBKDF2_HMAC(pw, (int)len, salt, sl, (int)iter, EVP_sha256(),
			      KEY_LEN, got) != 1)
		return 0;
	ok = CRYPTO_memcmp(got, key, KEY_LEN) == 0;
	OPENSSL_cleanse(got, sizeof(got));
	return ok;
}
