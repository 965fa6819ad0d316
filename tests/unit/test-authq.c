/* test-authq.c - the password-check queue (authq.c): FIFO within an
 * address, round-robin between addresses, the caps, removal of an item
 * before its turn (a closed session), and a newcomer served within one
 * round however long the others' queues are. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "server/policy/authq.h"
#include "tap.h"

struct job {
	struct stp_authq_item it;   /* first: a popped item is its job */
	int id;
};

static struct sockaddr_storage addrs[4];
#define SA(i) ((const struct sockaddr *)&addrs[i])

static void setup_addrs(void)
{
	struct sockaddr_in *a = (struct sockaddr_in *)&addrs[0];
	struct sockaddr_in *b = (struct sockaddr_in *)&addrs[1];
	struct sockaddr_in6 *c = (struct sockaddr_in6 *)&addrs[2];
	struct sockaddr_un *u = (struct sockaddr_un *)&addrs[3];

	memset(addrs, 0, sizeof(addrs));
	a->sin_family = b->sin_family = AF_INET;
	inet_pton(AF_INET, "192.0.2.1", &a->sin_addr);
	inet_pton(AF_INET, "192.0.2.2", &b->sin_addr);
	c->sin6_family = AF_INET6;
	inet_pton(AF_INET6, "2001:db8::1", &c->sin6_addr);
	u->sun_family = AF_UNIX;
}

static int pop_id(struct stp_authq *q)
{
	struct stp_authq_item *it = stp_authq_pop(q);

	return it ? ((struct job *)it)->id : -1;
}

static void test_fifo_and_round_robin(void)
{
	struct stp_authq *q = stp_authq_new(10, 100);
	struct job j[9];
	int bad = 0;

	for (int i = 0; i < 9; i++)
		j[i].id = i;
	/* address 0 sends 0..4, then 1 sends 5, 6, then 2 sends 7, 8 */
	for (int i = 0; i < 5; i++)
		bad += stp_authq_push(q, &j[i].it, SA(0)) != 0;
	bad += stp_authq_push(q, &j[5].it, SA(1)) != 0;
	bad += stp_authq_push(q, &j[6].it, SA(1)) != 0;
	bad += stp_authq_push(q, &j[7].it, SA(2)) != 0;
	bad += stp_authq_push(q, &j[8].it, SA(2)) != 0;
	CHECK(!bad, "9 items of 3 addresses queued");
	CHECK_INT(stp_authq_len(q), 9, "9 queued");
	static const int want[] = { 0, 5, 7, 1, 6, 8, 2, 3, 4 };
	for (int i = 0; i < 9; i++)
		CHECK_INT(pop_id(q), want[i], "pop %d: one address after the other, FIFO within", i);
	CHECK_INT(pop_id(q), -1, "then empty");
	CHECK_INT(stp_authq_len(q), 0, "0 queued");
	stp_authq_free(q);
}

static void test_caps(void)
{
	struct stp_authq *q = stp_authq_new(2, 3);
	struct job j[5];

	CHECK_INT(stp_authq_push(q, &j[0].it, SA(0)), 0, "1st of an address");
	CHECK_INT(stp_authq_push(q, &j[1].it, SA(0)), 0, "2nd of an address");
	CHECK_INT(stp_authq_push(q, &j[2].it, SA(0)), -1, "3rd of an address: over its share");
	CHECK(j[2].it.owner == NULL, "and not queued");
	CHECK_INT(stp_authq_push(q, &j[3].it, SA(1)), 0, "another address still gets in");
	CHECK_INT(stp_authq_push(q, &j[4].it, SA(2)), -1, "a third: the queue is full");
	CHECK_INT(stp_authq_len(q), 3, "3 queued");
	stp_authq_pop(q);
	CHECK_INT(stp_authq_push(q, &j[2].it, SA(0)), 0, "a turn taken: room for the address again");
	stp_authq_free(q);

	q = stp_authq_new(0, 10);
	CHECK_INT(stp_authq_push(q, &j[0].it, SA(0)), -1, "a share of 0 takes nothing");
	CHECK(stp_authq_pop(q) == NULL, "and the queue stays empty");
	stp_authq_free(q);
}

static void test_remove(void)
{
	struct stp_authq *q = stp_authq_new(10, 100);
	struct job j[6];

	for (int i = 0; i < 6; i++) {
		j[i].id = i;
		stp_authq_push(q, &j[i].it, SA(i < 3 ? 0 : 1));
	}
	stp_authq_remove(q, &j[1].it);    /* middle */
	stp_authq_remove(q, &j[3].it);    /* head of address 1 */
	stp_authq_remove(q, &j[5].it);    /* tail of address 1 */
	stp_authq_remove(q, &j[5].it);    /* again: nothing */
	CHECK_INT(stp_authq_len(q), 3, "3 removed, 3 left");
	CHECK_INT(pop_id(q), 0, "0");
	CHECK_INT(pop_id(q), 4, "4");
	CHECK_INT(pop_id(q), 2, "2");
	CHECK_INT(pop_id(q), -1, "the removed ones never come out");
	/* an address whose every item left is forgotten, its turn too */
	stp_authq_push(q, &j[0].it, SA(0));
	stp_authq_push(q, &j[1].it, SA(1));
	stp_authq_remove(q, &j[0].it);
	CHECK_INT(pop_id(q), 1, "the turn passes to the next address");
	stp_authq_remove(q, &j[1].it);  /* popped: not queued, nothing */
	CHECK_INT(stp_authq_len(q), 0, "empty");
	stp_authq_free(q);
}

/* 1000 items of one address, then one of another: it waits for one of
 * theirs, not for 999. */
static void test_newcomer(void)
{
	struct stp_authq *q = stp_authq_new(1000, 2000);
	struct job *j = calloc(1001, sizeof(*j));

	for (int i = 0; i < 1000; i++) {
		j[i].id = i;
		stp_authq_push(q, &j[i].it, SA(0));
	}
	CHECK_INT(pop_id(q), 0, "the flood's first");
	j[1000].id = 1000;
	stp_authq_push(q, &j[1000].it, SA(2));
	CHECK_INT(pop_id(q), 1, "the flood's turn");
	CHECK_INT(pop_id(q), 1000, "then the newcomer, not 998 later");
	CHECK_INT(pop_id(q), 2, "then the flood again");
	/* non-IP clients share one FIFO */
	CHECK_INT(stp_authq_push(q, &j[0].it, SA(3)), 0, "a unix-socket client is queued");
	stp_authq_free(q);  /* items still queued: the caller's, untouched */
	CHECK(j[0].it.owner == NULL, "free forgets the items' owner");
	free(j);
}

int main(void)
{
	setup_addrs();
	test_fifo_and_round_robin();
	test_caps();
	test_remove();
	test_newcomer();
	return tap_done();
}
