/*
 * snapshots.h - the daemon's snapshots, on the main thread.
 *
 * One snapshot job at a time (snapshot_take on a thread of its own, its
 * cut through the recorder), started the same way by the admin port's
 * SNAPSHOT and by [snapshot] schedule. After each snapshot taken,
 * [snapshot] keep deletes those it lets go of; whenever the set of
 * snapshots changes, the journal's floor (journal.h "Retention") follows
 * the oldest snapshot the journal can still roll forward. With a schedule,
 * a snapshot older than twice its period is stale: one log line when that
 * starts and one when it ends, and SHOW STATUS says so. At shutdown a
 * running snapshot is waited for, up to drain_timeout, then cancelled and
 * its directory removed.
 */
#ifndef ACCTGATE_SNAPSHOTS_H
#define ACCTGATE_SNAPSHOTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "config.h"

struct gate;
struct snapshots;
struct snapshot_result;

/*
 * Set up on g->base, after the recorder and before the workers: the
 * journal's floor is set before any session writes, so no rotation can
 * delete what a snapshot needs. Arms the schedule. NULL with err filled
 * when out of memory.
 */
struct snapshots *snapshots_new(struct gate *g, char *err, size_t err_len);

/* Stop the timers and free (after snapshots_stop). NULL is fine. */
void snapshots_free(struct snapshots *s);

/* A job's end, on the main thread: ok with the result, or the error. */
typedef void (*snapshots_done_fn)(void *arg, bool ok, const struct snapshot_result *res, const char *err);

enum snapshots_start {
	SNAPSHOTS_STARTED,
	SNAPSHOTS_UNCONFIGURED, /* why: what is missing ("[snapshot] dir") */
	SNAPSHOTS_BUSY,         /* why: the running snapshot's id */
	SNAPSHOTS_BLOCKED,      /* why: what it must wait for (an in-place restore) */
	SNAPSHOTS_FAILED,       /* why: the thread could not start, or no memory */
};

/* Start a snapshot for `who` ("admin 3", "schedule": for the log); done
 * (may be NULL) hears its end, unless acctgate stops first. */
enum snapshots_start snapshots_start(struct snapshots *s, const char *who, snapshots_done_fn done, void *arg,
				     char *why, size_t why_len);

/* Whether the snapshot being written is `id` (it has no MANIFEST yet, or
 * its end has not reached the main thread). */
bool snapshots_running(const struct snapshots *s, const char *id);
/* The id of the one running, NULL when none. */
const char *snapshots_running_id(const struct snapshots *s);

/* After a reload: the schedule, keep and floor as they are now. */
void snapshots_reconfigure(struct snapshots *s);

/* After a snapshot was dropped: the floor follows. */
void snapshots_changed(struct snapshots *s);

/* SHOW STATUS's snapshot rows. */
struct snapshots_status {
	bool have_newest;
	char newest[256];
	uint64_t newest_usec;
	char schedule[CONFIG_SCHEDULE_NAME_MAX]; /* "off", "every 6h" ... */
	int64_t next;                            /* the next scheduled time (UTC seconds), 0 = none */
	bool stale;                              /* only with a schedule */
	char last_error[320];                    /* the last snapshot's failure, "" if it was taken */
};
void snapshots_status(struct snapshots *s, struct snapshots_status *out);

/*
 * Shutdown, after SIGTERM and before the workers are joined (they drain
 * meanwhile): a running snapshot is waited for until `deadline`
 * (CLOCK_MONOTONIC); past it, it is cancelled and given a few seconds to
 * remove its directory, which is removed here if it did not. The log says
 * which happened. The recorder is not touched by the job afterwards.
 */
void snapshots_stop(struct snapshots *s, const struct timespec *deadline);

#endif
