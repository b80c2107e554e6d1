/*
 * journal_workload.c - a randomised concurrent write workload for the
 * journal's tests (journal_replay.sh, journal_crash.sh, journal_full_disk.sh).
 *
 *   acctgate_journal_workload --host H --port P --user U --password PW
 *       [--db D] [--ssl-ca CA] [--threads N] [--seconds S] [--seed N]
 *       [--prepared 0|1] [--insert-ignore 0|1] [--ddl 0|1] [--pad BYTES]
 *       [--ack-log FILE] [--reconnect-secs S] [--max-txns N]
 *
 * N sessions (default 8) for S seconds, each doing randomised transactions
 * on the schema of journal_schema.sql, which the test creates itself
 * (through acctgate, so that the DDL is journaled):
 *   explicit BEGIN..COMMIT with ROLLBACKs, autocommit single statements and
 *   multi-row inserts, INSERT IGNORE, ON DUPLICATE KEY UPDATE
 *   id=LAST_INSERT_ID(id) then a statement reading LAST_INSERT_ID(),
 *   UNIX_TIMESTAMP() and NOW(6) in columns, multi-statement queries (one
 *   with a COMMIT in the middle under autocommit=0), CALL of a procedure
 *   that writes, a "hot" table of 4 rows updated in random order (deadlock
 *   victims, error 1213, retry the whole transaction), DDL from thread 0
 *   (a side table created, altered, dropped; an implicit commit of an open
 *   transaction), and, with --prepared 1, prepared statements with bound
 *   int/string/datetime parameters and one long-data parameter.
 *
 * Every transaction carries a token "t<thread>n<n>" (n counts the thread's
 * attempts, so a retried transaction has a new token) in the rows it
 * writes; the ack log gets one line per token once its fate is known:
 *   A tok   the server acknowledged its commit (COMMIT OK, autocommit OK,
 *           the OK of the DDL that committed it implicitly)
 *   R tok   it is rolled back: ROLLBACK, deadlock, a refused commit
 *           (ERR 1180 from acctgate), or the connection was lost before its
 *           commit was sent
 *   U tok   unknown: the connection was lost with its commit unanswered
 * The checkers grep `acctgate journal cat` for the tokens: every A must be
 * there, no R may be.
 *
 *
 * A lost connection (acctgate killed) is survived: the session reconnects
 * (for up to --reconnect-secs) and goes on. Totals are printed at the end:
 *   workload: threads 8 seconds 15.0 seed 1 commits ... rollbacks ...
 */
#include <errno.h>
#include <inttypes.h>
#include <mysql.h>
#include <mysqld_error.h>
#include <errmsg.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ER_ACCTGATE_REFUSED 1180 /* ER_ERROR_DURING_COMMIT, acctgate's journal refusal */

static struct {
	const char *host, *user, *password, *db, *ssl_ca, *ack_log;
	unsigned port;
	int threads;
	double seconds;
	unsigned long seed;
	bool prepared, insert_ignore, ddl;
	int pad;
	double reconnect_secs;
	long max_txns;
} o = {
	.host = "127.0.0.1",
	.user = "slurm",
	.password = "slurmpw",
	.db = "jw",
	.threads = 8,
	.seconds = 10,
	.seed = 1,
	.prepared = false,
	.insert_ignore = true,
	.ddl = true,
	.pad = 16,
	.reconnect_secs = 30,
	.max_txns = 0,
};

static atomic_long commits, rollbacks, deadlocks, refused, unknown, errors, lost, reconnects, statements,
	dup_keys, stopped_threads;
static FILE *ack_file;
static pthread_mutex_t ack_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t err_lock = PTHREAD_MUTEX_INITIALIZER;
static double t_start;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct w {
	int id;
	MYSQL *m;
	uint64_t rng;
	long n;          /* the next attempt's number */
	int side;        /* thread 0: the side table generation */
	unsigned err;    /* the last error */
	char errmsg[256];
	bool acked_self; /* the transaction logged its own fate (txn_ddl) */
};

