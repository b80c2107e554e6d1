/*
 * replay.c - apply the journal to a server (replay.h).
 *
 * Each recorded session gets a connection of its own, so what a session
 * kept between its transactions (user variables set by statements the
 * journal carries, temporary tables) is there again when its next
 * transaction runs. Transactions still run one at a time, in commit order.
 * Connections of sessions that have not committed for a while are closed
 * beyond REPLAY_CONNECTIONS_MAX.
 *
 * Before each statement one SET fixes what the server cannot know:
 * timestamp (NOW(), UNIX_TIMESTAMP() and column defaults see the recorded
 * time), insert_id (the id the original insert generated, whatever the
 * target's auto-increment counter says) and last_insert_id (what the
 * session's LAST_INSERT_ID() returned), as mysqlbinlog does. It travels
 * with the statement as one multi-statement query (the transaction's
 * START TRANSACTION with its first), and the default database is set only
 * when it changes: one round trip per statement and one for the COMMIT,
 * where there were up to three per statement.
 */
#include "replay.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mysql.h>

#include "sqltext.h"

#define REPLAY_CONNECTIONS_MAX 64

struct replay_conn {
	uint64_t run_id, session_id;
	MYSQL *m;
	struct jtxn_context ctx;  /* applied */
	bool have_ctx;
	char db[256];             /* the default database selected, "" = not known */
	bool ts_fixed;
	uint64_t last_used;
};

struct replay {
	const struct replay_options *o;
	FILE *out, *err;
	struct replay_conn conns[REPLAY_CONNECTIONS_MAX];
	uint64_t clock;
	uint64_t transactions, statements, divergences;
	uint64_t other_databases;           /* transactions not in o->databases, not applied */
	uint64_t applied_seq, applied_usec; /* the last transaction applied: its COMMIT record */
	uint64_t last_seq;
	bool connect_failed;
	struct timespec started, last_progress;
};

