/* upresolve.c - DNS over TCP through an HTTP last hop, for RESOLVE and
 * RESOLVE_PTR (see upresolve.h).
 *
 * The queries go out in one write (RFC 7766 §6.2.1.1 lets a client send
 * several on one connection; answers may come in any order, matched by
 * ID). Each answer is read exactly: LEN(2), then LEN bytes into a buffer
 * of that size, at most 65535 (what LEN can say), so a server cannot
 * make this grow further. IDs need no randomness here: the stream is TCP
 * to a server this host chose, through proxies it chose, so no one off
 * the path can inject an answer. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/evloop.h"
#include "proto/addr.h"
#include "proto/dns.h"
#include "proto/dnspick.h"
#include "proto/url.h"
#include "server/server_priv.h"
#include "server/upresolve.h"

#define UPR_QMAX 2             /* A and AAAA */
#define UPR_QLEN (2 + 300)     /* LEN(2) | a query for a name of 255 bytes */

struct upresolve {
	uint8_t cmd;
	int nq;
	uint16_t id[UPR_QMAX], type[UPR_QMAX];
	bool done[UPR_QMAX];
	bool found[UPR_QMAX];
	struct stp_addr ans[UPR_QMAX];
	int rcode[UPR_QMAX];
	uint8_t out[UPR_QMAX * UPR_QLEN];
	size_t outlen, outoff;
	uint8_t len[2];             /* the LEN of the answer being read */
	size_t lenhave;
	uint8_t *msg;               /* its message, len bytes */
	size_t msglen, msghave;
	char question[STP_DNS_NAMESTR + 16];
};

bool upresolve_wanted(uint8_t ver, uint8_t cmd, const struct stp_proxy *last)
{
	return ver == 5 && (cmd == STP_CMD_RESOLVE || cmd == STP_CMD_RESOLVE_PTR) &&
	       last->proto == STP_PROTO_HTTP;
}

int upresolve_server(const struct stp_server *s, struct stp_addr *out)
{
	struct sockaddr_storage sa;

	if (stp_resolver_first_server(s->res, &sa) < 0 ||
	    stp_addr_from_sa(out, (const struct sockaddr *)&sa) < 0)
		return -1;
	out->port = stp_sa_port((const struct sockaddr *)&sa);
	return 0;
}

/* Appends LEN | query for name/type. Returns 0, or -1. */
static int add_query(struct upresolve *r, const char *name, uint16_t type)
{
	static uint16_t next_id = 0x5a00;  /* see the note at the top */
	uint8_t *p = r->out + r->outlen;
	size_t n;

	r->id[r->nq] = next_id++;
	r->type[r->nq] = type;
	n = stp_dns_query_put(p + 2, UPR_QLEN - 2, r->id[r->nq], name, type);
	if (n == 0)
		return -1;
	p[0] = (uint8_t)(n >> 8);
	p[1] = (uint8_t)n;
	r->outlen += 2 + n;
	r->nq++;
	return 0;
}

struct upresolve *upresolve_new(uint8_t cmd, const struct stp_addr *dst, char *why, size_t cap)
{
	struct upresolve *r = calloc(1, sizeof(*r));
	char host[STP_ADDRSTRLEN], ptr[STP_DNS_NAMESTR];
	int bad;

	if (!r) {
		snprintf(why, cap, "out of memory");
		return NULL;
	}
	r->cmd = cmd;
	if (cmd == STP_CMD_RESOLVE) {
		bad = dst->atyp != STP_ATYP_NAME || add_query(r, dst->u.name, STP_DNS_T_A) < 0 ||
		      add_query(r, dst->u.name, STP_DNS_T_AAAA) < 0;
		snprintf(r->question, sizeof(r->question), "A+AAAA %s",
			 dst->atyp == STP_ATYP_NAME ? dst->u.name : "?");
	} else {
		bad = dst->atyp == STP_ATYP_NAME ||
		      stp_dns_ptr_name(stp_addr_host(dst, host, sizeof(host)), ptr, sizeof(ptr)) < 0 ||
		      add_query(r, ptr, STP_DNS_T_PTR) < 0;
		snprintf(r->question, sizeof(r->question), "PTR %s", bad ? "?" : ptr);
	}
	if (bad) {
		snprintf(why, cap, "cannot ask %s of a DNS server", r->question);
		free(r);
		return NULL;
	}
	return r;
}

