/* wrapexec.h - starting the program of stp-connect --wrap: finding it,
 * refusing what a preload library cannot wrap, and the environment that
 * carries the library and the agent (wrapagent.h) into it. */
#ifndef STP_WRAPEXEC_H
#define STP_WRAPEXEC_H

#include <stddef.h>
#include "client/wrapagent.h"
#include "proto/err.h"

#define STP_WRAP_LIB_NAME "libstp-wrap.so"

/* The file execvp(3) would run for cmd, into path. Returns 0, or -1 with
 * e (code 127 as a shell's "not found", 126 for a file that cannot run). */
int stp_wrap_find(const char *cmd, char *path, size_t cap, struct stp_err *e);

/* Whether the preload library can reach the program at path: it must be
 * dynamically linked (an ELF file with a PT_INTERP entry, or a #! script)
 * and not setuid or setgid to another user (the loader then ignores
 * LD_PRELOAD). Returns 0, or -1 with e (code 7) saying why. */
int stp_wrap_check(const char *path, struct stp_err *e);

/* The preload library: next to the program that runs (the build tree's
 * bin/) or in ../lib/stp/ from it (make install). Returns 0, or -1 with e. */
int stp_wrap_lib(char *path, size_t cap, struct stp_err *e);

/* Sets LD_PRELOAD (lib after what was there), STP_WRAP (the agent's
 * address), STP_WRAP_TOKEN and STP_WRAP_TIMEOUT_MS, then execs path with
 * argv. Returns only on failure: -1 with e (126/127 as a shell would). */
int stp_wrap_exec(const char *path, char *const argv[], const char *lib,
		  const struct stp_wrap_agent *a, long timeout_ms, struct stp_err *e);

#endif