static double since(const struct timespec *t)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t->tv_sec) + (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

MYSQL *replay_connect(const struct replay_options *o, char *err, size_t err_len)
{
	MYSQL *m = mysql_init(NULL);
	if (!m) {
		snprintf(err, err_len, "out of memory");
		return NULL;
	}
	unsigned timeout = 10;
	mysql_optionsv(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
	mysql_optionsv(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	if (o->local_infile) {
		unsigned on = 1;
		mysql_optionsv(m, MYSQL_OPT_LOCAL_INFILE, &on);
	}
	if (o->tls != REPLAY_TLS_DISABLED) {
		my_bool on = 1;
		my_bool verify = o->tls == REPLAY_TLS_VERIFY_IDENTITY;
		mysql_optionsv(m, MYSQL_OPT_SSL_ENFORCE, &on);
		mysql_optionsv(m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &verify);
		if (o->tls_ca && o->tls_ca[0])
			mysql_optionsv(m, MYSQL_OPT_SSL_CA, o->tls_ca);
		if (o->tls_cert && o->tls_cert[0])
			mysql_optionsv(m, MYSQL_OPT_SSL_CERT, o->tls_cert);
		if (o->tls_key && o->tls_key[0])
			mysql_optionsv(m, MYSQL_OPT_SSL_KEY, o->tls_key);
	}
	if (!mysql_real_connect(m, o->host, o->user, o->password, NULL, o->port, NULL,
				CLIENT_MULTI_STATEMENTS | CLIENT_MULTI_RESULTS)) {
		snprintf(err, err_len, "cannot connect to %s:%u as %s: %s", o->host, o->port, o->user, mysql_error(m));
		mysql_close(m);
		return NULL;
	}
	return m;
}

void replay_account_copy(struct replay_account *a, const struct replay_options *o)
{
	snprintf(a->host, sizeof(a->host), "%s", o->host ? o->host : "");
	snprintf(a->user, sizeof(a->user), "%s", o->user ? o->user : "");
	snprintf(a->password, sizeof(a->password), "%s", o->password ? o->password : "");
	snprintf(a->tls_ca, sizeof(a->tls_ca), "%s", o->tls_ca ? o->tls_ca : "");
	snprintf(a->tls_cert, sizeof(a->tls_cert), "%s", o->tls_cert ? o->tls_cert : "");
	snprintf(a->tls_key, sizeof(a->tls_key), "%s", o->tls_key ? o->tls_key : "");
	a->conn = (struct replay_options){.host = a->host,
					  .port = o->port,
					  .user = a->user,
					  .password = a->password,
					  .tls = o->tls,
					  .tls_ca = a->tls_ca,
					  .tls_cert = a->tls_cert,
					  .tls_key = a->tls_key};
}

static MYSQL *connect_target(struct replay *r)
{
	char why[512];
	MYSQL *m = replay_connect(r->o, why, sizeof(why));
	if (!m) {
		fprintf(r->err, "acctgate replay: %s\n", why);
		r->connect_failed = true;
	}
	return m;
}

/* The connection for a recorded session: its own, or a new one in the
 * place of the least recently used. */
static struct replay_conn *conn_for(struct replay *r, uint64_t run_id, uint64_t session_id)
{
	struct replay_conn *lru = &r->conns[0];
	for (int i = 0; i < REPLAY_CONNECTIONS_MAX; i++) {
		struct replay_conn *c = &r->conns[i];
		if (c->m && c->run_id == run_id && c->session_id == session_id) {
			c->last_used = ++r->clock;
			return c;
		}
		if (!c->m || (lru->m && c->last_used < lru->last_used))
			lru = c;
	}
	if (lru->m)
		mysql_close(lru->m);
	*lru = (struct replay_conn){.run_id = run_id, .session_id = session_id, .last_used = ++r->clock};
	lru->m = connect_target(r);
	return lru->m ? lru : NULL;
}

/*
 * Run a multi-statement query; the figures of result `want` (0-based:
 * the statement after its START TRANSACTION and SET) are kept. False on an
 * error, with *failed_at the result that failed.
 */
static bool run_keeping(MYSQL *m, const char *sql, size_t len, size_t want, uint64_t *affected, uint64_t *insert_id,
			size_t *failed_at)
{
	*failed_at = 0;
	if (mysql_real_query(m, sql, (unsigned long)len) != 0)
		return false;
	for (size_t i = 0;; i++) {
		*failed_at = i;
		MYSQL_RES *res = mysql_store_result(m);
		if (i == want) {
			/* A result set affected nothing: the journal records 0 for it
			 * (mysql_affected_rows would count its rows). */
			*affected = res ? 0 : mysql_affected_rows(m);
			*insert_id = mysql_insert_id(m);
		}
		if (res)
			mysql_free_result(res);
		else if (mysql_field_count(m) != 0)
			return false;
		int more = mysql_next_result(m);
		if (more > 0) {
			*failed_at = i + 1;
			return false;
		}
		if (more < 0)
			return true;
	}
}

/* Run a query whose results nobody reads. */
static bool run(MYSQL *m, const char *sql, size_t len)
{
	uint64_t affected, insert_id;
	size_t failed_at;
	return run_keeping(m, sql, len, SIZE_MAX, &affected, &insert_id, &failed_at);
}

static void append_quoted(MYSQL *m, char *buf, size_t cap, size_t *used, const char *s)
{
	size_t n = strlen(s);
	if (*used + 2 * n + 3 >= cap)
		return;
	buf[(*used)++] = '\'';
	*used += mysql_real_escape_string(m, buf + *used, s, (unsigned long)n);
	buf[(*used)++] = '\'';
	buf[*used] = '\0';
}

static bool apply_context(struct replay *r, struct replay_conn *c, const struct jtxn *t, uint64_t seq)
{
	const struct jtxn_context *x = &t->ctx;
	if (x->known && !(c->have_ctx && memcmp(&c->ctx, x, sizeof(*x)) == 0)) {
		char sql[2048];
		size_t n = (size_t)snprintf(sql, sizeof(sql), "SET @@session.sql_mode=");
		append_quoted(c->m, sql, sizeof(sql), &n, x->sql_mode);
		n += (size_t)snprintf(sql + n, sizeof(sql) - n, ", @@session.time_zone=");
		append_quoted(c->m, sql, sizeof(sql), &n, x->time_zone);
		n += (size_t)snprintf(sql + n, sizeof(sql) - n, ", @@session.character_set_client=");
		append_quoted(c->m, sql, sizeof(sql), &n, x->character_set_client);
		n += (size_t)snprintf(sql + n, sizeof(sql) - n, ", @@session.collation_connection=");
		append_quoted(c->m, sql, sizeof(sql), &n, x->collation_connection);
		n += (size_t)snprintf(sql + n, sizeof(sql) - n, ", @@session.collation_server=");
		append_quoted(c->m, sql, sizeof(sql), &n, x->collation_server);
		n += (size_t)snprintf(sql + n, sizeof(sql) - n, ", @@session.lc_time_names=");
		append_quoted(c->m, sql, sizeof(sql), &n, x->lc_time_names);
		n += (size_t)snprintf(sql + n, sizeof(sql) - n,
				      ", @@session.foreign_key_checks=%u, @@session.unique_checks=%u, "
				      "@@session.auto_increment_increment=%u, @@session.auto_increment_offset=%u",
				      x->foreign_key_checks, x->unique_checks, x->auto_increment_increment,
				      x->auto_increment_offset);
		if (n >= sizeof(sql) || !run(c->m, sql, n)) {
			fprintf(r->out, "seq %llu: cannot set the session variables: %s\n", (unsigned long long)seq,
				mysql_error(c->m));
			r->divergences++;
			return false;
		}
		c->ctx = *x;
		c->have_ctx = true;
	}
	const char *db = x->database;
	if (r->o->db_from && strcmp(db, r->o->db_from) == 0)
		db = r->o->db_to;
	if (db[0] && strcmp(c->db, db) != 0 && mysql_select_db(c->m, db) != 0) {
		fprintf(r->out, "seq %llu: cannot use database %s: %s\n", (unsigned long long)seq, db,
			mysql_error(c->m));
		r->divergences++;
		c->db[0] = '\0';
		return false;
	}
	snprintf(c->db, sizeof(c->db), "%s", db);
	return true;
}

static void diverged(struct replay *r, uint64_t seq, size_t i, const struct jstmt *st, const char *what)
{
	r->divergences++;
	int shown = st->len > 200 ? 200 : (int)st->len;
	fprintf(r->out, "seq %llu statement %zu: %s: %.*s%s\n", (unsigned long long)seq, i + 1, what, shown, st->text,
		st->len > 200 ? "..." : "");
}

/* The statement, after what fixes its context and (begin) the START
 * TRANSACTION of its transaction, in one round trip. False when what
 * comes before the statement failed: the transaction did not start. */
static bool run_statement(struct replay *r, struct replay_conn *c, uint64_t seq, size_t i, const struct jstmt *st,
			  bool check, bool begin)
{
	char set[160];
	size_t n = jstmt_context_set(st, &c->ts_fixed, set, sizeof(set));
	size_t cap = 32 + n + st->len;
	char *sql = malloc(cap);
	char what[512];
	if (!sql) {
		diverged(r, seq, i, st, "out of memory");
		return !begin;
	}
	size_t len = 0, before = 0;
	if (begin) {
		memcpy(sql, "START TRANSACTION;", 18);
		len = 18;
		before++;
	}
	if (n) {
		memcpy(sql + len, set, n);
		len += n;
		sql[len++] = ';';
		before++;
	}
	memcpy(sql + len, st->text, st->len);
	len += st->len;
	r->statements++;
	uint64_t affected = 0, id = 0;
	size_t failed_at;
	bool ok = run_keeping(c->m, sql, len, before, &affected, &id, &failed_at);
	free(sql);
	if (!ok && failed_at < before) {
		snprintf(what, sizeof(what), "%s (%s)",
			 begin && failed_at == 0 ? "cannot start its transaction" : "cannot fix its context",
			 mysql_error(c->m));
		diverged(r, seq, i, st, what);
		return !(begin && failed_at == 0);
	}
	if (!ok) {
		snprintf(what, sizeof(what), "ERR %u (%s): %s", mysql_errno(c->m), mysql_sqlstate(c->m), mysql_error(c->m));
		diverged(r, seq, i, st, what);
		return true;
	}
	if (!check || (st->flags & (JSTMT_CALL | JSTMT_WHOLE_COMMAND)))
		return true; /* no results recorded for it (resolved in doubt, or inner statements) */
	if (affected != (uint64_t)-1 && affected != st->affected_rows) {
		snprintf(what, sizeof(what), "%llu rows affected, recorded %llu", (unsigned long long)affected,
			 (unsigned long long)st->affected_rows);
		diverged(r, seq, i, st, what);
	}
	if ((st->flags & (JSTMT_GENERATED_ID | JSTMT_SETS_LAST_INSERT_ID)) && id != st->insert_id) {
		snprintf(what, sizeof(what), "insert id %llu, recorded %llu", (unsigned long long)id,
			 (unsigned long long)st->insert_id);
		diverged(r, seq, i, st, what);
	}
	return true;
}

/* A statement after which the session's default database may not be the
 * one selected: USE, and DDL (DROP DATABASE of the current one). */
static bool may_change_database(const struct jstmt *st)
{
	struct sql_facts f;
	sql_analyse(st->text, st->len, &f);
	return f.kind == SQL_USE || f.kind == SQL_DDL || (st->flags & (JSTMT_CALL | JSTMT_WHOLE_COMMAND));
}

static void progress(struct replay *r, bool last)
{
	if (!r->o->progress || (!last && since(&r->last_progress) < 0.2))
		return;
	clock_gettime(CLOCK_MONOTONIC, &r->last_progress);
	fprintf(r->err, "\rreplay: seq %llu, %llu transactions, %llu statements, %llu divergences%s",
		(unsigned long long)r->last_seq, (unsigned long long)r->transactions, (unsigned long long)r->statements,
		(unsigned long long)r->divergences, last ? "\n" : "");
	fflush(r->err);
}

static bool wanted(const struct replay_options *o, const char *db)
{
	if (!o->ndatabases)
		return true;
	for (size_t i = 0; i < o->ndatabases; i++)
		if (strcmp(o->databases[i], db) == 0)
			return true;
	return false;
}

static bool replay_commit(void *arg, const struct journal_record *rec, const struct jtxn *t)
{
	struct replay *r = arg;
	r->last_seq = rec->seq;
	if (!wanted(r->o, t->ctx.database)) {
		r->other_databases++;
		return true;
	}
	struct replay_conn *c = conn_for(r, t->run_id, t->session_id);
	if (!c)
		return false;
	if (!apply_context(r, c, t, rec->seq))
		return true;
	bool begun = t->nstmts == 0;
	if (begun && !run(c->m, "START TRANSACTION", 17)) {
		fprintf(r->out, "seq %llu: cannot start a transaction: %s\n", (unsigned long long)rec->seq,
			mysql_error(c->m));
		r->divergences++;
		return true;
	}
	for (size_t i = 0; i < t->nstmts; i++) {
		bool began = run_statement(r, c, rec->seq, i, &t->stmts[i], !(t->flags & JTXN_RESOLVED), !begun);
		if (!begun && !began)
			return true; /* its START TRANSACTION failed: reported, nothing ran */
		begun = true;
		if (may_change_database(&t->stmts[i]))
			c->db[0] = '\0';
	}
	if (!run(c->m, "COMMIT", 6)) {
		fprintf(r->out, "seq %llu: COMMIT failed: %s\n", (unsigned long long)rec->seq, mysql_error(c->m));
		r->divergences++;
	}
	r->transactions++;
	r->applied_seq = rec->seq;
	r->applied_usec = rec->time_usec;
	progress(r, false);
	return true;
}

int replay_run(const struct replay_options *o, FILE *out, FILE *err)
{
	struct replay *r = calloc(1, sizeof(*r));
	if (!r) {
		fprintf(err, "acctgate replay: out of memory\n");
		return 2;
	}
	r->o = o;
	r->out = out;
	r->err = err;
	clock_gettime(CLOCK_MONOTONIC, &r->started);
	struct journal_walk_summary sum;
	char why[512] = "";
	/* What in-place restores undid is not history past their cut. */
	struct journal_undo *undo = NULL;
	struct journal_walk_range range = o->range;
	int walked = journal_undo_load(o->journal_dir, &undo, &range.nundo, why, sizeof(why)) ? 0 : 2;
	range.undo = undo;
	if (walked == 0)
		walked = journal_walk(o->journal_dir, &range, replay_commit, r, &sum, why, sizeof(why));
	else
		memset(&sum, 0, sizeof(sum));
	free(undo);
	progress(r, true);
	int status = 0;
	if (walked != 0) {
		fprintf(err, "acctgate replay: journal %s: %s\n", o->journal_dir, why);
		status = 2;
	} else if (sum.undone_start) {
		fprintf(err,
			"acctgate replay: the start (seq %llu) lies on a branch the in-place restore with cut seq %llu "
			"undid: roll this snapshot forward only up to that restore (UNTIL SEQUENCE %llu at most), or "
			"start from a snapshot taken before the point it restored or after it\n",
			(unsigned long long)o->range.from_seq, (unsigned long long)sum.undone_cut_seq,
			(unsigned long long)sum.undone_cut_seq);
		status = 2;
	} else if (r->connect_failed) {
		status = 3;
	} else if (r->divergences) {
		status = 1;
	}
	fprintf(out, "replayed %llu transactions (%llu statements) up to seq %llu in %.3f s: %llu divergences\n",
		(unsigned long long)r->transactions, (unsigned long long)r->statements, (unsigned long long)r->last_seq,
		since(&r->started), (unsigned long long)r->divergences);
	if (r->other_databases)
		fprintf(out, "skipped %llu transactions of databases the snapshot does not hold\n",
			(unsigned long long)r->other_databases);
	if (sum.undone)
		fprintf(out, "skipped %llu transactions an in-place restore undid (%s)\n", (unsigned long long)sum.undone,
			JOURNAL_UNDO_FILE);
	if (r->transactions) {
		char when[48];
		journal_format_time(r->applied_usec, when, sizeof(when));
		fprintf(out, "last transaction applied: seq %llu, committed at %s\n", (unsigned long long)r->applied_seq,
			when);
	}
	for (size_t i = 0; i < sum.nin_doubt; i++)
		fprintf(out, "in doubt, not applied: PREPARE seq %llu (session %llu, transaction %llu: %s)\n",
			(unsigned long long)sum.in_doubt[i].seq, (unsigned long long)sum.in_doubt[i].session_id,
			(unsigned long long)sum.in_doubt[i].txn_id, sum.in_doubt[i].first_stmt);
	journal_walk_summary_free(&sum);
	for (int i = 0; i < REPLAY_CONNECTIONS_MAX; i++)
		if (r->conns[i].m)
			mysql_close(r->conns[i].m);
	free(r);
	return status;
}