static uint64_t rnd(struct w *w)
{
	/* xorshift64* */
	w->rng ^= w->rng >> 12;
	w->rng ^= w->rng << 25;
	w->rng ^= w->rng >> 27;
	return w->rng * 2685821657736338717ull;
}
static int pick(struct w *w, int n) { return (int)(rnd(w) % (uint64_t)n); }
static bool chance(struct w *w, int percent) { return pick(w, 100) < percent; }

static void ack(char what, const char *tok)
{
	if (!ack_file)
		return;
	pthread_mutex_lock(&ack_lock);
	fprintf(ack_file, "%c %s\n", what, tok);
	fflush(ack_file);
	pthread_mutex_unlock(&ack_lock);
}

static bool conn_lost(unsigned e)
{
	return e == CR_SERVER_GONE_ERROR || e == CR_SERVER_LOST || e == CR_SSL_CONNECTION_ERROR ||
	       e == CR_CONNECTION_ERROR || e == CR_CONN_HOST_ERROR || e == CR_COMMANDS_OUT_OF_SYNC ||
	       e == CR_SERVER_LOST_EXTENDED || e == ER_CONNECTION_KILLED || e == CR_UNKNOWN_ERROR;
}

static void note_error(struct w *w, const char *sql)
{
	static int shown;
	pthread_mutex_lock(&err_lock);
	if (shown++ < 20)
		fprintf(stderr, "workload thread %d: ERR %u (%s) on: %.160s\n", w->id, w->err, w->errmsg, sql);
	pthread_mutex_unlock(&err_lock);
}

