/* config.h - stp-serve's configuration: defaults, then a JSON file
 * (-c FILE, jansson), then the command line, into one struct
 * stp_server_cfg. Each configuration key is named like the long option it
 * stands for, and both go through the same setter, so a value means the
 * same wherever it is given. Repeatable options (listen, resolver, rules)
 * are arrays in the file; given on the command line, they replace the
 * file's list instead of adding to it.
 *
 * The server keeps the file name and the command line to build a fresh
 * configuration on SIGHUP (stp_cfg_build again); a file that does not parse
 * or has an unknown key or a value of the wrong type is refused with its
 * line and column (syntax) or the key's path and position. */
#ifndef STP_CONFIG_H
#define STP_CONFIG_H

#include <stdbool.h>
#include "proto/err.h"
#include "server/server.h"

/* The command line's configuration options, in order, as (key, value)
 * pairs; values are copies (argv may be scrubbed afterwards). A flag's
 * value is "". */
struct stp_cfg_arg {
	const char *key;   /* the long option name (static) */
	char *val;
};
struct stp_cfg_args {
	struct stp_cfg_arg *v;
	size_t n, cap;
};

/* True if the long option name is a configuration key (then main hands it
 * to stp_cfg_args_add instead of handling it itself). */
bool stp_cfg_is_key(const char *name);
/* Appends (key, a copy of val); checks the value at once, so that a bad
 * option is a usage error before anything starts. Returns 0, or -1 with e
 * (code 2, naming "--key"). */
int stp_cfg_args_add(struct stp_cfg_args *a, const char *key, const char *val,
		     struct stp_err *e);
void stp_cfg_args_free(struct stp_cfg_args *a);

/* Fills *cfg from the defaults, the file (NULL: none) and args (may be
 * NULL), and remembers file and args in it for a reload. cfg->log.f and
 * .prog are left NULL for the caller. On failure cfg holds nothing to
 * free. Returns 0, or -1 with e filled (code 2; a file error starts with
 * "FILE:LINE:COL: " where the position is known, else "FILE: KEY: "). */
int stp_cfg_build(struct stp_server_cfg *cfg, const char *file,
		  const struct stp_cfg_args *args, struct stp_err *e);
/* Frees what a built cfg owns (strings, rules); cfg->mem becomes NULL. */
void stp_cfg_release(struct stp_server_cfg *cfg);

#endif
