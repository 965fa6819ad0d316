/* rules.c - parsing and first-match evaluation of access rules. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/policy/rules.h"
#include "proto/addr.h"
#include "proto/cidr.h"
#include "proto/socks.h"

#define MAX_PORT_RANGES 64

enum to_kind { TO_ANY, TO_CIDR, TO_SUFFIX, TO_NAME };

struct rule {
	bool allow;
	bool has_from;
	struct stp_cidr from;
	char *user;          /* NULL: any (also none) */
	unsigned cmds;       /* 0: any */
	enum to_kind to;
	struct stp_cidr to_net;
	char *to_name;       /* TO_SUFFIX: the domain without "*."; TO_NAME: the name */
	int nports;          /* 0: any */
	uint16_t lo[MAX_PORT_RANGES], hi[MAX_PORT_RANGES];
	struct sockaddr_storage egress;  /* "egress": the source address; family 0: none */
	char *text;          /* compact JSON of the rule */
};

struct stp_rules {
	size_t n;
	struct rule *v;
};

static const char *const cmd_names[] = {
	"connect", "bind", "udp", "mcast", "resolve", "dns", "mux",
};

const char *stp_rule_cmd_name(unsigned rc)
{
	for (unsigned i = 0; i < sizeof(cmd_names) / sizeof(cmd_names[0]); i++)
		if (rc == 1u << i)
			return cmd_names[i];
	return "-";
}

unsigned stp_rule_cmd_of(uint8_t ver, uint8_t cmd)
{
	if (ver == 4)
		return cmd == STP4_CONNECT ? STP_RC_CONNECT : cmd == STP4_BIND ? STP_RC_BIND : 0;
	switch (cmd) {
	case STP_CMD_CONNECT: return STP_RC_CONNECT;
	case STP_CMD_BIND:
	case STP_CMD_BIND_MULTI: return STP_RC_BIND;
	case STP_CMD_UDP:
	case STP_CMD_UDP_BIND:
	case STP_CMD_UDP_TCP: return STP_RC_UDP;
	case STP_CMD_MCAST: return STP_RC_MCAST;
	case STP_CMD_RESOLVE:
	case STP_CMD_RESOLVE_PTR: return STP_RC_RESOLVE;
	case STP_CMD_DNS: return STP_RC_DNS;
	case STP_CMD_MUX: return STP_RC_MUX;
	}
	return 0;
}

/* name (a trailing dot ignored) equals dom, or ends in ".dom"; no case. */
static bool name_in(const char *name, const char *dom, bool below_too)
{
	size_t nl = strlen(name), dl = strlen(dom);

	if (nl && name[nl - 1] == '.')
		nl--;
	if (nl == dl && strncasecmp(name, dom, dl) == 0)
		return true;
	return below_too && nl > dl && name[nl - dl - 1] == '.' &&
	       strncasecmp(name + nl - dl, dom, dl) == 0;
}

static bool ports_has(const struct rule *r, uint16_t port)
{
	if (r->nports == 0)
		return true;
	for (int i = 0; i < r->nports; i++)
		if (port >= r->lo[i] && port <= r->hi[i])
			return true;
	return false;
}

/* A rule's user want against the session's user have: equal, or, for a
 * GSS-API principal, want without a realm equals have's part before its
 * realm ('@' last: a principal's own name may hold an escaped '@'). */
static bool user_matches(const char *want, const char *have, bool principal)
{
	const char *at;

	if (strcmp(want, have) == 0)
		return true;
	if (!principal || strchr(want, '@') || !(at = strrchr(have, '@')))
		return false;
	return strlen(want) == (size_t)(at - have) && strncmp(want, have, (size_t)(at - have)) == 0;
}

/* t is q's target address as judged (see stp_rules_allow), or NULL. */
static bool rule_matches(const struct rule *r, const struct stp_rule_req *q,
			 const struct sockaddr *t)
{
	if (r->has_from && (!q->client || !stp_cidr_has(&r->from, q->client)))
		return false;
	if (r->user && (!q->user || !user_matches(r->user, q->user, q->principal)))
		return false;
	if (r->cmds && !(r->cmds & q->cmd))
		return false;
	if (q->any_target && (r->to != TO_ANY || r->nports))
		return r->allow;
	switch (r->to) {
	case TO_ANY:
		break;
	case TO_CIDR:
		/* a deny rule that names the unspecified address still denies it */
		if (!t || (!stp_cidr_has(&r->to_net, t) &&
			   (r->allow || !stp_cidr_has(&r->to_net, q->addr))))
			return false;
		break;
	case TO_SUFFIX:
	case TO_NAME:
		if (!q->name || !name_in(q->name, r->to_name, r->to == TO_SUFFIX))
			return false;
		break;
	}
	return ports_has(r, q->port);
}

