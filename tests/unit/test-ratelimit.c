/* test-ratelimit.c - stp-serve's meters (ratelimit.c): token buckets
 * (burst, refill, the chunk and the wait), and the client address table
 * (sessions per address, failed logins and the block they start, logins
 * in flight counted as failures until answered, sweep). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>

#include "server/policy/ratelimit.h"
#include "tap.h"

static void test_bucket_shape(void)
{
	struct stp_bucket b;

	stp_bucket_init(&b, 80000, 1000);
	CHECK_INT(stp_bucket_avail(&b, 1000), 10000, "80000 B/s: full at the start, an 1/8 s burst");
	CHECK_INT(stp_bucket_chunk(&b), 2500, "80000 B/s: chunk is a quarter of the burst");
	stp_bucket_init(&b, 4000, 0);
	CHECK_INT(stp_bucket_avail(&b, 0), 1024, "4000 B/s: burst at least 1 KiB");
	stp_bucket_init(&b, 100, 0);
	CHECK_INT(stp_bucket_avail(&b, 0), 100, "100 B/s: burst at most the rate");
	CHECK_INT(stp_bucket_chunk(&b), 25, "100 B/s: chunk 25");
	stp_bucket_init(&b, 1000000000, 0);
	CHECK_INT(stp_bucket_avail(&b, 0), 125000000, "1 GB/s: burst 125 MB");
	CHECK_INT(stp_bucket_chunk(&b), 4096, "1 GB/s: chunk at most 4096");
	stp_bucket_init(&b, 1, 0);
	CHECK_INT(stp_bucket_chunk(&b), 1, "1 B/s: chunk at least 1");
}

static void test_bucket_refill(void)
{
	struct stp_bucket b;

	stp_bucket_init(&b, 80000, 5000);
	stp_bucket_take(&b, 10000);
	CHECK_INT(stp_bucket_avail(&b, 5000), 0, "emptied: nothing at once");
	CHECK_INT(stp_bucket_avail(&b, 5100), 8000, "100 ms later: 8000");
	CHECK_INT(stp_bucket_avail(&b, 5100), 8000, "asked again at the same time: the same");
	CHECK_INT(stp_bucket_avail(&b, 4000), 8000, "an earlier time adds nothing");
	CHECK_INT(stp_bucket_avail(&b, 65000), 10000, "a minute later: capped at the burst");
	stp_bucket_take(&b, 12000);
	CHECK_INT(stp_bucket_avail(&b, 65000), 0, "overdrawn: 0, not a huge size_t");
	CHECK_INT(stp_bucket_avail(&b, 65025), 0, "25 ms pay back 2000 of the 2000 owed: still 0");
	CHECK_INT(stp_bucket_avail(&b, 65050), 2000, "25 ms more: 2000");
}

/* After waiting what stp_bucket_wait says, the tokens are there, and the
 * wait is at most 1 ms longer than the exact time. */
static void test_bucket_wait(void)
{
	static const long rates[] = { 1, 100, 3000, 80000, 1000000, 123456789 };
	int bad = 0;

	for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
		struct stp_bucket b;
		stp_bucket_init(&b, rates[i], 0);
		size_t want = stp_bucket_chunk(&b);
		stp_bucket_take(&b, stp_bucket_avail(&b, 0));
		uint64_t w = stp_bucket_wait(&b, want);
		double exact = (double)want * 1000.0 / (double)rates[i];
		if (stp_bucket_avail(&b, w) < want || (double)w > exact + 1.0 || w < 1) {
			bad++;
			DIAG("rate %ld: wait %llu ms for %zu", rates[i], (unsigned long long)w, want);
		}
	}
	CHECK_INT(bad, 0, "the wait brings the chunk, and is at most 1 ms too long");
	struct stp_bucket b;
	stp_bucket_init(&b, 80000, 0);
	CHECK_INT(stp_bucket_wait(&b, 100), 1, "tokens there: wait 1 ms (not 0: no busy loop)");
}

static struct sockaddr_in v4(const char *a, uint16_t port)
{
	struct sockaddr_in s = { .sin_family = AF_INET, .sin_port = htons(port) };

	inet_pton(AF_INET, a, &s.sin_addr);
	return s;
}

static struct sockaddr_in6 v6(const char *a, uint16_t port)
{
	struct sockaddr_in6 s = { .sin6_family = AF_INET6, .sin6_port = htons(port) };

	inet_pton(AF_INET6, a, &s.sin6_addr);
	return s;
}

#define SA(x) ((const struct sockaddr *)&(x))

