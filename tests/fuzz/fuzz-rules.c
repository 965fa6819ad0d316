/* fuzz-rules.c - libFuzzer target for the access rules (rules.h): the
 * input is a JSON document. Rules that parse are matched against a few
 * requests (each answer names a rule that exists, its "egress" of the
 * family asked) and printed back; a
 * refusal must be a one-line usage error. */
#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include "fuzz.h"
#include "server/policy/rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_in c4 = { .sin_family = AF_INET, .sin_port = htons(5000) };
	struct sockaddr_in6 t6 = { .sin6_family = AF_INET6, .sin6_port = htons(443) };
	struct stp_err e = { 0, "" };
	json_t *j = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
	struct stp_rules *r;

	if (!j)
		return 0;
	r = stp_rules_parse(j, "rules", &e);
	json_decref(j);
	if (!r) {
		FUZZ_ASSERT(e.code == STP_EXIT_USAGE && e.msg[0] && !strchr(e.msg, '\n'));
		return 0;
	}
	inet_pton(AF_INET, "10.1.2.3", &c4.sin_addr);
	inet_pton(AF_INET6, "::ffff:192.0.2.7", &t6.sin6_addr);
	const struct stp_rule_req qs[] = {
		{ .client = (struct sockaddr *)&c4, .user = "alice", .cmd = STP_RC_CONNECT,
		  .name = "www.example.net", .port = 443 },
		{ .client = (struct sockaddr *)&c4, .cmd = STP_RC_BIND,
		  .addr = (struct sockaddr *)&t6, .port = 443 },
		{ .client = (struct sockaddr *)&t6, .user = "", .cmd = STP_RC_UDP,
		  .any_target = true },
	};
	for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
		int idx = -2;
		stp_rules_allow(r, &qs[i], &idx);
		FUZZ_ASSERT(idx >= -1 && (idx < 0 || (size_t)idx < stp_rules_count(r)));
		/* the deciding rule's "egress": an address of the family asked */
		struct sockaddr_storage src;
		FUZZ_ASSERT(!stp_rules_egress(r, idx, AF_INET, &src) || src.ss_family == AF_INET);
		FUZZ_ASSERT(!stp_rules_egress(r, idx, AF_INET6, &src) || src.ss_family == AF_INET6);
		(void)stp_rules_names_target(r, idx);
	}
	for (size_t i = 0; i < stp_rules_count(r); i++)
		FUZZ_ASSERT(stp_rules_text(r, i) != NULL);
	stp_rules_free(r);
	return 0;
}
