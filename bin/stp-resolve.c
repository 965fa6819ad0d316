/* stp-resolve - names, addresses and any record type through the proxy, and
 * a local DNS stub (SPEC §3.5). Parses options into one struct, checks them
 * in one place, and wires libcommon calls. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/addr.h"
#include "cli/cli.h"
#include "client/clientopts.h"
#include "cli/die.h"
#include "proto/dns.h"
#include "client/dnsclient.h"
#include "client/dnsstub.h"
#include "core/evloop.h"
#include "core/opts.h"
#include "core/sock.h"
#include "proto/version.h"

static const char prog[] = "stp-resolve";

enum { O_LISTEN = 256 };

static const struct stp_optdef own_options[] = {
	{ 'r', "reverse", NULL, "look addresses up (RESOLVE_PTR): print ADDR NAME" },
	{ 't', "type", "TYPE", "any record type through the DNS channel, printed as dig does" },
	{ O_LISTEN, "listen", "[ADDR:]PORT", "a local DNS stub on UDP and TCP answering through the proxy" },
	STP_OPT_END
};

static const char synopsis[] = "[OPTIONS] [NAME...]";
static const char description[] =
	"Resolves each NAME (or each line of stdin) through the proxy, so that the\n"
	"local network never sees the query: NAME ADDR per name (Tor's RESOLVE);\n"
	"with -r, ADDR NAME (RESOLVE_PTR); with -t, every answer of that type as\n"
	"NAME TTL CLASS TYPE DATA (the STP DNS channel). --listen serves DNS locally\n"
	"through the proxy instead.\n"
	"Without -x or --config, the proxy comes from STP_CONFIG, STP_PROXY,\n"
	"then all_proxy or ALL_PROXY; a password from STP_PASSWORD or --password-file.\n"
	"--gssapi uses the Kerberos ticket of KRB5CCNAME (realms from KRB5_CONFIG).";

struct resolve_opts {
	struct stp_clientopts co;
	bool reverse;
	const char *type_arg;
	uint16_t type;
	const char *listen;
	char **names;
	int nnames;
};

static void parse_args(int argc, char **argv, struct resolve_opts *o)
{
	struct stp_cli cli;
	struct stp_err e;
	int c;

	memset(o, 0, sizeof(*o));
	stp_cli_init(&cli, &o->co, prog, synopsis, description, own_options);
	while ((c = stp_cli_next(&cli, argc, argv)) != -1) {
		switch (c) {
		case 'r': o->reverse = true; break;
		case 't': o->type_arg = optarg; break;
		case O_LISTEN: o->listen = optarg; break;
		}
	}
	o->names = argv + optind;
	o->nnames = argc - optind;
	if (o->type_arg && stp_dns_type_parse(o->type_arg, &o->type) < 0)
		stp_die_usage(prog, "-t: unknown record type '%s'", o->type_arg);
	if (o->reverse && o->type_arg)
		stp_die_usage(prog, "-r and -t do not go together (use -t PTR ADDR)");
	if (o->listen && (o->reverse || o->type_arg || o->nnames))
		stp_die_usage(prog, "--listen takes no NAME, -r or -t");
	if (stp_clientopts_finish(&o->co, NULL, &e) < 0)
		stp_die(prog, &e);
}

/* One answer line: text, or a JSON object (ttl < 0: null). */
static void print_answer(const struct resolve_opts *o, const char *name, const char *type,
			 long long ttl, const char *cls, const char *data)
{
	if (o->co.json) {
		json_t *j = json_pack("{s:s, s:s, s:o, s:s}", "name", name, "type", type,
				      "ttl", ttl < 0 ? json_null() : json_integer(ttl),
				      "data", data);
		char *txt = j ? json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
		if (txt)
			printf("%s\n", txt);
		free(txt);
		json_decref(j);
	} else if (cls) {
		printf("%s %lld %s %s %s\n", name, ttl, cls, type, data);
	} else {
		printf("%s %s\n", name, data);
	}
	fflush(stdout);
}