static void test_sessions(void)
{
	struct stp_clients *c = stp_clients_new();
	struct sockaddr_in a1 = v4("192.0.2.1", 1000), a1b = v4("192.0.2.1", 2000);
	struct sockaddr_in a2 = v4("192.0.2.2", 1000);
	struct sockaddr_in6 m1 = v6("::ffff:192.0.2.1", 3000), b6 = v6("2001:db8::1", 1);
	struct sockaddr_un un = { .sun_family = AF_UNIX };

	CHECK(c != NULL, "a new table");
	CHECK_INT(stp_clients_admit(c, SA(a1), 2), 1, "first session of an address: 1");
	CHECK_INT(stp_clients_admit(c, SA(a1b), 2), 2, "another port of it: 2");
	CHECK_INT(stp_clients_admit(c, SA(m1), 2), 0, "its v4-mapped form is the same client: refused");
	CHECK_INT(stp_clients_admit(c, SA(a2), 2), 1, "another address has its own count");
	CHECK_INT(stp_clients_admit(c, SA(b6), 2), 1, "an IPv6 address too");
	stp_clients_release(c, SA(m1));
	CHECK_INT(stp_clients_admit(c, SA(a1), 2), 2, "a release makes room again");
	CHECK_INT(stp_clients_admit(c, SA(a1), 0), 3, "limit 0: no limit");
	CHECK_INT(stp_clients_count(c), 3, "three addresses in the table");
	CHECK_INT(stp_clients_admit(c, SA(un), 1), -1, "a Unix socket peer is not counted");
	CHECK_INT(stp_clients_count(c), 3, "and adds no entry");
	for (int i = 0; i < 10; i++)
		stp_clients_release(c, SA(a2));
	CHECK_INT(stp_clients_admit(c, SA(a2), 1), 1, "releases beyond zero do not go negative");
	stp_clients_free(c);
}

static void test_logins(void)
{
	struct stp_clients *c = stp_clients_new();
	struct sockaddr_in a = v4("198.51.100.7", 1), o = v4("198.51.100.8", 1);
	int started = 0;

	for (int i = 0; i < STP_LOGIN_FAIL_MAX - 1; i++)
		started += stp_clients_failed(c, SA(a), 1000 + (uint64_t)i, STP_LOGIN_FAIL_MAX);
	CHECK(!started && !stp_clients_blocked(c, SA(a), 1010), "4 failures: no block");
	CHECK(stp_clients_failed(c, SA(a), 1010, STP_LOGIN_FAIL_MAX), "the 5th within the window starts a block");
	CHECK(stp_clients_blocked(c, SA(a), 1010), "blocked at once");
	CHECK(!stp_clients_blocked(c, SA(o), 1010), "another address is not");
	CHECK(stp_clients_blocked(c, SA(a), 1010 + STP_LOGIN_BLOCK_MS - 1), "blocked a ms before the end");
	CHECK(!stp_clients_blocked(c, SA(a), 1010 + STP_LOGIN_BLOCK_MS), "free when the block ends");

	/* failures spread wider than the window never add up to a block */
	started = 0;
	for (int i = 0; i < 3 * STP_LOGIN_FAIL_MAX; i++)
		started += stp_clients_failed(c, SA(o), (uint64_t)i * (STP_LOGIN_FAIL_WINDOW_MS / 4 + 1),
					      STP_LOGIN_FAIL_MAX);
	CHECK_INT(started, 0, "one failure every quarter window and a bit: never blocked");

	/* a success forgets the failures before it */
	struct sockaddr_in6 s = v6("2001:db8::5", 1);
	for (int i = 0; i < STP_LOGIN_FAIL_MAX - 1; i++)
		stp_clients_failed(c, SA(s), 10, STP_LOGIN_FAIL_MAX);
	stp_clients_succeeded(c, SA(s));
	CHECK(!stp_clients_failed(c, SA(s), 11, STP_LOGIN_FAIL_MAX), "4 failures, a success, a failure: no block");

	/* failures during a block do not make it longer */
	struct sockaddr_in d = v4("203.0.113.9", 1);
	for (int i = 0; i < STP_LOGIN_FAIL_MAX; i++)
		stp_clients_failed(c, SA(d), 0, STP_LOGIN_FAIL_MAX);
	started = 0;
	for (int i = 0; i < 2 * STP_LOGIN_FAIL_MAX; i++)
		started += stp_clients_failed(c, SA(d), 1000, STP_LOGIN_FAIL_MAX);
	CHECK_INT(started, 0, "failing while blocked starts no new block");
	CHECK(!stp_clients_blocked(c, SA(d), STP_LOGIN_BLOCK_MS), "the block still ends on time");

	/* --login-failures 0: no block, and no limit on logins in flight */
	struct sockaddr_in z = v4("203.0.113.10", 1);
	started = 0;
	for (int i = 0; i < 4 * STP_LOGIN_FAIL_MAX; i++)
		started += stp_clients_login_start(c, SA(z), 2000, 0) != STP_LOGIN_GO;
	for (int i = 0; i < 4 * STP_LOGIN_FAIL_MAX; i++)
		started += stp_clients_failed(c, SA(z), 2000, 0);
	CHECK_INT(started, 0, "max 0: never busy, never blocked");
	CHECK(!stp_clients_blocked(c, SA(z), 2000), "max 0: not blocked");
	stp_clients_free(c);
}

