/*
 * indoubt_ddl.c - in-doubt definition changes answered by the server's
 * catalog (indoubt_ddl.h).
 *
 * Three steps: the in-doubt PREPAREs that end in a DDL sql_ddl_effect
 * reads become candidates; a walk of the journal (and of the other
 * in-doubt PREPAREs) strikes out those whose table a later statement may
 * have redefined; information_schema answers for the rest.
 */
#include "indoubt_ddl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sqltext.h"

#define CALLS_MAX 8

struct candidate {
	size_t index;          /* in sum->in_doubt */
	uint64_t seq;          /* its PREPARE */
	struct sql_ddl ddl;
	char db[SQL_NAME_MAX]; /* the table's database: named in the DDL, else the session's */
	bool alone;            /* the PREPARE holds the DDL and nothing else */
	bool redefined;        /* a later statement may have changed the table */
	char *text;            /* the DDL, NUL-terminated, to look for in PROCESSLIST */
	/* Procedures called later: whether their bodies may redefine the
	 * table, the server tells (their definitions are not journaled). */
	struct sql_table_name calls[CALLS_MAX];
	size_t ncalls;
};

struct candidates {
	struct candidate *c;
	size_t n;
};

/* ---- the journal's side ------------------------------------------------- */

static bool printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return false;
	return true;
}

/* A statement before the DDL that leaves the answer to the DDL: one that
 * neither changes definitions nor the default database, and is not a
 * procedure or a dynamic statement that might. */
static bool leaves_answer(const struct jstmt *st)
{
	if (st->flags & (JSTMT_CALL | JSTMT_WHOLE_COMMAND))
		return false;
	struct sql_facts f;
	sql_analyse(st->text, st->len, &f);
	return f.kind != SQL_DDL && f.kind != SQL_USE && f.kind != SQL_CALL && f.kind != SQL_PREPARE;
}

static bool add_candidate(struct candidates *cs, size_t index, uint64_t seq, const struct jtxn *t)
{
	if (t->nstmts == 0)
		return true;
	const struct jstmt *last = &t->stmts[t->nstmts - 1];
	struct sql_ddl ddl;
	sql_ddl_effect(last->text, last->len, &ddl);
	if (ddl.effect == SQL_DDL_OTHER)
		return true;
	for (size_t i = 0; i + 1 < t->nstmts; i++)
		if (!leaves_answer(&t->stmts[i]))
			return true;
	const char *db = ddl.table.db[0] ? ddl.table.db : t->ctx.database;
	if (!db[0] || !printable(db))
		return true;
	struct candidate *p = realloc(cs->c, (cs->n + 1) * sizeof(*p));
	if (!p)
		return false;
	cs->c = p;
	struct candidate *c = &cs->c[cs->n];
	*c = (struct candidate){.index = index, .seq = seq, .ddl = ddl, .alone = t->nstmts == 1};
	snprintf(c->db, sizeof(c->db), "%s", db);
	if (!(c->text = strndup(last->text, last->len)))
		return false;
	cs->n++;
	return true;
}

/* A procedure called after the DDL, once; more than CALLS_MAX of them,
 * or one in no known database, and the table counts as redefined. */
static void note_call(struct candidate *c, const struct sql_table_name *proc, const char *session_db)
{
	struct sql_table_name p = *proc;
	if (!p.db[0])
		snprintf(p.db, sizeof(p.db), "%s", session_db);
	for (size_t k = 0; k < c->ncalls; k++)
		if (!strcmp(c->calls[k].db, p.db) && !strcasecmp(c->calls[k].table, p.table))
			return;
	if (c->ncalls == CALLS_MAX || !p.db[0] || !printable(p.db))
		c->redefined = true;
	else
		c->calls[c->ncalls++] = p;
}

/* Strike out the candidates whose table one of t's statements may have
 * redefined; `after`: only candidates whose PREPARE came before seq. */
