/*
 * recorder.h - the journal's hook on the session layer: every transaction
 * that commits through acctgate goes into the journal (snapshot/journal.h)
 * as a PREPARE before its commit reaches the server and a COMMIT once the
 * server said OK (snapshot/jtxn.h), with what replaying it needs.
 */
#ifndef ACCTGATE_RECORDER_H
#define ACCTGATE_RECORDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct gate;
struct recorder;

/* Open the journal in cfg->journal_dir (recovering a torn tail, which is
 * logged) and register the hooks on g, before the workers start. NULL with
 * err filled when the journal cannot be opened: acctgate refuses to start
 * rather than run unrecorded. */
struct recorder *recorder_new(struct gate *g, const struct config *cfg, char *err, size_t err_len);

/* After the workers stopped (worker_join) and before they are freed: from
 * here on a journal completion no longer reaches a worker. */
void recorder_stop(struct recorder *r);

/* Write what is queued, close the journal, free. */
void recorder_free(struct recorder *r);

/*
 * A snapshot's cut, as FTWRL would give it without the privilege: from
 * recorder_cut_begin on, commits (and autocommit writes) are held before
 * their PREPARE; it returns once every commit already sent has been
 * answered, or false after timeout_ms with err filled (nothing held then).
 * The caller opens its consistent-snapshot transactions, then
 * recorder_cut_mark appends the CUT record and returns its sequence number
 * (0 with err on a journal error), and recorder_cut_end lets the held
 * commits go. *held_usec: how long commits were held. Any thread.
 */
bool recorder_cut_begin(struct recorder *r, int timeout_ms, char *err, size_t err_len);
uint64_t recorder_cut_mark(struct recorder *r, char *err, size_t err_len);
void recorder_cut_end(struct recorder *r, uint64_t *held_usec);

struct recorder_stats {
	uint64_t commits;     /* transactions journaled */
	uint64_t aborts;      /* PREPAREs resolved as not committed */
	uint64_t flagged;     /* statements flagged as not safely replayable */
	uint64_t in_doubt;    /* commits whose outcome record could not be written */
	uint64_t refused;     /* COMMITs refused because the journal could not record them */
	uint64_t gaps;        /* commits let through unrecorded (on_error = continue) */
	uint64_t unrecorded;  /* prepared-statement executions the journal could not render */
	uint64_t time_fixed;  /* write commands sent after SET timestamp */
	uint64_t time_unfixed; /* write commands that could not read the clock, sent without it */
	uint64_t prepare_waits, prepare_wait_usec; /* commits held for their PREPARE, and how long in all */
	uint64_t commit_waits, commit_wait_usec;   /* OKs held for their COMMIT records, and how long in all */
};
void recorder_get_stats(struct recorder *r, struct recorder_stats *out);

/* The journal's own counters (segments, sequence numbers, fsyncs); true. */
struct journal_stats;
bool recorder_journal_stats(struct recorder *r, struct journal_stats *out);

/* The oldest kept snapshot's cut, for the journal's retention
 * (journal_set_floor). Any thread. */
void recorder_journal_floor(struct recorder *r, uint64_t floor, bool trim);

#endif
