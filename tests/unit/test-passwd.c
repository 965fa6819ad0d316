/* test-passwd.c - password hashes: format, verification, no plain text. */
#include <string.h>

#include "server/policy/passwd.h"
#include "tap.h"

int main(void)
{
	char h1[STP_HASH_MAX], h2[STP_HASH_MAX];
	struct stp_err e;

	CHECK_INT(stp_passwd_hash("secret", 6, h1, sizeof(h1), &e), 0, "hash made");
	CHECK(strncmp(h1, STP_HASH_PREFIX, strlen(STP_HASH_PREFIX)) == 0, "scheme prefix");
	CHECK(strstr(h1, "secret") == NULL, "no plain text in the hash");
	CHECK_INT(stp_passwd_hash("secret", 6, h2, sizeof(h2), &e), 0, "second hash");
	CHECK(strcmp(h1, h2) != 0, "salted: two hashes of one password differ");
	CHECK_INT(stp_passwd_verify("secret", 6, h1), 1, "right password");
	CHECK_INT(stp_passwd_verify("secreT", 6, h1), 0, "wrong password");
	CHECK_INT(stp_passwd_verify("secret", 5, h1), 0, "prefix of the password");
	CHECK_INT(stp_passwd_verify("secret", 6, "secret"), -1, "plain text is not a hash");
	CHECK_INT(stp_passwd_check_format(h1), 0, "format ok");
	CHECK_INT(stp_passwd_check_format("$pbkdf2-sha256$100$AAAA$BBBB"), -1, "too few iterations");
	CHECK_INT(stp_passwd_check_format("$pbkdf2-sha256$100000$!!$x"), -1, "bad base64");
	CHECK_INT(stp_passwd_hash("x", 1, h2, 20, &e), -1, "small buffer refused");

	char pw[256];
	memset(pw, 'p', 255);
	pw[255] = '\0';
	CHECK_INT(stp_passwd_hash(pw, 255, h2, sizeof(h2), &e), 0, "255-byte password");
	CHECK_INT(stp_passwd_verify(pw, 255, h2), 1, "255-byte password verifies");
	return tap_done();
}
