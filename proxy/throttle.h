/*
 * throttle.h - contention control's admission, in two classes: heavy
 * transactions (whose first command has a statement matching a [throttle]
 * heavy pattern: Slurm's association and nested-set changes on the shared
 * tables, which deadlock against each other across clusters) take one of
 * heavy_limit slots, bulk ones (rollups, purges: the server's load at the
 * top of the hour) one of bulk_limit; the slots are shared by every session
 * and every cluster of this acctgate; the others wait (admission.h: FIFO
 * per cluster, round robin between clusters), at most queue_timeout, then
 * get a clear ERR.
 *
 * Deadlock freedom (README "Contention control"): a session is queued
 * only while it holds no row lock: before its transaction's first command,
 * or after only BEGIN, SET, USE, SHOW and plain (consistent) reads; so no
 * session holding locks ever waits behind one waiting for them. A heavy
 * statement later in a transaction that took no slot goes through at once
 * (counted as unadmitted). A slot is given back when the
 * transaction ends, when the session ends, and when its client leaves it
 * idle in the transaction for idle_release (an interactive sacctmgr
 * waiting for "commit changes?"), so an idle client cannot stall the
 * other clusters' heavy work; its own locks stay InnoDB's business.
 *
 * Register it before the journal's recorder: a command waits here before
 * the recorder fixes its timestamp or writes its PREPARE.
 */
#ifndef ACCTGATE_THROTTLE_H
#define ACCTGATE_THROTTLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "admission.h"
#include "config.h"

struct gate;
struct throttle;

/* The throttle of cfg's [throttle], its hooks registered on g (before the
 * workers start). NULL with err filled on failure. */
struct throttle *throttle_new(struct gate *g, const struct config *cfg, char *err, size_t err_len);
void throttle_free(struct throttle *t);

/* heavy (class 0: association changes, which deadlock across clusters)
 * before bulk (class 1: rollups and purges, which load the server). */
#define THROTTLE_CLASSES 2

struct throttle_class_stats {
	const char *name;
	struct admission_stats adm;
};

struct throttle_counters {
	uint64_t unadmitted;    /* throttled statements inside a transaction that had no slot */
	uint64_t idle_releases; /* slots taken back from clients idle in their transaction */
	uint64_t timeouts;      /* waits that ended in the queue-timeout ERR */
	uint64_t promoted;      /* statements made bulk by their digest's p95 (promote_p95_ms) */
	const char *coordination; /* "on", "lost" (limits per acctgate until it is back) or "off" */
};

/* Any thread: class c's figures and up to cap of its clusters' (*ncl of
 * them); false past the last class. */
bool throttle_class_stats(struct throttle *t, int c, struct throttle_class_stats *out,
			  struct admission_cluster_stats *cl, size_t cap, size_t *ncl);
void throttle_counters(struct throttle *t, struct throttle_counters *out);

#endif