void upresolve_free(struct upresolve *r)
{
	if (!r)
		return;
	free(r->msg);
	free(r);
}

const char *upresolve_question(const struct upresolve *r)
{
	return r->question;
}

/* Ends the exchange with reply 4 and why. Returns 1. */
static int fail(struct upresolve_result *res, const char *why)
{
	memset(res, 0, sizeof(*res));
	res->rep = STP_REP_HOST_UNREACH;
	snprintf(res->why, sizeof(res->why), "%s", why);
	return 1;
}

/* Takes in the answer in r->msg. Returns 1 when that ends the exchange
 * (*res filled), 0 when another answer is awaited. */
static int take_answer(struct upresolve *r, struct upresolve_result *res)
{
	int k, rc = STP_DNS_NOERROR, got;
	struct stp_addr a;

	for (k = 0; k < r->nq; k++)
		if (!r->done[k] && r->msglen >= 2 &&
		    (((unsigned)r->msg[0] << 8) | r->msg[1]) == r->id[k])
			break;
	if (k == r->nq)
		return fail(res, "the DNS server answered a question not asked");
	got = stp_dns_pick(r->msg, r->msglen, r->id[k], r->type[k], &a, &rc);
	if (got < 0)
		return fail(res, "malformed answer from the DNS server");
	r->done[k] = true;
	r->rcode[k] = rc;
	if (got > 0) {
		r->found[k] = true;
		r->ans[k] = a;
	}
	/* the first query's answer wins (A before AAAA), once it is known */
	for (k = 0; k < r->nq; k++) {
		if (!r->done[k])
			return 0;
		if (r->found[k]) {
			memset(res, 0, sizeof(*res));
			res->rep = STP_REP_OK;
			res->bnd = r->ans[k];
			res->bnd.port = 0;
			return 1;
		}
	}
	/* nothing: the first error RCODE says why, else there is no record */
	for (k = 0; k < r->nq; k++)
		if (r->rcode[k] != STP_DNS_NOERROR)
			return fail(res, stp_dns_rcode_text(r->rcode[k]));
	return fail(res, r->cmd == STP_CMD_RESOLVE ? "no address" : "no name");
}

int upresolve_pump(struct upresolve *r, upresolve_io_fn *io, void *arg, unsigned *want,
		   struct upresolve_result *res)
{
	char why[160];
	ssize_t k;

	for (;;) {
		if (r->outoff < r->outlen) {
			k = io(arg, true, r->out + r->outoff, r->outlen - r->outoff, want);
		} else if (r->lenhave < 2) {
			k = io(arg, false, r->len + r->lenhave, 2 - r->lenhave, want);
		} else {
			k = io(arg, false, r->msg + r->msghave, r->msglen - r->msghave, want);
		}
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && errno == EAGAIN)
			return 0;
		if (k <= 0) {
			snprintf(why, sizeof(why), "DNS server: %s",
				 k == 0 ? "connection closed before the answer" : strerror(errno));
			return fail(res, why);
		}
		if (r->outoff < r->outlen) {
			r->outoff += (size_t)k;
			continue;
		}
		if (r->lenhave < 2) {
			r->lenhave += (size_t)k;
			if (r->lenhave < 2)
				continue;
			r->msglen = ((size_t)r->len[0] << 8) | r->len[1];
			r->msghave = 0;
			if (r->msglen < STP_DNS_HDR)
				return fail(res, "malformed answer from the DNS server");
			free(r->msg);
			r->msg = malloc(r->msglen);
			if (!r->msg)
				return fail(res, "out of memory");
			continue;
		}
		r->msghave += (size_t)k;
		if (r->msghave < r->msglen)
			continue;
		if (take_answer(r, res))
			return 1;
		r->lenhave = 0;  /* the next answer */
	}
}