/* Logins sent together: the 6th is refused before any is answered. */
static void test_in_flight(void)
{
	struct stp_clients *c = stp_clients_new();
	struct sockaddr_in a = v4("198.51.100.9", 1), o = v4("198.51.100.10", 1);
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	int go = 0;

	for (int i = 0; i < 5; i++)
		go += stp_clients_login_start(c, SA(a), 100, STP_LOGIN_FAIL_MAX) == STP_LOGIN_GO;
	CHECK_INT(go, 5, "5 logins at once go");
	CHECK_INT(stp_clients_login_start(c, SA(a), 100, STP_LOGIN_FAIL_MAX), STP_LOGIN_BUSY, "the 6th in flight: busy");
	CHECK_INT(stp_clients_login_start(c, SA(o), 100, STP_LOGIN_FAIL_MAX), STP_LOGIN_GO, "another address goes");
	stp_clients_succeeded(c, SA(a));
	CHECK_INT(stp_clients_login_start(c, SA(a), 101, STP_LOGIN_FAIL_MAX), STP_LOGIN_GO, "a success gives its slot back");
	stp_clients_login_dropped(c, SA(a));
	CHECK_INT(stp_clients_login_start(c, SA(a), 101, STP_LOGIN_FAIL_MAX), STP_LOGIN_GO, "so does a dropped login");
	int started = 0;
	for (int i = 0; i < 5; i++)
		started += stp_clients_failed(c, SA(a), 102, STP_LOGIN_FAIL_MAX);
	CHECK_INT(started, 1, "the 5 in flight fail: one block");
	CHECK_INT(stp_clients_login_start(c, SA(a), 103, STP_LOGIN_FAIL_MAX), STP_LOGIN_BLOCKED, "then blocked");
	stp_clients_failed(c, SA(o), 104, STP_LOGIN_FAIL_MAX);
	for (int i = 0; i < 4; i++)
		stp_clients_login_start(c, SA(o), 104, STP_LOGIN_FAIL_MAX);
	CHECK_INT(stp_clients_login_start(c, SA(o), 104, STP_LOGIN_FAIL_MAX), STP_LOGIN_BUSY,
		  "1 failure and 4 in flight: busy");
	CHECK_INT(stp_clients_login_start(c, SA(o), 104 + STP_LOGIN_FAIL_WINDOW_MS + 1,
					  STP_LOGIN_FAIL_MAX),
		  STP_LOGIN_GO, "the failure leaves the window: a slot");
	stp_clients_sweep(c, 200000);
	CHECK_INT(stp_clients_count(c), 1, "sweep keeps an address with logins in flight");
	CHECK_INT(stp_clients_login_start(c, SA(un), 0, STP_LOGIN_FAIL_MAX), STP_LOGIN_UNTRACKED,
		  "a Unix socket peer is not counted");
	stp_clients_free(c);
}

static void test_sweep(void)
{
	struct stp_clients *c = stp_clients_new();
	struct sockaddr_in live = v4("10.0.0.1", 1), idle = v4("10.0.0.2", 1);
	struct sockaddr_in failed = v4("10.0.0.3", 1), blocked = v4("10.0.0.4", 1);

	stp_clients_admit(c, SA(live), 0);
	stp_clients_admit(c, SA(idle), 0);
	stp_clients_release(c, SA(idle));
	stp_clients_failed(c, SA(failed), 0, STP_LOGIN_FAIL_MAX);
	for (int i = 0; i < STP_LOGIN_FAIL_MAX; i++)
		stp_clients_failed(c, SA(blocked), 20000, STP_LOGIN_FAIL_MAX);
	CHECK_INT(stp_clients_count(c), 4, "four entries");
	stp_clients_sweep(c, 1);
	CHECK_INT(stp_clients_count(c), 3, "sweep: the idle one goes");
	stp_clients_sweep(c, STP_LOGIN_FAIL_WINDOW_MS);
	CHECK_INT(stp_clients_count(c), 3, "sweep at the end of the window: the failure stays");
	stp_clients_sweep(c, STP_LOGIN_FAIL_WINDOW_MS + 1);
	CHECK_INT(stp_clients_count(c), 2, "sweep after the window: the old failure goes");
	CHECK(stp_clients_blocked(c, SA(blocked), STP_LOGIN_FAIL_WINDOW_MS + 1),
	      "a block in force is kept");
	stp_clients_sweep(c, 20000 + STP_LOGIN_BLOCK_MS);
	CHECK_INT(stp_clients_count(c), 1, "sweep after the block: only the live session stays");
	CHECK_INT(stp_clients_admit(c, SA(live), 2), 2, "and it still counts its session");
	stp_clients_free(c);
}

int main(void)
{
	test_bucket_shape();
	test_bucket_refill();
	test_bucket_wait();
	test_sessions();
	test_logins();
	test_in_flight();
	test_sweep();
	return tap_done();
}