/* A failure that concerns this name only: the proxy answered. */
static bool name_failure(const struct stp_err *e)
{
	return e->code >= STP_EXIT_REPLY;
}

/* The status of a name the proxy answered with a refusal: 1 when the name
 * did not resolve (no such name, no answer in time, a general failure, as
 * Tor gives), else the refusal's own status of SPEC 2.3 (12: the rules). */
static int name_status(const struct stp_err *e)
{
	switch (e->code - STP_EXIT_REPLY) {
	case STP_REP_FAIL:
	case STP_REP_HOST_UNREACH:
	case STP_REP_TTL:
		return 1;
	default:
		return e->code;
	}
}

/* The run's status after one more name's r: a refusal's status outranks
 * 1 (a name that did not resolve), and the first refusal's stays. */
static int combine(int status, int r)
{
	return status > 1 || r == 0 ? status : r;
}

/* Returns 0, or the name's status (message printed: name_status); exits
 * when the proxy itself failed. */
static int do_resolve(const struct resolve_opts *o, const char *name, uint16_t want)
{
	struct stp_err e;
	struct stp_addr a;
	char host[STP_ADDRSTRLEN], fq[STP_DNS_NAMESTR + 1];  /* name and the root's dot */

	if (stp_resolve_name(&o->co.client, name, &a, &e) < 0) {
		if (!name_failure(&e))
			stp_die(prog, &e);
		stp_warn_err(prog, &e);
		return name_status(&e);
	}
	stp_addr_host(&a, host, sizeof(host));
	const char *type = a.atyp == STP_ATYP_IPV4 ? "A" : "AAAA";
	if (want && want != (a.atyp == STP_ATYP_IPV4 ? STP_DNS_T_A : STP_DNS_T_AAAA)) {
		stp_warn(prog, "%s: no %s record through RESOLVE (it gave %s)", name,
			 want == STP_DNS_T_A ? "A" : "AAAA", host);
		return 1;
	}
	if (!want) {
		print_answer(o, name, type, -1, NULL, host);
		return 0;
	}
	/* -t A / AAAA through RESOLVE: dig's shape, without a TTL */
	snprintf(fq, sizeof(fq), "%s%s", name, name[0] && name[strlen(name) - 1] == '.' ? "" : ".");
	if (o->co.json)
		print_answer(o, fq, type, -1, "IN", host);
	else
		printf("%s - IN %s %s\n", fq, type, host), fflush(stdout);
	return 0;
}

static int do_reverse(const struct resolve_opts *o, const char *addr)
{
	struct stp_err e;
	char name[256];

	if (stp_resolve_ptr(&o->co.client, addr, name, sizeof(name), &e) < 0) {
		if (!name_failure(&e))
			stp_die(prog, &e);
		stp_warn_err(prog, &e);
		return name_status(&e);
	}
	print_answer(o, addr, "PTR", -1, NULL, name);
	return 0;
}

static void print_record(void *arg, const struct stp_dns_answer *a)
{
	print_answer(arg, a->owner, a->type, a->rr.ttl, a->cls, a->data);
}

/* One -t query on the channel. Returns 0 or 1 as do_resolve(). */
static int do_query(const struct resolve_opts *o, struct stp_dnschan *ch, const char *name)
{
	static uint8_t ans[STP_DNS_MAX];
	static char data[4 * STP_DNS_MAX + 64];
	uint8_t q[512];
	char tb[16];
	struct stp_err e;
	size_t qlen;
	int rcode, matched;

	qlen = stp_dns_query_for(q, sizeof(q), (uint16_t)(random() & 0xFFFF), name, o->type);
	if (qlen == 0) {
		stp_warn(prog, "%s: not a valid DNS name", name);
		return 1;
	}
	ssize_t alen = stp_dnschan_ask(ch, q, qlen, ans, sizeof(ans), &e);
	if (alen < 0)
		stp_die(prog, &e);
	matched = stp_dns_answers(ans, (size_t)alen, o->type, data, sizeof(data), &rcode,
				  print_record, (void *)o);
	if (matched < 0) {
		stp_warn(prog, "%s: malformed answer from the proxy's resolver", name);
		return 1;
	}
	if (rcode != STP_DNS_NOERROR) {
		stp_warn(prog, "%s: %s (%s)", name, stp_dns_rcode_text(rcode), stp_dns_rcode_str(rcode));
		return 1;
	}
	if (!matched) {
		stp_warn(prog, "%s: no %s record", name, stp_dns_type_str(o->type, tb, sizeof(tb)));
		return 1;
	}
	return 0;
}