/* The first rule that matches q: its index, or -1 when none does. A rule
 * with "to" CIDR does not match a request whose address is not known (a
 * name before resolution); a domain rule does not match an address
 * without a name; a rule with "user" does not match without one. */
static int rules_match(const struct stp_rules *r, const struct stp_rule_req *q,
		       const struct sockaddr *t)
{
	if (!r)
		return -1;
	for (size_t i = 0; i < r->n; i++)
		if (rule_matches(&r->v[i], q, t))
			return (int)i;
	return -1;
}

/* Rules judge the address the kernel will use (stp_sa_target) where this
 * server connects or sends: CONNECT's and UDP's targets. Other commands'
 * DST is no such address (BIND's is the peer expected to call in, zeros
 * meaning any; MUX's is zeros), and is judged as given. */
bool stp_rules_allow(const struct stp_rules *r, const struct stp_rule_req *q, int *idx)
{
	struct sockaddr_storage canon;
	const struct sockaddr *t = q->addr;
	int i;

	if (t && (q->cmd == STP_RC_CONNECT || q->cmd == STP_RC_UDP) && stp_sa_target(t, &canon))
		t = (const struct sockaddr *)&canon;
	i = rules_match(r, q, t);

	if (idx)
		*idx = i;
	if (!r || r->n == 0)
		return true;
	return i >= 0 && r->v[i].allow;
}

/* The networks of the proxy's own host and link-local ones (cloud
 * metadata lives at 169.254.169.254), as "ADDR/BITS". */
static const char *const protected_nets[] = {
	"127.0.0.0/8", "169.254.0.0/16", "::1/128", "fe80::/10",
};

/* Is network c inside one of protected_nets? */
static bool cidr_protected(const struct stp_cidr *c)
{
	for (size_t i = 0; i < sizeof(protected_nets) / sizeof(protected_nets[0]); i++) {
		struct stp_cidr p;
		if (stp_cidr_parse(protected_nets[i], &p) == 0 && stp_cidr_covers(&p, c))
			return true;
	}
	return false;
}

bool stp_rules_protected(const struct sockaddr *target)
{
	struct sockaddr_storage canon;
	struct stp_cidr c;

	if (!stp_sa_target(target, &canon))
		return false;
	memset(&c, 0, sizeof(c));
	c.family = canon.ss_family;
	c.bits = c.family == AF_INET ? 32 : 128;
	if (c.family == AF_INET)
		memcpy(c.a, &((struct sockaddr_in *)&canon)->sin_addr, 4);
	else
		memcpy(c.a, &((struct sockaddr_in6 *)&canon)->sin6_addr, 16);
	return cidr_protected(&c);
}

bool stp_rules_unlocks(const struct stp_rules *r, int idx)
{
	if (!r || idx < 0 || (size_t)idx >= r->n)
		return false;
	const struct rule *u = &r->v[idx];
	return u->allow && u->to == TO_CIDR && cidr_protected(&u->to_net);
}

bool stp_rules_egress(const struct stp_rules *r, int idx, int fam, struct sockaddr_storage *out)
{
	if (!r || idx < 0 || (size_t)idx >= r->n || r->v[idx].egress.ss_family != fam ||
	    (fam != AF_INET && fam != AF_INET6))
		return false;
	*out = r->v[idx].egress;
	return true;
}

bool stp_rules_names_target(const struct stp_rules *r, int idx)
{
	return r && idx >= 0 && (size_t)idx < r->n && (r->v[idx].to != TO_ANY || r->v[idx].nports);
}

/* "egress": an IPv4 or IPv6 literal, not the unspecified address (a
 * v4-mapped one is IPv4). Returns 0 or -1. */
