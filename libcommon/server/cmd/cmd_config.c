/* cmd_config.c - CONFIG (X'D8', PROTOCOL.md §3): the reply, then
 * LEN(4) | the client configuration document (SPEC §2.5) of
 * --client-config, then close. Without a document: reply X'C3' (feature
 * disabled by policy), and FEATURES does not list "config".
 *
 * The document is written in pieces through session_send (which knows TLS
 * and keeps at most one reply's worth queued): the next piece goes out once
 * the previous one is on the wire, so a client that does not read holds
 * only its socket buffer, and the handshake timer bounds the whole answer. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client/clientcfg.h"
#include "server/server_priv.h"

#define CONFIG_PIECE 256   /* fits session_send's reply buffer */

struct config_out {
	size_t off;   /* bytes of the document sent */
};

static void config_on_client(struct session *ss, unsigned events);
static void config_on_timer(struct session *ss);
static void config_free(struct session *ss);

static const struct cmd_ops config_ops = {
	.on_client = config_on_client,
	.on_timer = config_on_timer,
	.free = config_free,
};

int stp_server_load_client_config(const char *path, char **doc, size_t *len,
				  struct stp_err *e)
{
	struct stp_clientcfg *c = malloc(sizeof(*c));
	char *text;

	if (!c)
		return stp_err_set(e, STP_EXIT_FAIL, "--client-config: out of memory");
	text = stp_clientcfg_read_file(path, len, e);
	if (!text) {
		free(c);
		return stp_err_prefix(e, "--client-config");
	}
	/* the same checks a client makes: a bad document is refused here */
	if (stp_clientcfg_parse(c, text, *len, e) < 0) {
		free(c);
		free(text);
		return stp_err_prefix(e, "--client-config %s", path);
	}
	free(c);
	*doc = text;
	return 0;
}

/* Sends the next pieces while the socket takes them; ends the session once
 * everything is out. */
static void config_pump(struct session *ss)
{
	struct config_out *co = ss->cst;
	const struct stp_server_cfg *cfg = &ss->srv->cfg;

	while (ss->outlen == 0) {
		size_t n = cfg->client_config_len - co->off;
		if (n == 0) {
			ss->result = "ok";
			session_free(ss);
			return;
		}
		if (n > CONFIG_PIECE)
			n = CONFIG_PIECE;
		int r = session_send(ss, (const uint8_t *)cfg->client_config + co->off, n);
		if (r < 0) {
			ss->result = "client gone during the configuration";
			session_free(ss);
			return;
		}
		co->off += n;
		ss->bytes_down += n;
		if (r == 1)
			return;  /* the session sets write interest; on_client comes back */
	}
}

static void config_on_client(struct session *ss, unsigned events)
{
	uint8_t junk[512];

	if (events & STP_EV_READ) {
		/* the client has nothing more to say: read and drop it, or see it go */
		ssize_t n = session_recv(ss, junk, sizeof(junk));
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			ss->result = "client gone during the configuration";
			session_free(ss);
			return;
		}
	} else if ((events & STP_EV_ERROR) && ss->outlen) {
		ss->result = "client gone during the configuration";
		session_free(ss);
		return;
	}
	config_pump(ss);
}

static void config_on_timer(struct session *ss)
{
	ss->result = "configuration not taken in time";
	session_free(ss);
}

static void config_free(struct session *ss)
{
	free(ss->cst);
	ss->cst = NULL;
}

void cmd_config(struct session *ss)
{
	struct stp_server *s = ss->srv;
	const struct stp_server_cfg *cfg = &s->cfg;
	struct config_out *co;
	uint8_t b[64];
	size_t n;

	if (!cfg->client_config) {
		session_reply_error(ss, STP_REP_POLICY);
		return;
	}
	co = calloc(1, sizeof(*co));
	if (!co) {
		session_reply_error(ss, STP_REP_FAIL);
		return;
	}
	n = stp5_reply_put(b, sizeof(b), STP_CMD_CONFIG, STP_REP_OK, NULL, NULL);
	if (n == 0 || n + 4 > sizeof(b)) {
		free(co);
		session_reply_error(ss, STP_REP_FAIL);
		return;
	}
	uint32_t len = (uint32_t)cfg->client_config_len;
	b[n++] = (uint8_t)(len >> 24);
	b[n++] = (uint8_t)(len >> 16);
	b[n++] = (uint8_t)(len >> 8);
	b[n++] = (uint8_t)len;
	ss->cst = co;
	ss->ops = &config_ops;
	ss->state = S_CMD;
	ss->rep = STP_REP_OK;
	ss->result = "ok";
	/* the whole answer within one handshake timeout */
	stp_timer_start(s->loop, &ss->timer, (uint64_t)cfg->handshake_timeout_ms);
	if (session_send(ss, b, n) < 0) {
		ss->result = "client gone before reply";
		session_free(ss);
		return;
	}
	config_pump(ss);
}