/* Calls fn for each NAME, or each non-empty line of stdin. Returns the
 * run's status (combine). */
static int each_name(struct resolve_opts *o, int (*fn)(struct resolve_opts *, const char *, void *),
		     void *arg)
{
	int status = 0;

	if (o->nnames) {
		for (int k = 0; k < o->nnames; k++)
			status = combine(status, fn(o, o->names[k], arg));
		return status;
	}
	char line[1024];
	while (fgets(line, sizeof(line), stdin)) {
		char *s = line, *end;
		if (!strchr(line, '\n') && !feof(stdin)) {
			int ch;
			while ((ch = getchar()) != EOF && ch != '\n')
				;
			stp_warn(prog, "a line of stdin is longer than %zu bytes", sizeof(line) - 2);
			status = combine(status, 1);
			continue;
		}
		while (*s == ' ' || *s == '\t')
			s++;
		end = s + strcspn(s, " \t\r\n");
		*end = '\0';
		if (*s && *s != '#')
			status = combine(status, fn(o, s, arg));
	}
	return status;
}

static int fn_resolve(struct resolve_opts *o, const char *n, void *arg)
{
	(void)arg;
	return do_resolve(o, n, 0);
}

static int fn_reverse(struct resolve_opts *o, const char *n, void *arg)
{
	(void)arg;
	return do_reverse(o, n);
}

static int fn_query(struct resolve_opts *o, const char *n, void *arg)
{
	return do_query(o, arg, n);
}

static int fn_fallback(struct resolve_opts *o, const char *n, void *arg)
{
	(void)arg;
	return do_resolve(o, n, o->type);
}

static void ready(void *arg, const struct sockaddr *sa)
{
	const struct resolve_opts *o = arg;

	stp_cli_event_sa(&o->co, "listening", sa);
}

static int run_listen(struct resolve_opts *o)
{
	char host[256];
	uint16_t port;
	struct stp_err e;

	if (stp_local_spec("--listen", o->listen, host, sizeof(host), &port, &e) < 0)
		stp_die(prog, &e);
	if (stp_dnsstub_run(&o->co.client, host, port, &o->co.log, ready, o, &e) < 0)
		stp_die(prog, &e);
	return 0;
}

int main(int argc, char **argv)
{
	struct resolve_opts o;
	static struct stp_dnschan ch;
	struct stp_err e;
	int status;

	parse_args(argc, argv, &o);
	srandom((unsigned)getpid() ^ (unsigned)stp_clock_ms());
	if (o.listen)
		return run_listen(&o);
	if (o.reverse) {
		status = each_name(&o, fn_reverse, NULL);
	} else if (!o.type_arg) {
		status = each_name(&o, fn_resolve, NULL);
	} else if (stp_dnschan_open(&o.co.client, &ch, &e) == 0) {
		status = each_name(&o, fn_query, &ch);
		stp_dnschan_close(&ch);
	} else if (e.code == STP_EXIT_UNSUPPORTED &&
		   (o.type == STP_DNS_T_A || o.type == STP_DNS_T_AAAA)) {
		stp_log(&o.co.log, STP_LOG_INFO, "%s; -t %s falls back to RESOLVE (no TTLs)",
			e.msg, o.type == STP_DNS_T_A ? "A" : "AAAA");
		status = each_name(&o, fn_fallback, NULL);
	} else {
		stp_die(prog, &e);
	}
	stp_clientopts_wipe(&o.co);
	return status;
}