static int egress_parse(const char *s, struct sockaddr_storage *out)
{
	struct stp_cidr c;
	static const uint8_t zero[16], mapped[12] = { [10] = 0xff, [11] = 0xff };

	if (strchr(s, '/') || stp_cidr_parse(s, &c) < 0 ||
	    memcmp(c.a, zero, c.family == AF_INET ? 4 : 16) == 0)
		return -1;
	memset(out, 0, sizeof(*out));
	if (c.family == AF_INET6 && memcmp(c.a, mapped, 12) == 0) {
		memmove(c.a, c.a + 12, 4);
		c.family = AF_INET;
	}
	out->ss_family = (sa_family_t)c.family;
	if (c.family == AF_INET)
		memcpy(&((struct sockaddr_in *)out)->sin_addr, c.a, 4);
	else
		memcpy(&((struct sockaddr_in6 *)out)->sin6_addr, c.a, 16);
	return 0;
}

size_t stp_rules_count(const struct stp_rules *r)
{
	return r ? r->n : 0;
}

const char *stp_rules_text(const struct stp_rules *r, size_t i)
{
	return r && i < r->n ? r->v[i].text : "";
}

static void rule_clear(struct rule *r)
{
	free(r->user);
	free(r->to_name);
	free(r->text);
}

void stp_rules_free(struct stp_rules *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++)
		rule_clear(&r->v[i]);
	free(r->v);
	free(r);
}

/* "80,443,1024-65535". Returns 0 or -1. */
static int ports_parse(const char *s, struct rule *r)
{
	const char *p = s;

	if (!*p)
		return -1;
	while (*p) {
		char *end;
		long lo, hi;
		if (*p < '0' || *p > '9' || r->nports == MAX_PORT_RANGES)
			return -1;
		lo = strtol(p, &end, 10);
		hi = lo;
		if (*end == '-') {
			p = end + 1;
			if (*p < '0' || *p > '9')
				return -1;
			hi = strtol(p, &end, 10);
		}
		if (lo < 0 || hi > 65535 || lo > hi)
			return -1;
		r->lo[r->nports] = (uint16_t)lo;
		r->hi[r->nports] = (uint16_t)hi;
		r->nports++;
		if (*end == ',' && end[1])
			end++;
		else if (*end)
			return -1;
		p = end;
	}
	return 0;
}

/* "connect" or "connect,bind". Returns the mask, or 0 if a word is unknown. */
static unsigned cmds_parse(const char *s)
{
	unsigned m = 0;

	while (*s) {
		size_t n = strcspn(s, ",");
		unsigned bit = 0;
		for (unsigned i = 0; i < sizeof(cmd_names) / sizeof(cmd_names[0]); i++)
			if (strlen(cmd_names[i]) == n && strncmp(cmd_names[i], s, n) == 0)
				bit = 1u << i;
		if (!bit)
			return 0;
		m |= bit;
		s += n;
		if (*s == ',' && s[1])
			s++;
		else if (*s)
			return 0;
	}
	return m;
}

/* A host name pattern: letters, digits, '-', '_', '.'. */
static bool name_ok(const char *s)
{
	if (!*s || strlen(s) > 255)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' || *s == '.'))
			return false;
	return true;
}

/* Fills r from object o (rule number i). Returns 0, or -1 with e filled. */
static int rule_parse(const json_t *o, const char *where, size_t i, struct rule *r,
		      struct stp_err *e)
{
	const char *key;
	json_t *v;
	bool has_action = false;

