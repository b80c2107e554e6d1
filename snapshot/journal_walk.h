/*
 * journal_walk.h - the journal as transactions: reads every record in
 * order (journal.h), pairs each PREPARE with the COMMIT or ABORT that
 * resolves it, and hands the committed transactions to the caller in
 * commit order. What `journal verify`, `journal cat` and `replay` share.
 */
#ifndef ACCTGATE_JOURNAL_WALK_H
#define ACCTGATE_JOURNAL_WALK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "journal.h"
#include "journal_undo.h"
#include "jtxn.h"
#include "sqltext.h"

struct journal_walk_range {
	uint64_t from_seq;        /* commits with a smaller sequence number are skipped; 0 = all */
	uint64_t until_seq;       /* stop after this sequence number; 0 = no limit */
	uint64_t until_time_usec; /* stop at the first commit after this time; 0 = no limit */
	/* What in-place restores undid (journal_undo.h). An undo applies
	 * when the range starts before its cut and runs past it: the commits
	 * from where its roll forward stopped up to its cut are skipped. */
	const struct journal_undo *undo;
	size_t nundo;
};

/* A PREPARE no COMMIT or ABORT resolved: its commit went to the server and
 * acctgate never recorded the outcome. */
struct journal_in_doubt {
	uint64_t seq, time_usec;
	uint64_t run_id, session_id, txn_id;
	size_t nstmts;
	bool marked;              /* JTXN_MARKED: the server can tell (indoubt.h) */
	char first_stmt[128];
};

struct journal_walk_summary {
	uint64_t segments, records;
	uint64_t first_seq, last_seq, first_time_usec, last_time_usec;
	uint64_t commits, aborts, prepares;
	uint64_t cuts;                          /* snapshot cuts (JREC_CUT) */
	uint64_t statements;
	uint64_t flagged;                       /* statements with an unsafe bit */
	uint64_t flagged_by_reason[SQL_UNSAFE_COUNT];
	struct journal_in_doubt *in_doubt;      /* malloc'd; free with journal_walk_summary_free */
	size_t nin_doubt;
	bool torn;
	uint64_t torn_bytes, torn_offset;
	char torn_segment[256];
	bool stopped_early;                     /* the callback or the range ended the walk */
	uint64_t resolved;                      /* COMMITs written from in-doubt PREPAREs (JTXN_RESOLVED) */
	uint64_t clock_gaps;                    /* commit clock values never seen within CLOCK_WINDOW */
	uint64_t undone;                        /* commits skipped: an in-place restore undid them */
	/* The range starts on a branch an in-place restore undid (a snapshot
	 * taken between the restored point and the restore): nothing was
	 * delivered; such a snapshot rolls forward only up to that restore. */
	bool undone_start;
	uint64_t undone_cut_seq;                /* that restore's cut */
};

/* Called for each committed transaction in range, in commit order: the
 * order of the commit clock the recorder took inside each transaction
 * (indoubt.h) where it has one, else the order of the records; `rec` is
 * its COMMIT record. Return false to stop the walk. */
typedef bool (*journal_commit_fn)(void *arg, const struct journal_record *rec, const struct jtxn *t);

/*
 * Walk the journal in dir. Returns 0 when every record checked out, 1 on
 * corruption or an undecodable payload, 2 when the directory cannot be
 * read; why[] says what and where. The summary covers what was read.
 */
int journal_walk(const char *dir, const struct journal_walk_range *range, journal_commit_fn each, void *arg,
		 struct journal_walk_summary *sum, char *why, size_t why_len);
void journal_walk_summary_free(struct journal_walk_summary *sum);

/* The PREPARE at `seq` of the journal in dir, decoded into t (free with
 * jtxn_free_decoded and free(*buf)): an in-doubt one's statements. */
bool journal_read_prepare(const char *dir, uint64_t seq, struct jtxn *t, uint8_t **buf, char *err, size_t err_len);

/* "2026-12-02 01:02:03.123456 UTC" */
void journal_format_time(uint64_t usec, char *out, size_t len);
/* "2026-12-02 01:02:03[.ffffff]" (UTC) or "@<epoch seconds>[.ffffff]":
 * microseconds since the epoch; false if it is neither. */
bool journal_parse_time(const char *text, uint64_t *usec);

#endif
