/* statsboard.h - what the status page shows of live sessions, gathered
 * over every worker.
 *
 * With --workers N the workers are processes (workers.h), and only worker
 * 0 serves --stats. Each worker therefore writes a "board" into its own
 * part of the shared mapping made before fork (stats.c): its live sessions
 * counted by command and by listener, the bytes they have relayed so far,
 * its newest BOARD_SESS sessions, its busiest BOARD_TOP users and targets,
 * and its last refusals. The board is rewritten once a second from a timer
 * and a refusal is added as it happens; nothing is written per byte or per
 * relay event, so the relay's hot path is untouched. One writer per board
 * (its worker), readers in worker 0: a sequence counter (odd while a
 * write is under way) lets the reader take a consistent copy without a
 * lock, trying a bounded number of times.
 *
 * With one worker the same structures are filled straight from the
 * process's own sessions when the page asks, so the page has one code
 * path.
 *
 * Memory: sizeof(struct stats_board) per worker, 89,728 bytes on x86-64
 * (100 sessions of 528 bytes, 64 tops of 296, 32 refusals of 552),
 * whatever the load. */
#ifndef STP_STATSBOARD_H
#define STP_STATSBOARD_H

#include <stddef.h>
#include <stdint.h>
#include "server/stats.h"
#include "server/statsring.h"

#define BOARD_SESS 100     /* newest live sessions each worker lists */
#define BOARD_TOP 32       /* busiest users and targets each worker keeps */

struct board_sess {
	uint64_t id, start_ms;         /* start: CLOCK_MONOTONIC ms (system-wide) */
	uint64_t up, down;
	int32_t worker, listener;      /* listener: index, -1 none (inetd) */
	char user[128];
	char client[64];
	char command[16];
	char target[272];              /* "" before the request */
	uint8_t active;                /* relaying (or a command running) */
};

struct board_top {
	char key[272];                 /* user name, or target */
	uint64_t sessions, up, down;
};

struct stats_board {
	uint64_t seq;                  /* odd: being written */
	uint64_t t_ms;                 /* CLOCK_MONOTONIC ms of the last write */
	uint64_t open, live_up, live_down;
	uint64_t open_by_cmd[STATS_NCMDS];
	uint64_t open_by_listener[STATS_NLISTEN];
	uint32_t nsess, nusers, ntargets, nref;
	struct board_sess sess[BOARD_SESS];       /* newest first */
	struct board_top users[BOARD_TOP], targets[BOARD_TOP];  /* busiest first */
	uint32_t rhead;                           /* next refusal slot */
	struct stats_refusal ref[STATS_REFUSALS]; /* nref of them */
};

struct stp_server;
struct session;

/* Fills b (caller-owned) from s's own live sessions; loop time now_ms.
 * Keeps b's refusals. */
void board_fill(struct stp_server *s, struct stats_board *b);
/* --workers: rewrites this worker's board in the shared mapping (from the
 * publish timer). */
void board_publish(struct stp_server *s);
/* --workers: adds an ended session's refusal to this worker's board. */
void board_refusal(struct stp_server *s, const struct stats_refusal *r);
/* Copies worker k's board into out. Returns 0, or -1 when no consistent
 * copy could be had (a writer died mid-write, or kept writing). */
int board_read(struct stp_server *s, int k, struct stats_board *out);
/* A restarted worker: makes its board's counter even again. */
void board_reset(struct stp_server *s);

/* The page's view of every worker: boards merged. */
struct board_all {
	uint64_t open, live_up, live_down;
	uint64_t open_by_cmd[STATS_NCMDS];
	uint64_t open_by_listener[STATS_NLISTEN];
	size_t nsess;                  /* newest first */
	struct board_sess *sess;       /* malloc'd; up to BOARD_SESS per worker */
	int nusers, ntargets;
	struct board_top users[BOARD_TOP], targets[BOARD_TOP];
	int nref;                      /* newest first */
	struct stats_refusal ref[STATS_REFUSALS];
	int stale;                     /* workers whose board could not be read */
};

/* Gathers every worker's board (with one worker: s's own sessions, and
 * the refusals of ring r). Returns 0, or -1 when memory is short. Free
 * with board_all_free. */
int board_all(struct stp_server *s, const struct stats_ring *r, struct board_all *a);
void board_all_free(struct board_all *a);

#endif
