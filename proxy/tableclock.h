/*
 * tableclock.h - which tables can make a write read the server's clock
 * without its text saying so: a column whose default is not a constant
 * (CURRENT_TIMESTAMP) or that has ON UPDATE, a trigger, a view, a system-
 * versioned table. The recorder fixes the session's time (SET timestamp)
 * before every write the journal may have to replay, unless the write's
 * text reads no clock and every table it names is known here to be free
 * of all that: on sysbench's oltp_write_only those SETs were 4 of every 10
 * commands the server ran.
 *
 * What is known comes from the server's information_schema, asked as
 * [snapshot] user (whose grants snapshots need anyway, TRIGGER included:
 * without it information_schema hides triggers) on a thread of its own,
 * never on a worker. A table not known yet is "not free" until its answer
 * comes, so the first writes to it get the time fixed as before. Answers
 * are checked again every TABLECLOCK_REFRESH_SECONDS: a definition changed
 * by a client that bypasses acctgate is seen within that. A definition
 * changed through acctgate is seen at once: from the moment the statement
 * is forwarded until its answer (tableclock_ddl_begin/end) no table is
 * free, and everything known before is forgotten.
 *
 * Only MariaDB is asked (its COLUMN_DEFAULT quotes string constants, which
 * is what tells a constant from an expression); on another server every
 * write keeps its fixed time, which the log says once.
 */
#ifndef ACCTGATE_TABLECLOCK_H
#define ACCTGATE_TABLECLOCK_H

#include <stdbool.h>

#include "replay.h"
#include "sqltext.h"

#define TABLECLOCK_REFRESH_SECONDS 60
#define TABLECLOCK_RETRY_SECONDS 5
/* Tables remembered; beyond them a table is not free until forget. */
#define TABLECLOCK_TABLES_MAX 4096

struct tableclock;

/* conn: the server and account to ask (copied); the connection is made
 * on the thread, not here. NULL on failure, with err set. */
struct tableclock *tableclock_new(const struct replay_options *conn, char *err, size_t err_len);
void tableclock_free(struct tableclock *tc);

/* Whether every table of t is known to read no clock. db: the session's
 * default database for names without one ("" or NULL: not known, so they
 * are not free). Tables not known yet are looked up in the background. */
bool tableclock_all_free(struct tableclock *tc, const char *db, const struct sql_tables *t);

/* A statement that may change definitions (DDL, an SQL-level EXECUTE) is
 * forwarded / has its answer: between the two nothing is free; each call
 * forgets everything known, and lookups made before it are dropped. */
void tableclock_ddl_begin(struct tableclock *tc);
void tableclock_ddl_end(struct tableclock *tc);

#endif
