/* fuzz-config.c - libFuzzer target for stp-serve's configuration file
 * (config.h): the input is the file. A configuration that builds is
 * released again; a refusal must be a one-line usage error. */
#include <stdint.h>
#include <string.h>
#include "fuzz.h"
#include "server/config.h"
#include "server/server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64];
	struct stp_server_cfg cfg;
	struct stp_err e = { 0, "" };
	int fd = fuzz_file(data, size, path, sizeof(path));

	if (fd < 0)
		return 0;
	memset(&cfg, 0, sizeof(cfg));
	if (stp_cfg_build(&cfg, path, NULL, &e) < 0) {
		FUZZ_ASSERT(e.code != 0 && e.msg[0] && !strchr(e.msg, '\n'));
	} else {
		FUZZ_ASSERT(cfg.nlisten >= 0);
		stp_cfg_release(&cfg);
	}
	close(fd);
	return 0;
}