static void strike(struct candidates *cs, const struct jtxn *t, bool after, uint64_t seq, size_t skip_index)
{
	for (size_t k = 0; k < cs->n; k++) {
		struct candidate *c = &cs->c[k];
		if (c->redefined || c->index == skip_index || (after && seq <= c->seq))
			continue;
		for (size_t i = 0; i < t->nstmts && !c->redefined; i++) {
			struct sql_table_name proc;
			if (sql_call_target(t->stmts[i].text, t->stmts[i].len, &proc))
				note_call(c, &proc, t->ctx.database);
			else
				c->redefined = sql_may_redefine(t->stmts[i].text, t->stmts[i].len, c->ddl.table.table);
		}
	}
}

/* A commit whose record came after a candidate's PREPARE may have run
 * after its DDL (one recorded before the PREPARE was answered before it). */
static bool strike_commit(void *arg, const struct journal_record *rec, const struct jtxn *t)
{
	strike(arg, t, true, rec->seq, SIZE_MAX);
	return true;
}

static bool strike_redefined(const char *dir, const struct journal_walk_summary *sum, struct candidates *cs, char *err,
			     size_t err_len)
{
	struct journal_walk_summary again;
	int st = journal_walk(dir, NULL, strike_commit, cs, &again, err, err_len);
	journal_walk_summary_free(&again);
	if (st != 0)
		return false;
	/* Another transaction in doubt ran at an unknown time: any of its
	 * statements counts, whichever PREPARE came first. */
	for (size_t j = 0; j < sum->nin_doubt; j++) {
		struct jtxn t;
		uint8_t *buf = NULL;
		if (!journal_read_prepare(dir, sum->in_doubt[j].seq, &t, &buf, err, err_len))
			return false;
		strike(cs, &t, false, 0, j);
		jtxn_free_decoded(&t);
		free(buf);
	}
	return true;
}

/* ---- the server's side -------------------------------------------------- */

static MYSQL_RES *ask(MYSQL *m, const char *sql, char *err, size_t err_len)
{
	MYSQL_RES *res = NULL;
	if (mysql_query(m, sql) != 0 || !(res = mysql_store_result(m)))
		snprintf(err, err_len, "%.200s: ERR %u: %s", sql, mysql_errno(m), mysql_error(m));
	return res;
}

/* The catalog's own spelling against a name from a statement: exact where
 * the server keeps table names as written (lower_case_table_names = 0). */
struct catalog {
	MYSQL *m;
	bool names_fold;
	bool sees_all; /* PROCESS: PROCESSLIST shows every account's statements */
};

static bool same_name(const struct catalog *cat, const char *a, const char *b)
{
	return cat->names_fold ? strcasecmp(a, b) == 0 : strcmp(a, b) == 0;
}

static bool open_catalog(struct catalog *cat, MYSQL *m, char *err, size_t err_len)
{
	cat->m = m;
	MYSQL_RES *res = ask(m, "SELECT @@lower_case_table_names", err, err_len);
	if (!res)
		return false;
	MYSQL_ROW row = mysql_fetch_row(res);
	cat->names_fold = row && row[0] && strcmp(row[0], "0") != 0;
	mysql_free_result(res);
	res = ask(m,
		  "SELECT 1 FROM information_schema.USER_PRIVILEGES WHERE PRIVILEGE_TYPE = 'PROCESS' AND GRANTEE = "
		  "CONCAT('''', SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '''@''', SUBSTRING_INDEX(CURRENT_USER(), '@', "
		  "-1), '''')",
		  err, err_len);
	if (!res)
		return false;
	cat->sees_all = mysql_num_rows(res) > 0;
	mysql_free_result(res);
	return true;
}

/* s escaped for a string literal, in a malloc'd buffer. */
static char *escaped(MYSQL *m, const char *s)
{
	size_t n = strlen(s);
	char *out = malloc(2 * n + 1);
	if (out)
		mysql_real_escape_string(m, out, s, (unsigned long)n);
	return out;
}