static int q(struct w *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static bool connect_once(struct w *w)
{
	MYSQL *m = mysql_init(NULL);
	unsigned timeout = 10, rw = 60;
	mysql_optionsv(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
	mysql_optionsv(m, MYSQL_OPT_READ_TIMEOUT, &rw);
	mysql_optionsv(m, MYSQL_OPT_WRITE_TIMEOUT, &rw);
	mysql_optionsv(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	if (o.ssl_ca) {
		my_bool on = 1;
		mysql_optionsv(m, MYSQL_OPT_SSL_ENFORCE, &on);
		mysql_optionsv(m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &on);
		mysql_optionsv(m, MYSQL_OPT_SSL_CA, o.ssl_ca);
	}
	if (!mysql_real_connect(m, o.host, o.user, o.password, o.db, o.port, NULL,
				CLIENT_MULTI_STATEMENTS | CLIENT_MULTI_RESULTS)) {
		w->err = mysql_errno(m);
		snprintf(w->errmsg, sizeof(w->errmsg), "%s", mysql_error(m));
		mysql_close(m);
		return false;
	}
	w->m = m;
	return true;
}

/* (Re)connect, for up to --reconnect-secs. */
static bool reconnect(struct w *w)
{
	if (w->m)
		mysql_close(w->m);
	w->m = NULL;
	double until = now() + o.reconnect_secs;
	while (!connect_once(w)) {
		if (now() > until) {
			fprintf(stderr, "workload thread %d: cannot reconnect: ERR %u %s\n", w->id, w->err, w->errmsg);
			return false;
		}
		usleep(100000);
	}
	atomic_fetch_add(&reconnects, 1);
	/* Thread 0's ALTER of a shared table waits for its metadata lock
	 * behind open transactions, while new ones queue behind it: with the
	 * server's default (a year) a transaction of theirs waiting on a row
	 * lock the queued ones hold is a deadlock no detector sees. */
	if (w->id == 0 && o.ddl) {
		q(w, "SET SESSION lock_wait_timeout = 3");
		if (w->err)
			return false;
	}
	return true;
}

/*
 * Run a query, multi-statement or not, draining every result. Returns the
 * number of statements that succeeded before the first error (all of them
 * when the query succeeded); w->err is 0 or the error.
 */
static int q(struct w *w, const char *fmt, ...)
{
	char sql[8192];
	va_list ap;
	va_start(ap, fmt);
	int len = vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	if (len < 0 || (size_t)len >= sizeof(sql)) {
		fprintf(stderr, "workload: query too long\n");
		exit(2);
	}
	w->err = 0;
	int ok = 0;
	atomic_fetch_add(&statements, 1);
	if (mysql_real_query(w->m, sql, (unsigned long)len) != 0)
		goto err;
	for (;;) {
		MYSQL_RES *res = mysql_store_result(w->m);
		if (res)
			mysql_free_result(res);
		else if (mysql_field_count(w->m) != 0)
			goto err;
		ok++;
		int more = mysql_next_result(w->m);
		if (more < 0)
			return ok;
		if (more > 0)
			goto err;
	}
err:
	w->err = mysql_errno(w->m);
	snprintf(w->errmsg, sizeof(w->errmsg), "%s", mysql_error(w->m));
	if (w->err == ER_DUP_ENTRY)
		atomic_fetch_add(&dup_keys, 1);
	else if (w->err != ER_LOCK_DEADLOCK && !conn_lost(w->err) && w->err != ER_ACCTGATE_REFUSED)
		note_error(w, sql);
	return ok;
}

static void pad(struct w *w, char *out, size_t cap)
{
	size_t n = (size_t)o.pad < cap - 1 ? (size_t)o.pad : cap - 1;
	for (size_t i = 0; i < n; i++)
		out[i] = (char)('a' + pick(w, 26));
	out[n] = '\0';
}

/* Outcomes of one transaction attempt. */
enum outcome { OK_COMMITTED, ROLLED_BACK, DEADLOCK, REFUSED, UNKNOWN, LOST, FAILED };

/* What a statement's error means for the transaction: 0 = go on. The
 * commit point is the statement that commits (COMMIT, autocommit, the DDL
 * that commits implicitly): a lost connection there leaves it unknown. */
static enum outcome classify(struct w *w, bool commit_point)
{
	if (conn_lost(w->err))
		return commit_point ? UNKNOWN : LOST;
	if (w->err == ER_LOCK_DEADLOCK)
		return DEADLOCK;
	if (w->err == ER_ACCTGATE_REFUSED)
		return REFUSED;
	return FAILED;
}

#define TOK(buf, w, n) snprintf(buf, sizeof(buf), "t%dn%ld", (w)->id, (n))

/* A statement inside an explicit transaction: a duplicate key or a lock
 * wait timeout fails the statement only, the transaction goes on. */
#define STEP(...)                                                                                                  \
	do {                                                                                                       \
		q(w, __VA_ARGS__);                                                                                 \
		if (w->err && w->err != ER_DUP_ENTRY && w->err != ER_LOCK_WAIT_TIMEOUT)                            \
			return classify(w, false);                                                                 \
	} while (0)

/* One random piece of work inside a transaction (tok marks its rows). */
static enum outcome work_item(struct w *w, const char *tok, long n)
{
	char p[256];
	pad(w, p, sizeof(p));
	int a = 1 + pick(w, 4), b = 1 + pick(w, 4);
	switch (pick(w, o.insert_ignore ? 8 : 7)) {
	case 0: /* upsert, then LAST_INSERT_ID() in the next statement */
		STEP("INSERT INTO items (name, qty, tok, ts, t6) VALUES ('n%d', 1, '%s', UNIX_TIMESTAMP(), NOW(6)) "
		     "ON DUPLICATE KEY UPDATE id = LAST_INSERT_ID(id), qty = qty + 1, tok = '%s', t6 = NOW(6)",
		     pick(w, 200), tok, tok);
		STEP("INSERT INTO events (item_id, th, n, tok, note, ts, t6) VALUES (LAST_INSERT_ID(), %d, %ld, '%s', "
		     "'%s', UNIX_TIMESTAMP(), NOW(6))",
		     w->id, n, tok, p);
		break;
	case 1: /* multi-row insert, may hit the unique key (1062: the statement fails, not the transaction) */
		STEP("INSERT INTO items (name, qty, tok, ts, t6) VALUES ('n%d', 1, '%s', UNIX_TIMESTAMP(), NOW(6)), "
		     "('n%d', 2, '%s', UNIX_TIMESTAMP(), NOW(6)), ('u%d_%ld', 3, '%s', UNIX_TIMESTAMP(), NOW(6))",
		     pick(w, 400), tok, pick(w, 400), tok, w->id, n, tok);
		break;
	case 2: /* the hot rows, in random order: deadlocks */
		STEP("UPDATE hot SET v = v + %d, tok = '%s', t6 = NOW(6) WHERE id = %d", 1 + pick(w, 9), tok, a);
		STEP("UPDATE hot SET v = v * 3 %% 1000003, tok = '%s', t6 = NOW(6) WHERE id = %d", tok, b);
		break;
	case 3: /* a multi-statement query */
		STEP("UPDATE hot SET v = v + 1, tok = '%s' WHERE id = %d; UPDATE items SET qty = qty + 5, tok = '%s' "
		     "WHERE name = 'n%d'; INSERT INTO events (item_id, th, n, tok, note, ts, t6) VALUES (0, %d, %ld, "
		     "'%s', 'multi', UNIX_TIMESTAMP(), NOW(6))",
		     tok, a, tok, pick(w, 200), w->id, n, tok);
		break;
	case 4: /* a procedure that writes */
		STEP("CALL bump(%d, %ld, '%s')", w->id, n, tok);
		break;
	case 5: /* deletes and an update that may match nothing */
		STEP("DELETE FROM items WHERE name = 'n%d' AND qty > 3", pick(w, 400));
		STEP("UPDATE items SET qty = qty - 1, tok = '%s' WHERE name = 'nothing%d'", tok, pick(w, 10));
		/* The clock only through the tables: ON UPDATE, a trigger, and
		 * one table with constant defaults, which needs no fixed time. */
		STEP("UPDATE stamped SET v = v + 1, tok = '%s' WHERE id = %d", tok, a);
		STEP("INSERT INTO audited (tok) VALUES ('%s')", tok);
		STEP("INSERT INTO plain (th, n, tok) VALUES (%d, %ld, '%s')", w->id, n, tok);
		break;
	case 6: /* events with time functions, multi-row (ids generated in one statement) */
		STEP("INSERT INTO events (item_id, th, n, tok, note, ts, t6) VALUES (1, %d, %ld, '%s', '%s', "
		     "UNIX_TIMESTAMP(), NOW(6)), (2, %d, %ld, '%s', CONCAT('b', NOW(6)), UNIX_TIMESTAMP() + 1, "
		     "NOW(6) - INTERVAL 1 SECOND)",
		     w->id, n, tok, p, w->id, n, tok);
		break;
	case 7: /* INSERT IGNORE, some rows duplicates */
		STEP("INSERT IGNORE INTO items (name, qty, tok, ts, t6) VALUES ('n%d', 7, '%s', UNIX_TIMESTAMP(), "
		     "NOW(6)), ('i%d_%ld', 8, '%s', UNIX_TIMESTAMP(), NOW(6))",
		     pick(w, 200), tok, w->id, n, tok);
		break;
	}
	return OK_COMMITTED;
}

static enum outcome txn_explicit(struct w *w, const char *tok, long n, bool *rolled_back_on_purpose)
{
	STEP("BEGIN");
	STEP("INSERT INTO acked (th, n, tok, ts, t6) VALUES (%d, %ld, '%s', UNIX_TIMESTAMP(), NOW(6))", w->id, n, tok);
	int items = 1 + pick(w, 4);
	for (int i = 0; i < items; i++) {
		enum outcome oc = work_item(w, tok, n);
		if (oc != OK_COMMITTED)
			return oc;
	}
	if (chance(w, 10)) {
		q(w, "ROLLBACK");
		*rolled_back_on_purpose = true;
		return w->err ? classify(w, false) : ROLLED_BACK;
	}
	q(w, "COMMIT");
	return w->err ? classify(w, true) : OK_COMMITTED;
}

/* Autocommit statements: each one is its transaction. */
static enum outcome txn_autocommit(struct w *w, const char *tok, long n)
{
	char p[256];
	pad(w, p, sizeof(p));
	switch (pick(w, 5)) {
	case 0:
		q(w, "INSERT INTO acked (th, n, tok, ts, t6) VALUES (%d, %ld, '%s', UNIX_TIMESTAMP(), NOW(6))", w->id, n,
		  tok);
		break;
	case 1: /* multi-row: acked and two generated event ids */
		q(w, "INSERT INTO events (item_id, th, n, tok, note, ts, t6) VALUES (3, %d, %ld, '%s', '%s', "
		     "UNIX_TIMESTAMP(), NOW(6)), (4, %d, %ld, '%s', 'second', UNIX_TIMESTAMP(), NOW(6)), (5, %d, %ld, "
		     "'%s', 'third', UNIX_TIMESTAMP(), NOW(6))",
		  w->id, n, tok, p, w->id, n, tok, w->id, n, tok);
		break;
	case 2:
		q(w, "UPDATE hot SET v = v + 7, tok = '%s', t6 = NOW(6) WHERE id = %d", tok, 1 + pick(w, 4));
		break;
	case 3: /* upsert autocommit; the next autocommit statement (tok2) reads its LAST_INSERT_ID() */
		q(w, "INSERT INTO items (name, qty, tok, ts, t6) VALUES ('n%d', 1, '%s', UNIX_TIMESTAMP(), NOW(6)) "
		     "ON DUPLICATE KEY UPDATE id = LAST_INSERT_ID(id), qty = qty + 1, tok = '%s'",
		  pick(w, 200), tok, tok);
		if (w->err)
			break;
		{
			char tok2[32];
			long n2 = w->n++;
			TOK(tok2, w, n2);
			q(w, "INSERT INTO events (item_id, th, n, tok, note, ts, t6) VALUES (LAST_INSERT_ID(), %d, %ld, '%s', "
			     "'after upsert', UNIX_TIMESTAMP(), NOW(6))",
			  w->id, n2, tok2);
			if (!w->err)
				ack('A', tok2), atomic_fetch_add(&commits, 1);
			else
				ack(conn_lost(w->err) ? 'U' : 'R', tok2);
			return OK_COMMITTED; /* tok's upsert; a lost connection is seen by the caller */
		}
	case 4:
		q(w, "CALL bump(%d, %ld, '%s')", w->id, n, tok);
		break;
	}
	if (w->err == ER_DUP_ENTRY)
		return ROLLED_BACK;
	return w->err ? classify(w, true) : OK_COMMITTED;
}

/* autocommit=0 and a COMMIT in the middle of a multi-statement query: two
 * transactions, tok's committed by the query, tok2's by the COMMIT after
 * (its fate is logged here; tok's is the return value). The mid-query
 * commit takes no commit clock (README "Journal": it is ordered by its
 * answers), so what it writes commutes with everything else: a row of
 * events, a table only ever inserted into (its id is fixed on replay). An
 * UPDATE of items.qty did not commute: DELETE ... WHERE qty > 3 made its
 * order matter, and replay diverged now and then. */
static enum outcome txn_multi_commit(struct w *w, const char *tok, long n)
{
	char tok2[32];
	long n2 = w->n++;
	TOK(tok2, w, n2);
	q(w, "SET autocommit = 0");
	if (w->err)
		return classify(w, false);
	int done = q(w,
		     "INSERT INTO acked (th, n, tok, ts, t6) VALUES (%d, %ld, '%s', UNIX_TIMESTAMP(), NOW(6)); "
		     "INSERT INTO events (item_id, th, n, tok, note, ts, t6) VALUES (0, %d, %ld, '%s', 'mid-query', "
		     "UNIX_TIMESTAMP(), NOW(6)); COMMIT; "
		     "INSERT INTO acked (th, n, tok, ts, t6) VALUES (%d, %ld, '%s', UNIX_TIMESTAMP(), NOW(6))",
		     w->id, n, tok, w->id, n, tok, w->id, n2, tok2);
	enum outcome first;
	if (done >= 3)
		first = OK_COMMITTED;
	else if (done == 2 && conn_lost(w->err))
		first = UNKNOWN; /* the COMMIT went, its answer did not come */
	else
		first = classify(w, false);
	if (first == OK_COMMITTED && !w->err) {
		enum outcome second;
		q(w, "UPDATE hot SET v = v + 3, tok = '%s' WHERE id = %d", tok2, 1 + pick(w, 4));
		if (w->err) {
			second = classify(w, false);
		} else {
			q(w, "COMMIT");
			second = w->err ? classify(w, true) : OK_COMMITTED;
		}
		ack(second == OK_COMMITTED ? 'A' : second == UNKNOWN ? 'U' : 'R', tok2);
		if (second == OK_COMMITTED)
			atomic_fetch_add(&commits, 1);
	} else if (done >= 2) {
		ack('R', tok2);
	}
	if (w->err && conn_lost(w->err))
		return first;
	unsigned saved = w->err;
	if (w->err)
		q(w, "ROLLBACK");
	q(w, "SET autocommit = 1");
	if (!w->err)
		w->err = saved;
	return first;
}

/* Thread 0: DDL, one of them the implicit commit of an open transaction. */
static enum outcome txn_ddl(struct w *w, const char *tok, long n)
{
	STEP("BEGIN");
	STEP("INSERT INTO acked (th, n, tok, ts, t6) VALUES (%d, %ld, '%s', UNIX_TIMESTAMP(), NOW(6))", w->id, n, tok);
	w->side++;
	w->acked_self = true;
	q(w, "CREATE TABLE side_%d (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(32), t6 DATETIME(6)) ENGINE=InnoDB",
	  w->side);
	if (w->err) {
		/* the implicit commit comes before the DDL runs: even a failed
		 * CREATE may have committed tok */
		ack('U', tok);
		atomic_fetch_add(&unknown, 1);
		return conn_lost(w->err) ? LOST : OK_COMMITTED;
	}
	/* acked is committed (implicitly); the rest is autocommit */
	ack('A', tok);
	atomic_fetch_add(&commits, 1);
	q(w, "INSERT INTO side_%d (v, t6) VALUES ('%s', NOW(6)), ('b', NOW(6))", w->side, tok);
	if (!w->err)
		q(w, "ALTER TABLE side_%d ADD COLUMN extra INT NOT NULL DEFAULT 7", w->side);
	if (!w->err)
		q(w, "INSERT INTO side_%d (v, t6, extra) VALUES ('c', NOW(6), 8)", w->side);
	if (!w->err && w->side > 2)
		q(w, "DROP TABLE IF EXISTS side_%d", w->side - 2);
	if (!w->err && chance(w, 30))
		q(w, "ALTER TABLE items COMMENT = 'altered by %s'", tok);
	if (w->err && conn_lost(w->err))
		return LOST; /* tok itself was acknowledged */
	w->err = 0;
	return OK_COMMITTED;
}

/* Prepared statements: bound int, string and datetime, one long-data. */
static enum outcome txn_prepared(struct w *w, const char *tok, long n)
{
	STEP("BEGIN");
	STEP("INSERT INTO acked (th, n, tok, ts, t6) VALUES (%d, %ld, '%s', UNIX_TIMESTAMP(), NOW(6))", w->id, n, tok);
	MYSQL_STMT *st = mysql_stmt_init(w->m);
	const char *sql = "INSERT INTO pstmt (th, n, tok, at, body, t6) VALUES (?, ?, ?, ?, ?, NOW(6))";
	enum outcome oc = OK_COMMITTED;
	if (!st || mysql_stmt_prepare(st, sql, (unsigned long)strlen(sql)) != 0)
		goto stmt_err;
	{
		MYSQL_BIND b[5];
		memset(b, 0, sizeof(b));
		int th = w->id;
		long long nn = n;
		char s[32];
		unsigned long slen = (unsigned long)snprintf(s, sizeof(s), "%s", tok);
		MYSQL_TIME t = {.year = 2020 + (unsigned)pick(w, 5), .month = 1 + (unsigned)pick(w, 12),
				.day = 1 + (unsigned)pick(w, 28), .hour = (unsigned)pick(w, 24),
				.minute = (unsigned)pick(w, 60), .second = (unsigned)pick(w, 60),
				.second_part = (unsigned long)pick(w, 1000000), .time_type = MYSQL_TIMESTAMP_DATETIME};
		b[0].buffer_type = MYSQL_TYPE_LONG, b[0].buffer = &th;
		b[1].buffer_type = MYSQL_TYPE_LONGLONG, b[1].buffer = &nn;
		b[2].buffer_type = MYSQL_TYPE_STRING, b[2].buffer = s, b[2].buffer_length = slen, b[2].length = &slen;
		b[3].buffer_type = MYSQL_TYPE_DATETIME, b[3].buffer = &t;
		b[4].buffer_type = MYSQL_TYPE_BLOB; /* sent as long data */
		if (mysql_stmt_bind_param(st, b) != 0)
			goto stmt_err;
		char chunk[1024];
		for (int k = 0; k < 3; k++) {
			pad(w, chunk, sizeof(chunk));
			if (mysql_stmt_send_long_data(st, 4, chunk, strlen(chunk)) != 0)
				goto stmt_err;
		}
		atomic_fetch_add(&statements, 1);
		if (mysql_stmt_execute(st) != 0)
			goto stmt_err;
		/* executed twice: a second row with other values */
		nn = -n;
		slen = (unsigned long)snprintf(s, sizeof(s), "%s-2", tok);
		if (mysql_stmt_send_long_data(st, 4, "second", 6) != 0 || mysql_stmt_execute(st) != 0)
			goto stmt_err;
	}
	mysql_stmt_close(st);
	q(w, "COMMIT");
	return w->err ? classify(w, true) : OK_COMMITTED;
stmt_err:
	w->err = st ? mysql_stmt_errno(st) : mysql_errno(w->m);
	snprintf(w->errmsg, sizeof(w->errmsg), "%s", st ? mysql_stmt_error(st) : mysql_error(w->m));
	note_error(w, sql);
	oc = classify(w, false);
	if (st)
		mysql_stmt_close(st);
	return oc;
}

static void *thread_main(void *arg)
{
	struct w *w = arg;
	if (!reconnect(w)) {
		atomic_fetch_add(&stopped_threads, 1);
		return NULL;
	}
	double until = t_start + o.seconds;
	long txns = 0;
	while (now() < until && (!o.max_txns || txns < o.max_txns)) {
		char tok[32];
		long n = w->n++;
		TOK(tok, w, n);
		int kind = pick(w, 100);
		bool on_purpose = false;
		enum outcome oc;
		int retries = 0;
	again:
		w->acked_self = false;
		if (w->id == 0 && o.ddl && kind < 4)
			oc = txn_ddl(w, tok, n);
		else if (o.prepared && kind < 14)
			oc = txn_prepared(w, tok, n);
		else if (kind < 22)
			oc = txn_multi_commit(w, tok, n);
		else if (kind < 50)
			oc = txn_autocommit(w, tok, n);
		else
			oc = txn_explicit(w, tok, n, &on_purpose);
		txns++;
		switch (oc) {
		case OK_COMMITTED:
			if (!w->acked_self)
				ack('A', tok), atomic_fetch_add(&commits, 1);
			break;
		case ROLLED_BACK:
			ack('R', tok);
			atomic_fetch_add(&rollbacks, 1);
			break;
		case DEADLOCK:
			ack('R', tok);
			atomic_fetch_add(&deadlocks, 1);
			q(w, "ROLLBACK");
			if (retries++ < 3 && !w->err) {
				n = w->n++;
				TOK(tok, w, n);
				goto again;
			}
			break;
		case REFUSED:
			ack('R', tok);
			atomic_fetch_add(&refused, 1);
			q(w, "ROLLBACK");
			break;
		case UNKNOWN:
		case LOST:
			if (oc == UNKNOWN)
				ack('U', tok), atomic_fetch_add(&unknown, 1);
			else if (!w->acked_self)
				ack('R', tok);
			atomic_fetch_add(&lost, 1);
			if (!reconnect(w)) {
				atomic_fetch_add(&stopped_threads, 1);
				return NULL;
			}
			break;
		case FAILED:
			ack('R', tok);
			atomic_fetch_add(&errors, 1);
			if (!conn_lost(w->err))
				q(w, "ROLLBACK");
			break;
		}
		/* a connection lost in a ROLLBACK or SET above */
		if (w->err && conn_lost(w->err) && now() < until) {
			atomic_fetch_add(&lost, 1);
			if (!reconnect(w)) {
				atomic_fetch_add(&stopped_threads, 1);
				return NULL;
			}
		}
	}
	if (w->m)
		mysql_close(w->m);
	w->m = NULL;
	return NULL;
}

static void usage(void)
{
	fprintf(stderr, "usage: acctgate_journal_workload --host H --port P --user U --password PW [--db D] [--ssl-ca CA]\n"
			"       [--threads N] [--seconds S] [--seed N] [--prepared 0|1] [--insert-ignore 0|1]\n"
			"       [--ddl 0|1] [--pad BYTES] [--ack-log FILE] [--reconnect-secs S] [--max-txns N]\n"
			"      \n");
	exit(2);
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			usage();
		i++;
		if (!strcmp(a, "--host")) o.host = v;
		else if (!strcmp(a, "--port")) o.port = (unsigned)atoi(v);
		else if (!strcmp(a, "--user")) o.user = v;
		else if (!strcmp(a, "--password")) o.password = v;
		else if (!strcmp(a, "--db")) o.db = v;
		else if (!strcmp(a, "--ssl-ca")) o.ssl_ca = v;
		else if (!strcmp(a, "--threads")) o.threads = atoi(v);
		else if (!strcmp(a, "--seconds")) o.seconds = atof(v);
		else if (!strcmp(a, "--seed")) o.seed = strtoul(v, NULL, 10);
		else if (!strcmp(a, "--prepared")) o.prepared = atoi(v) != 0;
		else if (!strcmp(a, "--insert-ignore")) o.insert_ignore = atoi(v) != 0;
		else if (!strcmp(a, "--ddl")) o.ddl = atoi(v) != 0;
		else if (!strcmp(a, "--pad")) o.pad = atoi(v);
		else if (!strcmp(a, "--ack-log")) o.ack_log = v;
		else if (!strcmp(a, "--reconnect-secs")) o.reconnect_secs = atof(v);
		else if (!strcmp(a, "--max-txns")) o.max_txns = atol(v);
		else usage();
	}
	if (!o.port || o.threads < 1 || o.threads > 256 || o.pad < 0 || o.pad > 200)
		usage();
	if (o.ack_log && !(ack_file = fopen(o.ack_log, "a"))) {
		fprintf(stderr, "workload: %s: %s\n", o.ack_log, strerror(errno));
		return 2;
	}
	mysql_library_init(0, NULL, NULL);
	struct w *ws = calloc((size_t)o.threads, sizeof(*ws));
	pthread_t *tids = calloc((size_t)o.threads, sizeof(*tids));
	t_start = now();
	for (int i = 0; i < o.threads; i++) {
		ws[i].id = i;
		ws[i].rng = (o.seed + 1) * 0x9e3779b97f4a7c15ull + (uint64_t)i * 0xbf58476d1ce4e5b9ull + 1;
		ws[i].n = 1;
		pthread_create(&tids[i], NULL, thread_main, &ws[i]);
	}
	for (int i = 0; i < o.threads; i++)
		pthread_join(tids[i], NULL);
	double wall = now() - t_start;
	printf("workload: threads %d seconds %.1f seed %lu prepared %d: commits %ld rollbacks %ld deadlocks %ld "
	       "refused %ld unknown %ld errors %ld duplicate_keys %ld lost_connections %ld reconnects %ld statements "
	       "%ld threads_given_up %ld\n",
	       o.threads, wall, o.seed, o.prepared, atomic_load(&commits), atomic_load(&rollbacks),
	       atomic_load(&deadlocks), atomic_load(&refused), atomic_load(&unknown), atomic_load(&errors),
	       atomic_load(&dup_keys), atomic_load(&lost), atomic_load(&reconnects) - o.threads,
	       atomic_load(&statements), atomic_load(&stopped_threads));
	if (ack_file)
		fclose(ack_file);
	free(ws);
	free(tids);
	mysql_library_end();
	return atomic_load(&stopped_threads) ? 1 : 0;
}
