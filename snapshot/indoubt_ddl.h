/*
 * indoubt_ddl.h - in-doubt definition changes resolved from the server's
 * catalog (indoubt.h's other half, for what no commit marker can prove).
 *
 * A DDL commits by itself, so no marker row can go inside it. But the
 * forms sql_ddl_effect reads leave one fact that information_schema shows
 * afterwards: a table there or gone, a column there, a comment. When no
 * later statement of the journal may have redefined that table (the
 * journal is the only writer of definitions a replay knows of; a later
 * CALL counts when the procedure's body, as the server shows it, may),
 * the fact tells whether the DDL ran:
 *   - the fact holds: it ran, and so did the statements before it in the
 *     PREPARE, which its implicit commit committed first. (A plain CREATE
 *     or DROP that failed because the fact already held is told apart
 *     only by the error the client got: replay reports that statement as
 *     a divergence, and the state it reaches is the same.)
 *   - it does not hold, the PREPARE is the DDL alone, and no session
 *     still runs that statement (information_schema.PROCESSLIST, which
 *     shows other accounts' statements only with the PROCESS privilege;
 *     without it, this answer is not given): it did not run.
 *   - anything else stays in doubt, for journal verify to report.
 */
#ifndef ACCTGATE_INDOUBT_DDL_H
#define ACCTGATE_INDOUBT_DDL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mysql.h>

#include "journal_walk.h"
#include "jtxn.h"

enum ddl_outcome { DDL_UNKNOWN, DDL_RAN, DDL_DID_NOT_RUN };

/*
 * out[i] for each unmarked sum->in_doubt[i] of the journal in dir (marked
 * ones stay DDL_UNKNOWN), asking the server on m. err is "" afterwards,
 * or says why the journal or the server could not be read: then every
 * answer is DDL_UNKNOWN.
 */
void indoubt_ddl_outcomes(const char *dir, MYSQL *m, const struct journal_walk_summary *sum, enum ddl_outcome *out,
			  char *err, size_t err_len);

#endif