/* Whether db.table exists, and its comment. */
static bool table_state(const struct catalog *cat, const struct candidate *c, bool *exists, char *comment,
			size_t comment_cap, char *err, size_t err_len)
{
	char db[2 * SQL_NAME_MAX], table[2 * SQL_NAME_MAX], sql[5 * SQL_NAME_MAX];
	mysql_real_escape_string(cat->m, db, c->db, (unsigned long)strlen(c->db));
	mysql_real_escape_string(cat->m, table, c->ddl.table.table, (unsigned long)strlen(c->ddl.table.table));
	snprintf(sql, sizeof(sql),
		 "SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_COMMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = "
		 "'%s' AND TABLE_NAME = '%s'",
		 db, table);
	MYSQL_RES *res = ask(cat->m, sql, err, err_len);
	if (!res)
		return false;
	*exists = false;
	comment[0] = '\0';
	for (MYSQL_ROW row; !*exists && (row = mysql_fetch_row(res));) {
		if (row[0] && row[1] && same_name(cat, row[0], c->db) && same_name(cat, row[1], c->ddl.table.table)) {
			*exists = true;
			snprintf(comment, comment_cap, "%s", row[2] ? row[2] : "");
		}
	}
	mysql_free_result(res);
	return true;
}

static bool has_column(const struct catalog *cat, const struct candidate *c, bool *yes, char *err, size_t err_len)
{
	char db[2 * SQL_NAME_MAX], table[2 * SQL_NAME_MAX], column[2 * SQL_NAME_MAX], sql[7 * SQL_NAME_MAX];
	mysql_real_escape_string(cat->m, db, c->db, (unsigned long)strlen(c->db));
	mysql_real_escape_string(cat->m, table, c->ddl.table.table, (unsigned long)strlen(c->ddl.table.table));
	mysql_real_escape_string(cat->m, column, c->ddl.detail, (unsigned long)strlen(c->ddl.detail));
	snprintf(sql, sizeof(sql),
		 "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = "
		 "'%s' AND TABLE_NAME = '%s' AND COLUMN_NAME = '%s'",
		 db, table, column);
	MYSQL_RES *res = ask(cat->m, sql, err, err_len);
	if (!res)
		return false;
	*yes = false;
	/* Column names never fold by the file system: always case-blind. */
	for (MYSQL_ROW row; !*yes && (row = mysql_fetch_row(res));)
		*yes = row[0] && row[1] && row[2] && same_name(cat, row[0], c->db) &&
		       same_name(cat, row[1], c->ddl.table.table) && strcasecmp(row[2], c->ddl.detail) == 0;
	mysql_free_result(res);
	return true;
}

/* Whether a session still runs (or waits to run) the DDL: a long ALTER
 * goes on after its client is gone. */
static bool still_running(const struct catalog *cat, const struct candidate *c, bool *yes, char *err, size_t err_len)
{
	/* The text as a LIKE pattern ('%', '_' and '\' escaped), then as a
	 * string literal. */
	size_t n = strlen(c->text);
	char *pattern = malloc(2 * n + 1);
	if (!pattern) {
		snprintf(err, err_len, "out of memory");
		return false;
	}
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (c->text[i] == '%' || c->text[i] == '_' || c->text[i] == '\\')
			pattern[o++] = '\\';
		pattern[o++] = c->text[i];
	}
	pattern[o] = '\0';
	char *lit = escaped(cat->m, pattern);
	free(pattern);
	size_t cap = lit ? strlen(lit) + 160 : 0;
	char *sql = lit ? malloc(cap) : NULL;
	if (!sql) {
		free(lit);
		snprintf(err, err_len, "out of memory");
		return false;
	}
	snprintf(sql, cap,
		 "SELECT 1 FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND INFO LIKE "
		 "CONCAT('%%', '%s', '%%')",
		 lit);
	free(lit);
	MYSQL_RES *res = ask(cat->m, sql, err, err_len);
	free(sql);
	if (!res)
		return false;
	*yes = mysql_num_rows(res) > 0;
	mysql_free_result(res);
	return true;
}

/* Whether the procedure's body, as the server has it, may redefine the
 * table; a body the server does not show (no such procedure, or no right
 * to read it) may. */
