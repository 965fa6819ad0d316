/* muxmaster.c - stp-connect --mux-master (see muxmaster.h). */
#include "muxmaster.h"

int stp_mux_master_run(struct stp_clientopts *co, const char *path, struct stp_err *e)
{
	(void)co;
	(void)path;
	return stp_err_set(e, STP_EXIT_UNSUPPORTED, "--mux-master is not built yet");
}
