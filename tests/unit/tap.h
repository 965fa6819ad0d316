/* tap.h - a tiny TAP producer for the C unit tests (header-only).
 *
 *   CHECK(cond, "name %d", i);       ok N - name / not ok N - name
 *   CHECK_INT(got, want, "name");    same, with both values on failure
 *   CHECK_STR(got, want, "name");
 *   DIAG("anything %s", x);          # anything
 *   return tap_done();               prints 1..N; non-zero if any failed
 *
 * Plan-less: the plan comes last, so tests can loop without counting. */
#ifndef STP_TAP_H
#define STP_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

__attribute__((format(printf, 1, 2), unused))
static void tap_diag(const char *fmt, ...)
{
	va_list ap;

	fputs("# ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
}

/* Prints one result line; returns ok so callers can add diagnostics. */
__attribute__((format(printf, 4, 5), unused))
static int tap_check(int ok, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	tap_n++;
	printf("%sok %d - ", ok ? "" : "not ", tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	if (!ok) {
		tap_failed++;
		printf("#   failed at %s:%d\n", file, line);
	}
	fflush(stdout);
	return ok;
}

__attribute__((unused))
static int tap_done(void)
{
	printf("1..%d\n", tap_n);
	if (tap_failed)
		printf("# %d of %d failed\n", tap_failed, tap_n);
	fflush(stdout);
	return tap_failed ? 1 : 0;
}

#define DIAG(...) tap_diag(__VA_ARGS__)
#define CHECK(cond, ...) tap_check(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

#define CHECK_INT(got, want, ...) do { \
	long long tap_g_ = (long long)(got), tap_w_ = (long long)(want); \
	if (!tap_check(tap_g_ == tap_w_, __FILE__, __LINE__, __VA_ARGS__)) \
		tap_diag("  got %lld, want %lld (%s)", tap_g_, tap_w_, #got); \
} while (0)

#define CHECK_STR(got, want, ...) do { \
	const char *tap_g_ = (got), *tap_w_ = (want); \
	int tap_ok_ = tap_g_ && tap_w_ && strcmp(tap_g_, tap_w_) == 0; \
	if (!tap_check(tap_ok_, __FILE__, __LINE__, __VA_ARGS__)) \
		tap_diag("  got '%s', want '%s'", tap_g_ ? tap_g_ : "(null)", \
			 tap_w_ ? tap_w_ : "(null)"); \
} while (0)

/* got contains want */
#define CHECK_HAS(got, want, ...) do { \
	const char *tap_g_ = (got), *tap_w_ = (want); \
	int tap_ok_ = tap_g_ && tap_w_ && strstr(tap_g_, tap_w_) != NULL; \
	if (!tap_check(tap_ok_, __FILE__, __LINE__, __VA_ARGS__)) \
		tap_diag("  '%s' does not contain '%s'", tap_g_ ? tap_g_ : "(null)", \
			 tap_w_ ? tap_w_ : "(null)"); \
} while (0)

#endif