	if (!json_is_object(o))
		return stp_err_set(e, STP_EXIT_USAGE, "%s[%zu]: a rule is a JSON object", where, i);
	json_object_foreach((json_t *)o, key, v) {
		const char *s = json_string_value(v);
		char num[8];
		if (strcmp(key, "ports") == 0 && json_is_integer(v)) {
			/* a single port may be a number */
			snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
			s = num;
			if (json_integer_value(v) < 0 || json_integer_value(v) > 65535)
				return stp_err_set(e, STP_EXIT_USAGE, "%s[%zu].ports: not a port: %s",
						   where, i, num);
		}
		if (strcmp(key, "action") && strcmp(key, "from") && strcmp(key, "user") &&
		    strcmp(key, "command") && strcmp(key, "to") && strcmp(key, "ports") &&
		    strcmp(key, "egress"))
			return stp_err_set(e, STP_EXIT_USAGE,
					   "%s[%zu]: unknown key '%.40s' (expected action, from, "
					   "user, command, to, ports, egress)", where, i, key);
		if (!s)
			return stp_err_set(e, STP_EXIT_USAGE, "%s[%zu].%s: expected a string",
					   where, i, key);
		if (strcmp(key, "action") == 0) {
			if (strcmp(s, "allow") == 0)
				r->allow = true;
			else if (strcmp(s, "deny") != 0)
				return stp_err_set(e, STP_EXIT_USAGE, "%s[%zu].action: expected "
						   "allow or deny, not '%.40s'", where, i, s);
			has_action = true;
		} else if (strcmp(key, "from") == 0) {
			if (stp_cidr_parse(s, &r->from) < 0)
				return stp_err_set(e, STP_EXIT_USAGE, "%s[%zu].from: not an "
						   "address or CIDR: '%.60s'", where, i, s);
			r->has_from = true;
		} else if (strcmp(key, "user") == 0) {
			if (!*s || strlen(s) > 255)
				return stp_err_set(e, STP_EXIT_USAGE, "%s[%zu].user: 1 to 255 bytes",
						   where, i);
			if (!(r->user = strdup(s)))
				return stp_err_set(e, STP_EXIT_FAIL, "rules: out of memory");
		} else if (strcmp(key, "command") == 0) {
			if (!(r->cmds = cmds_parse(s)))
				return stp_err_set(e, STP_EXIT_USAGE, "%s[%zu].command: expected "
						   "connect, bind, udp, mcast, resolve, dns or mux "
						   "(or several, comma-separated), not '%.40s'", where, i, s);
		} else if (strcmp(key, "to") == 0) {
			if (strcmp(s, "*") == 0) {
				r->to = TO_ANY;
			} else if (stp_cidr_parse(s, &r->to_net) == 0) {
				r->to = TO_CIDR;
			} else {
				bool suffix = strncmp(s, "*.", 2) == 0;
				const char *n = suffix ? s + 2 : s;
				if (!name_ok(n) || strchr(n, '/'))
					return stp_err_set(e, STP_EXIT_USAGE, "%s[%zu].to: expected "
							   "CIDR, *.domain or a name, not '%.60s'",
							   where, i, s);
				r->to = suffix ? TO_SUFFIX : TO_NAME;
				if (!(r->to_name = strdup(n)))
					return stp_err_set(e, STP_EXIT_FAIL, "rules: out of memory");
			}
		} else if (strcmp(key, "egress") == 0) {
			if (egress_parse(s, &r->egress) < 0)
				return stp_err_set(e, STP_EXIT_USAGE, "%s[%zu].egress: expected an "
						   "IPv4 or IPv6 address of this host, not '%.60s'",
						   where, i, s);
		} else if (ports_parse(s, r) < 0) {
			return stp_err_set(e, STP_EXIT_USAGE, "%s[%zu].ports: expected ports and "
					   "ranges such as 80,443,1024-65535, not '%.40s'", where, i, s);
		}
	}
	if (!has_action)
		return stp_err_set(e, STP_EXIT_USAGE, "%s[%zu]: no \"action\" (allow or deny)",
				   where, i);
	/* nothing leaves for a denied request: a source for it is a mistake */
	if (!r->allow && r->egress.ss_family)
		return stp_err_set(e, STP_EXIT_USAGE, "%s[%zu].egress: only an allow rule sends "
				   "anything out", where, i);
	r->text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!r->text)
		return stp_err_set(e, STP_EXIT_FAIL, "rules: out of memory");
	return 0;
}

struct stp_rules *stp_rules_parse(const json_t *j, const char *where, struct stp_err *e)
{
	struct stp_rules *r = calloc(1, sizeof(*r));
	size_t n = json_is_array(j) ? json_array_size(j) : 1;

	if (!r || !(r->v = calloc(n ? n : 1, sizeof(*r->v)))) {
		free(r);
		stp_err_set(e, STP_EXIT_FAIL, "rules: out of memory");
		return NULL;
	}
	if (!json_is_array(j) && !json_is_object(j)) {
		stp_err_set(e, STP_EXIT_USAGE, "%s: expected an array of rules or one rule object",
			    where);
		stp_rules_free(r);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		const json_t *o = json_is_array(j) ? json_array_get(j, i) : j;
		r->n = i + 1;  /* so that a failure frees what rule i holds */
		if (rule_parse(o, where, i, &r->v[i], e) < 0) {
			stp_rules_free(r);
			return NULL;
		}
	}
	r->n = n;
	return r;
}
