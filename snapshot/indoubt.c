/*
 * indoubt.c - in-doubt transactions resolved from the server's commit
 * markers (indoubt.h).
 *
 * Runs once at start, before any session: the journal's writer thread is
 * up, so the records go through journal_append_wait, each one durable
 * before the next, since the answer is final only once it is recorded.
 */
#include "indoubt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mysql.h>

#include "indoubt_ddl.h"
#include "journal_walk.h"
#include "jtxn.h"

static int append_and_wait(struct journal *j, uint8_t type, uint64_t time_usec, const struct jtxn *t)
{
	uint8_t *payload;
	size_t len;
	if (!jtxn_encode(t, &payload, &len))
		return ENOMEM;
	int err = journal_append_wait(j, type, time_usec, payload, len, NULL);
	free(payload);
	return err;
}

/* ---- the runs the journal holds ----------------------------------------- */

struct runs {
	uint64_t *ids;
	size_t n, cap;
};

static void add_run(struct runs *r, uint64_t id)
{
	for (size_t i = r->n; i-- > 0;)
		if (r->ids[i] == id)
			return;
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;
		uint64_t *p = realloc(r->ids, cap * sizeof(*p));
		if (!p)
			return; /* its markers stay: harmless rows */
		r->ids = p;
		r->cap = cap;
	}
	r->ids[r->n++] = id;
}

static bool note_run(void *arg, const struct journal_record *rec, const struct jtxn *t)
{
	(void)rec;
	add_run(arg, t->run_id);
	return true;
}

/* ---- asking the server -------------------------------------------------- */

static bool query(MYSQL *m, const char *sql, char *err, size_t err_len)
{
	if (mysql_query(m, sql) == 0)
		return true;
	snprintf(err, err_len, "%s: ERR %u: %s", sql, mysql_errno(m), mysql_error(m));
	return false;
}

/* The sequence number the marker of (run, session) carries, 0 if none,
 * and the commit clock value it took (0 if none). */
static bool marker_of(MYSQL *m, const char *schema, uint64_t run, uint64_t session, uint64_t *seq, uint64_t *clock,
		      char *err, size_t err_len)
{
	char sql[256];
	snprintf(sql, sizeof(sql),
		 "SELECT prepare_seq, clock FROM %s." MARKERS_TABLE " WHERE run_id = %llu AND session_id = %llu", schema,
		 (unsigned long long)run, (unsigned long long)session);
	if (!query(m, sql, err, err_len))
		return false;
	MYSQL_RES *res = mysql_store_result(m);
	if (!res) {
		snprintf(err, err_len, "%s: %s", sql, mysql_error(m));
		return false;
	}
	MYSQL_ROW row = mysql_fetch_row(res);
	*seq = row && row[0] ? strtoull(row[0], NULL, 10) : 0;
	*clock = row && row[1] ? strtoull(row[1], NULL, 10) : 0;
	mysql_free_result(res);
	return true;
}

/* A markers table an earlier version created has no clock column: add it
 * (that once needs ALTER on the schema, which the README's grant lacks;
 * the error says so). */
static bool add_clock_column(MYSQL *m, const char *schema, char *err, size_t err_len)
{
	char sql[512];
	snprintf(sql, sizeof(sql),
		 "SELECT 1 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '%s' AND TABLE_NAME = '" MARKERS_TABLE
		 "' AND COLUMN_NAME = 'clock'",
		 schema);
	if (!query(m, sql, err, err_len))
		return false;
	MYSQL_RES *res = mysql_store_result(m);
	if (!res) {
		snprintf(err, err_len, "%s: %s", sql, mysql_error(m));
		return false;
	}
	bool present = mysql_num_rows(res) > 0;
	mysql_free_result(res);
	if (present)
		return true;
	snprintf(sql, sizeof(sql), "ALTER TABLE %s." MARKERS_TABLE " ADD COLUMN clock BIGINT UNSIGNED NOT NULL DEFAULT 0",
		 schema);
	if (query(m, sql, err, err_len))
		return true;
	size_t used = strlen(err);
	snprintf(err + used, err_len - used, " (the markers table predates its clock column: grant ALTER on %s once)",
		 schema);
	return false;
}

/* Append the outcome of the PREPARE d: a COMMIT of its statements (at
 * `clock` in the run's commit order, 0 = none) or an ABORT. */
static bool record_outcome(struct journal *j, const char *dir, const struct journal_in_doubt *d, bool committed,
			   uint64_t clock, char *err, size_t err_len)
{
	struct jtxn t;
	uint8_t *buf = NULL;
	if (!journal_read_prepare(dir, d->seq, &t, &buf, err, err_len))
		return false;
	t.prepare_seq = d->seq;
	t.flags = committed ? JTXN_RESOLVED : 0;
	t.clock = committed ? clock : 0;
	if (!committed)
		t.nstmts = 0;
	/* Its commit time is unknown; the PREPARE's is the closest known
	 * (cutting by time then errs towards including it). */
	int e = append_and_wait(j, committed ? JREC_COMMIT : JREC_ABORT, d->time_usec, &t);
	jtxn_free_decoded(&t);
	free(buf);
	if (e) {
		snprintf(err, err_len, "cannot record the outcome of PREPARE seq %llu: %s", (unsigned long long)d->seq,
			 strerror(e));
		return false;
	}
	return true;
}