static bool body_may_redefine(const struct catalog *cat, const struct sql_table_name *proc, const char *table,
			      bool *may, char *err, size_t err_len)
{
	char db[2 * SQL_NAME_MAX], name[2 * SQL_NAME_MAX], sql[5 * SQL_NAME_MAX];
	mysql_real_escape_string(cat->m, db, proc->db, (unsigned long)strlen(proc->db));
	mysql_real_escape_string(cat->m, name, proc->table, (unsigned long)strlen(proc->table));
	snprintf(sql, sizeof(sql),
		 "SELECT ROUTINE_DEFINITION FROM information_schema.ROUTINES WHERE ROUTINE_TYPE = 'PROCEDURE' AND "
		 "ROUTINE_SCHEMA = '%s' AND ROUTINE_NAME = '%s'",
		 db, name);
	MYSQL_RES *res = ask(cat->m, sql, err, err_len);
	if (!res)
		return false;
	MYSQL_ROW row = mysql_fetch_row(res);
	unsigned long *lengths = row ? mysql_fetch_lengths(res) : NULL;
	*may = !row || !row[0] || !lengths || sql_body_may_redefine(row[0], lengths[0], table);
	mysql_free_result(res);
	return true;
}

static bool decide(const struct catalog *cat, const struct candidate *c, enum ddl_outcome *out, char *err,
		   size_t err_len)
{
	*out = DDL_UNKNOWN;
	for (size_t k = 0; k < c->ncalls; k++) {
		bool may;
		if (!body_may_redefine(cat, &c->calls[k], c->ddl.table.table, &may, err, err_len))
			return false;
		if (may)
			return true;
	}
	bool exists, holds = false;
	char comment[2048 + 1];
	if (!table_state(cat, c, &exists, comment, sizeof(comment), err, err_len))
		return false;
	switch (c->ddl.effect) {
	case SQL_DDL_CREATE_TABLE:
		holds = exists;
		break;
	case SQL_DDL_DROP_TABLE:
		holds = !exists;
		break;
	case SQL_DDL_ADD_COLUMN:
		if (!exists)
			return true; /* the table itself went or never came: not this DDL's fact */
		if (!has_column(cat, c, &holds, err, err_len))
			return false;
		break;
	case SQL_DDL_TABLE_COMMENT:
		if (!exists)
			return true;
		holds = strcmp(comment, c->ddl.detail) == 0;
		break;
	case SQL_DDL_OTHER:
		return true;
	}
	if (holds) {
		*out = DDL_RAN;
		return true;
	}
	/* Not there: the statements before the DDL may have committed
	 * without it, and the DDL may not have finished yet. */
	if (!c->alone || !cat->sees_all)
		return true;
	bool running;
	if (!still_running(cat, c, &running, err, err_len))
		return false;
	if (!running)
		*out = DDL_DID_NOT_RUN;
	return true;
}

void indoubt_ddl_outcomes(const char *dir, MYSQL *m, const struct journal_walk_summary *sum, enum ddl_outcome *out,
			  char *err, size_t err_len)
{
	err[0] = '\0';
	struct candidates cs = {0};
	bool ok = true;
	for (size_t i = 0; i < sum->nin_doubt; i++)
		out[i] = DDL_UNKNOWN;
	for (size_t i = 0; ok && i < sum->nin_doubt; i++) {
		if (sum->in_doubt[i].marked)
			continue;
		struct jtxn t;
		uint8_t *buf = NULL;
		ok = journal_read_prepare(dir, sum->in_doubt[i].seq, &t, &buf, err, err_len);
		if (!ok)
			break;
		ok = add_candidate(&cs, i, sum->in_doubt[i].seq, &t);
		if (!ok)
			snprintf(err, err_len, "out of memory");
		jtxn_free_decoded(&t);
		free(buf);
	}
	if (ok && cs.n)
		ok = strike_redefined(dir, sum, &cs, err, err_len);
	struct catalog cat = {0};
	if (ok && cs.n)
		ok = open_catalog(&cat, m, err, err_len);
	for (size_t k = 0; ok && k < cs.n; k++)
		if (!cs.c[k].redefined)
			ok = decide(&cat, &cs.c[k], &out[cs.c[k].index], err, err_len);
	if (!ok)
		for (size_t i = 0; i < sum->nin_doubt; i++)
			out[i] = DDL_UNKNOWN;
	for (size_t k = 0; k < cs.n; k++)
		free(cs.c[k].text);
	free(cs.c);
}
