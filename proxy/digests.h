/*
 * digests.h - per-digest statement statistics, a hook on the session layer
 * (hooks.h): every statement of every COM_QUERY (each statement of a
 * multi-statement query, as its own result ends it) and every
 * COM_STMT_EXECUTE (under its prepared text's digest, so the same
 * statement sent as text or prepared is one digest) is accounted under its
 * digest (sqltext.h sql_digest): count, errors by code, latency (total,
 * mean, p95, max), rows sent and affected, lock waits. SHOW QUERY DIGESTS
 * on the admin port reads them.
 *
 * Latency is measured on CLOCK_MONOTONIC from the moment the command
 * leaves for the server (the last hook's before_command: register this
 * module after every other hook, so a command a throttle or the journal
 * held is timed from its release) to the result end that closes the
 * statement; the next statement of a multi-statement query is timed from
 * that end. Statements acctgate pipelines ahead of the command
 * (session_inject: SET timestamp) are inside the first one's time.
 *
 * Threads: one digest_table per worker, touched only on its worker's
 * thread, so the hot path takes no lock at all. The admin port reads
 * rarely: it asks each worker (worker_call) for a copy taken on that
 * worker's thread and merges the copies on the main thread (histograms
 * merge exactly). The cap therefore holds per worker: at most
 * workers * [digests] max entries in all.
 */
#ifndef ACCTGATE_DIGESTS_H
#define ACCTGATE_DIGESTS_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "digest_table.h"

struct gate;
struct digests;

/* A table per worker (cfg->threads) of at most cfg->digests_max digests,
 * and the hooks registered on g (before the workers start). NULL with err
 * filled when out of memory or the hook table is full. */
struct digests *digests_new(struct gate *g, const struct config *cfg, char *err, size_t err_len);
/* After the workers stopped. NULL is fine. */
void digests_free(struct digests *d);

/* On worker `worker`'s thread only: a copy of its table into out (made
 * here; free it with digest_table_free); false when out of memory. */
bool digests_copy(struct digests *d, int worker, struct digest_table *out) __attribute__((warn_unused_result));
/* On worker `worker`'s thread only: whether the digest `hash` (sql_digest's)
 * ran at least min_count times there with a p95 latency of at least
 * p95_usec (the throttle's promotion of slow digests). */
bool digests_slow(struct digests *d, int worker, uint64_t hash, uint64_t p95_usec, uint64_t min_count);
/* On worker `worker`'s thread only: forget its digests. */
void digests_reset(struct digests *d, int worker);

#endif