static bool resolve_marked(struct journal *j, const char *dir, MYSQL *m, const char *schema,
			   const struct journal_in_doubt *d, struct indoubt_report *rep, char *err, size_t err_len)
{
	uint64_t marked_seq, clock;
	if (!marker_of(m, schema, d->run_id, d->session_id, &marked_seq, &clock, err, err_len))
		return false;
	/* The row is the session's newest marker: it names this PREPARE only
	 * if this transaction committed. A commit rolled back gave its clock
	 * value back, and the next commit took it. */
	bool committed = marked_seq == d->seq;
	if (!record_outcome(j, dir, d, committed, clock, err, err_len))
		return false;
	if (committed)
		rep->committed++;
	else
		rep->aborted++;
	return true;
}

/* The markers' schema and its tables, made if missing, and this run's
 * clock row. */
static bool prepare_markers(MYSQL *m, const char *schema, uint64_t current_run, char *err, size_t err_len)
{
	char sql[512];
	snprintf(sql, sizeof(sql), "CREATE DATABASE IF NOT EXISTS %s", schema);
	/* Without the right to create it, the schema may still be there. */
	if (mysql_query(m, sql) != 0 && mysql_errno(m) != 1044 && !query(m, sql, err, err_len))
		return false;
	snprintf(sql, sizeof(sql),
		 "CREATE TABLE IF NOT EXISTS %s." MARKERS_TABLE
		 " (run_id BIGINT UNSIGNED NOT NULL, session_id BIGINT UNSIGNED NOT NULL, prepare_seq BIGINT UNSIGNED "
		 "NOT NULL, clock BIGINT UNSIGNED NOT NULL DEFAULT 0, PRIMARY KEY (run_id, session_id)) ENGINE=InnoDB",
		 schema);
	if (!query(m, sql, err, err_len) || !add_clock_column(m, schema, err, err_len))
		return false;
	snprintf(sql, sizeof(sql),
		 "CREATE TABLE IF NOT EXISTS %s." CLOCK_TABLE
		 " (run_id BIGINT UNSIGNED NOT NULL PRIMARY KEY, n BIGINT UNSIGNED NOT NULL) ENGINE=InnoDB",
		 schema);
	if (!query(m, sql, err, err_len))
		return false;
	snprintf(sql, sizeof(sql), "INSERT IGNORE INTO %s." CLOCK_TABLE " VALUES (%llu, 0)", schema,
		 (unsigned long long)current_run);
	return query(m, sql, err, err_len);
}

bool journal_resolve_in_doubt(struct journal *j, const char *dir, const struct replay_options *conn,
			      const char *schema, uint64_t current_run, struct indoubt_report *rep, char *err,
			      size_t err_len)
{
	memset(rep, 0, sizeof(*rep));
	err[0] = '\0';
	struct runs runs = {0};
	struct journal_walk_summary sum;
	if (journal_walk(dir, NULL, note_run, &runs, &sum, err, err_len) != 0) {
		free(runs.ids);
		journal_walk_summary_free(&sum);
		return false;
	}
	MYSQL *m = replay_connect(conn, err, err_len);
	bool ok = m != NULL;
	bool markers = schema && schema[0];
	if (ok && markers)
		ok = prepare_markers(m, schema, current_run, err, err_len);
	enum ddl_outcome *ddl = ok ? calloc(sum.nin_doubt ? sum.nin_doubt : 1, sizeof(*ddl)) : NULL;
	if (ok && !ddl) {
		snprintf(err, err_len, "out of memory");
		ok = false;
	}
	/* What the catalog cannot tell stays in doubt; the markers' answers
	 * do not depend on it. */
	if (ok)
		indoubt_ddl_outcomes(dir, m, &sum, ddl, rep->catalog_error, sizeof(rep->catalog_error));
	for (size_t i = 0; ok && i < sum.nin_doubt; i++) {
		const struct journal_in_doubt *d = &sum.in_doubt[i];
		add_run(&runs, d->run_id);
		if (d->marked && markers) {
			ok = resolve_marked(j, dir, m, schema, d, rep, err, err_len);
		} else if (ddl[i] != DDL_UNKNOWN) {
			ok = record_outcome(j, dir, d, ddl[i] == DDL_RAN, 0, err, err_len);
			if (ddl[i] == DDL_RAN)
				rep->ddl_ran++;
			else
				rep->ddl_did_not_run++;
		} else {
			rep->unresolved++;
		}
	}
	free(ddl);
	/* Every marker of an earlier run has served its purpose now. */
	for (size_t i = 0; ok && markers && i < runs.n; i++) {
		if (runs.ids[i] >= current_run)
			continue;
		char sql[128 + 64];
		snprintf(sql, sizeof(sql), "DELETE FROM %s." MARKERS_TABLE " WHERE run_id = %llu", schema,
			 (unsigned long long)runs.ids[i]);
		ok = query(m, sql, err, err_len);
		snprintf(sql, sizeof(sql), "DELETE FROM %s." CLOCK_TABLE " WHERE run_id = %llu", schema,
			 (unsigned long long)runs.ids[i]);
		ok = ok && query(m, sql, err, err_len);
	}
	if (m)
		mysql_close(m);
	free(runs.ids);
	journal_walk_summary_free(&sum);
	return ok;
}
