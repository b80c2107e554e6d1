/*
 * indoubt.h - resolving the journal's in-doubt transactions with the
 * server's help, at start.
 *
 * A PREPARE no COMMIT or ABORT follows is a commit acctgate sent and never
 * saw answered (it died in between). When commit markers are on
 * ([journal] markers), the recorder put one row into <markers>.commits
 * inside that very transaction: (run_id, session_id) -> the PREPARE's
 * sequence number. The row carries that number if and only if the
 * transaction committed, so the server can tell, and the journal gets the
 * COMMIT (JTXN_RESOLVED, from the PREPARE's statements) or ABORT it lacked.
 */
#ifndef ACCTGATE_INDOUBT_H
#define ACCTGATE_INDOUBT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "journal.h"
#include "replay.h"

/* The markers' table, in the schema [journal] markers names. */
#define MARKERS_TABLE "commits"
/* The commit clock, in the same schema: one row per acctgate run, which
 * every recorded commit increments inside its transaction, right before
 * its COMMIT. The row's lock orders the commits that take it exactly as
 * the server commits them (InnoDB frees locks before a commit is durable,
 * and its group commit answers the commits of one flush in any order, so
 * the order of the OKs alone is not the commit order). */
#define CLOCK_TABLE "clock"

struct indoubt_report {
	size_t committed, aborted; /* resolved either way */
	size_t unmarked;           /* in doubt without a marker: left for verify to report */
};

/*
 * Resolve the marked in-doubt PREPAREs of the journal in `dir` (open for
 * writing as j): connect with conn, create the markers table if missing,
 * append a COMMIT or ABORT for each (durable before this returns), then
 * delete the markers of runs before current_run. False with err filled
 * when the server cannot be reached or refuses: nothing is resolved then,
 * and the next start tries again.
 */
bool journal_resolve_in_doubt(struct journal *j, const char *dir, const struct replay_options *conn,
			      const char *schema, uint64_t current_run, struct indoubt_report *rep, char *err,
			      size_t err_len);

#endif
