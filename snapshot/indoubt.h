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
 * A DDL carries no marker; the catalog answers for some (indoubt_ddl.h).
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
	size_t committed, aborted;        /* resolved by the markers, either way */
	size_t ddl_ran, ddl_did_not_run;  /* resolved by the catalog (indoubt_ddl.h) */
	size_t unresolved;                /* left for verify to report */
	char catalog_error[256];          /* why the catalog could not be asked, "" if it was */
};

/*
 * Resolve the in-doubt PREPAREs of the journal in `dir` (open for writing
 * as j), connecting with conn: the marked ones from the markers in
 * `schema` (its tables made if missing, then the markers of runs before
 * current_run deleted; "" = markers off), and definition changes from the
 * catalog. A COMMIT or ABORT is appended for each one answered, durable
 * before this returns. False with err filled when the journal or the
 * server cannot be read or the markers refuse: nothing more is resolved
 * then, and the next start tries again. A catalog that cannot be asked
 * only leaves its PREPAREs in doubt (rep->catalog_error says why).
 */
bool journal_resolve_in_doubt(struct journal *j, const char *dir, const struct replay_options *conn,
			      const char *schema, uint64_t current_run, struct indoubt_report *rep, char *err,
			      size_t err_len);

#endif
