/*
 * contention_txn.c - what one simulated slurmdbd session sends, and what it
 * does when the server says no.
 *
 * The transactions (autocommit=0, an explicit COMMIT each, a COM_PING
 * before each as slurmdbd sends before a request; "c" is the cluster):
 *
 *   assoc   sacctmgr add (or, when it is there, remove) a user's
 *           association under an account in c. Upserts into the shared
 *           acct_table and, for two hot users in random order, user_table;
 *           SELECT ... FOR UPDATE of the account's and the user's rows in
 *           the tree; the nested-set shift (rgt and lft, one query of two
 *           statements) and the association's upsert or delete; a
 *           txn_table row. Two users' rows taken in either order by
 *           clusters at once: the cross-cluster deadlock.
 *   job     slurmctld's job start (the upsert with
 *           job_db_inx=LAST_INSERT_ID(job_db_inx)) and the completion of a
 *           job started 8 jobs earlier (UPDATE).
 *   rollup  the hourly rollup of the current "hour" (10 s of wall clock
 *           here): two INSERT ... SELECT ... GROUP BY ... ON DUPLICATE KEY
 *           UPDATE alloc_secs=@ASUM from the job table (shared next-key
 *           locks on every job row read), then last_ran_table.
 *   purge   the archive/purge pass: mark ended jobs (UPDATE ... LIMIT
 *           50000), delete them (DELETE ... ORDER BY time_submit LIMIT
 *           50000) and c's old txn_table rows (no index: the scan locks
 *           every cluster's rows). Slurm commits after each statement;
 *           here they are one transaction, so that a loss there shows.
 *
 * On errors, as slurmdbd does (notes/slurmdbd-on-the-wire.md):
 *   1213   re-send the same query and carry on, up to CT_RESENDS times,
 *          then exit. InnoDB rolled back the whole transaction: the
 *          queries before the failed one are lost, without notice.
 *   1205   fatal(): the session ends (its connection is closed at once,
 *          which rolls its transaction back).
 *   lost connection: the transaction is gone (in doubt when its COMMIT was
 *          sent); the session reconnects, as slurmdbd does on its next
 *          request, and goes on.
 *   other  the request fails: ROLLBACK, the transaction is abandoned.
 */
#include <errno.h>
#include <mysqld_error.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "contention.h"

double ct_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* How a query (or a whole transaction) ended, for the caller to act on. */
enum step {
	STEP_OK,      /* done; go on */
	STEP_ABANDON, /* an error slurmdbd gives up the request for: roll back */
	STEP_GONE,    /* the connection was lost */
	STEP_STOP,    /* slurmdbd would exit: the session ends */
};

/* One transaction in flight. */
struct txn {
	long n;              /* the token's n */
	int markers;         /* writing queries acknowledged so far (the next marker's stmt is markers + 1) */
	int live;            /* of those, the ones the server's current transaction still holds */
	bool lossy;          /* a 1213 rolled back markers already written */
	struct ct_rows rows; /* the last query's first rows */
};

static uint64_t rnd(struct ct_session *s)
{
	/* xorshift64* */
	s->rng ^= s->rng >> 12;
	s->rng ^= s->rng << 25;
	s->rng ^= s->rng >> 27;
	return s->rng * 2685821657736338717ull;
}

static int pick(struct ct_session *s, int n) { return (int)(rnd(s) % (uint64_t)n); }

static void note(struct ct_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct ct_session *s, const char *fmt, ...)
{
	if (s->why[0])
		return; /* the first one says the most */
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->why, sizeof(s->why), fmt, ap);
	va_end(ap);
}

/* The session ends as slurmdbd would; the reason replaces any earlier note. */
static void stop(struct ct_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void stop(struct ct_session *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->why, sizeof(s->why), fmt, ap);
	va_end(ap);
	s->stopped = true;
}

static void count_other(struct ct_session *s, unsigned code)
{
	s->err_other++;
	for (int i = 0; i < CT_ERR_CODES; i++) {
		if (s->other[i].code == code || s->other[i].code == 0) {
			s->other[i].code = code;
			s->other[i].count++;
			return;
		}
	}
}

/*
 * Send one query of transaction t, with its ledger marker appended when
 * marked, and deal with its errors as slurmdbd does (the file's header).
 */
static enum step exec(struct ct_session *s, struct txn *t, bool marked, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static enum step exec(struct ct_session *s, struct txn *t, bool marked, const char *fmt, ...)
{
	char sql[CT_SQL_MAX];
	va_list ap;
	va_start(ap, fmt);
	int len = vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	if (len >= 0 && marked)
		len += snprintf(sql + len, sizeof(sql) - (size_t)len,
				";INSERT INTO \"%s_ledger\" (sess, n, stmt) VALUES (%d, %ld, %d)", s->cname, s->id, t->n,
				t->markers + 1);
	if (len < 0 || (size_t)len >= sizeof(sql)) {
		snprintf(s->err, sizeof(s->err), "query too long: %.80s", sql);
		s->stopped = true;
		return STEP_STOP;
	}
	for (int resend = 0;; resend++) {
		unsigned e = ct_query(s->m, sql, &t->rows);
		if (e == 0) {
			if (marked)
				t->markers++, t->live++;
			return STEP_OK;
		}
		if (e == ER_LOCK_DEADLOCK) {
			s->err_deadlock++;
			if (t->live > 0)
				t->lossy = true;
			t->live = 0;
			if (resend < CT_RESENDS)
				continue;
			stop(s, "%d deadlocks in a row on: %.100s", resend + 1, sql);
			return STEP_STOP;
		}
		if (e == ER_LOCK_WAIT_TIMEOUT) {
			s->err_timeout++;
			stop(s, "ERR 1205 (%s) on: %.100s", mysql_error(s->m), sql);
			return STEP_STOP;
		}
		count_other(s, e);
		note(s, "ERR %u (%s) on: %.100s", e, mysql_error(s->m), sql);
		if (ct_conn_lost(e)) {
			s->disconnects++;
			return STEP_GONE;
		}
		return STEP_ABANDON;
	}
}

/* Run a query of the transaction; leave the function on anything but OK. */
#define DO(marked, ...)                                                                                            \
	do {                                                                                                       \
		enum step st_ = exec(s, t, (marked), __VA_ARGS__);                                                 \
		if (st_ != STEP_OK)                                                                                \
			return st_;                                                                                \
	} while (0)

static enum step txn_assoc(struct ct_session *s, struct txn *t)
{
	const char *c = s->cname, *sh = s->shared;
	long long now = (long long)time(NULL);
	int a = pick(s, CT_ACCOUNTS), hot = s->o->hot_users;
	int u1 = pick(s, hot), u2 = (u1 + 1 + pick(s, hot - 1)) % hot;
	DO(true,
	   "INSERT INTO %sacct_table (creation_time, mod_time, name, description, organization) VALUES (%lld, "
	   "%lld, 'a%d', 'a%d', 'org') ON DUPLICATE KEY UPDATE deleted=0, mod_time=VALUES(mod_time)",
	   sh, now, now, a, a);
	DO(true,
	   "INSERT INTO %suser_table (creation_time, mod_time, name, admin_level) VALUES (%lld, %lld, 'u%d', 1) "
	   "ON DUPLICATE KEY UPDATE deleted=0, mod_time=VALUES(mod_time), admin_level=VALUES(admin_level)",
	   sh, now, now, u1);
	DO(true,
	   "INSERT INTO %suser_table (creation_time, mod_time, name, admin_level) VALUES (%lld, %lld, 'u%d', 1) "
	   "ON DUPLICATE KEY UPDATE deleted=0, mod_time=VALUES(mod_time), admin_level=VALUES(admin_level)",
	   sh, now, now, u2);
	DO(false,
	   "SELECT id_assoc, lft, rgt FROM \"%s_assoc_table\" WHERE acct = 'a%d' AND user IN ('', 'u%d') "
	   "ORDER BY user FOR UPDATE",
	   c, a, u1);
	struct ct_rows found = t->rows;
	bool remove = found.n == 2;
	if (remove) {
		long long id = found.v[1][0], rgt = found.v[1][2];
		DO(true, "DELETE FROM \"%s_assoc_table\" WHERE id_assoc = %lld", c, id);
		DO(true,
		   "UPDATE \"%s_assoc_table\" SET rgt = rgt - 2 WHERE rgt > %lld; UPDATE \"%s_assoc_table\" SET lft "
		   "= lft - 2 WHERE lft > %lld",
		   c, rgt, c, rgt);
	} else if (found.n == 1) {
		long long prgt = found.v[0][2];
		DO(true,
		   "UPDATE \"%s_assoc_table\" SET rgt = rgt + 2 WHERE rgt >= %lld; UPDATE \"%s_assoc_table\" SET lft "
		   "= lft + 2 WHERE lft > %lld",
		   c, prgt, c, prgt);
		DO(true,
		   "INSERT INTO \"%s_assoc_table\" (creation_time, mod_time, user, acct, parent_acct, lft, rgt) "
		   "VALUES (%lld, %lld, 'u%d', 'a%d', 'a%d', %lld, %lld) ON DUPLICATE KEY UPDATE deleted=0, "
		   "id_assoc=LAST_INSERT_ID(id_assoc), mod_time=VALUES(mod_time), lft=VALUES(lft), rgt=VALUES(rgt)",
		   c, now, now, u1, a, a, prgt, prgt + 1);
	}
	DO(true,
	   "INSERT INTO %stxn_table (\"timestamp\", action, name, actor, cluster, info) VALUES (%lld, %d, 'u%d', "
	   "'root', '%s', 'acct=a%d')",
	   sh, now, remove ? 1412 : 1411, u1, c, a);
	return STEP_OK;
}

static enum step txn_job(struct ct_session *s, struct txn *t)
{
	const char *c = s->cname;
	long long now = (long long)time(NULL);
	long j = ++s->jobs;
	/* job ids of different sessions of a cluster never meet */
	long long id_job = 1000000LL * (s->id + 1) + j;
	int a = pick(s, CT_ACCOUNTS);
	DO(true,
	   "INSERT INTO \"%s_job_table\" (mod_time, account, cpus_req, id_assoc, id_job, job_name, state, "
	   "time_submit, time_start) VALUES (UNIX_TIMESTAMP(), 'a%d', %d, %d, %lld, 'job%lld', 1, %lld, %lld) "
	   "ON DUPLICATE KEY UPDATE job_db_inx=LAST_INSERT_ID(job_db_inx), state=VALUES(state), "
	   "time_start=VALUES(time_start), mod_time=UNIX_TIMESTAMP()",
	   c, a, 1 + pick(s, 64), 2 + a, id_job, id_job, now, now);
	if (j > 8)
		DO(true,
		   "UPDATE \"%s_job_table\" SET time_end = %lld, state = 3, mod_time = UNIX_TIMESTAMP() WHERE id_job "
		   "= %lld AND time_end = 0",
		   c, now, id_job - 8);
	return STEP_OK;
}

static enum step txn_rollup(struct ct_session *s, struct txn *t)
{
	const char *c = s->cname;
	long long now = (long long)time(NULL), h = now - now % 10, h2 = h + 10;
	/* id_tres 1 (cpu) and 2 (mem), the way Slurm rolls up per TRES */
	for (int tres = 1; tres <= 2; tres++)
		DO(true,
		   "INSERT INTO \"%s_assoc_usage_hour_table\" (creation_time, mod_time, id, id_tres, time_start, "
		   "alloc_secs) SELECT %lld, %lld, id_assoc, %d, %lld, @ASUM:=SUM(cpus_req * %d * (CAST(LEAST(IF("
		   "time_end = 0, %lld, time_end), %lld) AS SIGNED) - CAST(GREATEST(time_start, %lld) AS SIGNED))) "
		   "FROM \"%s_job_table\" WHERE deleted = 0 AND time_start < %lld AND (time_end = 0 OR time_end > "
		   "%lld) GROUP BY id_assoc ON DUPLICATE KEY UPDATE mod_time=%lld, alloc_secs=@ASUM",
		   c, now, now, tres, h, tres == 1 ? 1 : 1024, h2, h2, h, c, h2, h, now);
	DO(true, "UPDATE \"%s_last_ran_table\" SET hourly_rollup = %lld", c, h);
	return STEP_OK;
}

static enum step txn_purge(struct ct_session *s, struct txn *t)
{
	const char *c = s->cname;
	long long cut = (long long)time(NULL) - 5;
	DO(true,
	   "UPDATE \"%s_job_table\" SET deleted = 1 WHERE deleted = 0 AND time_end != 0 AND time_end <= %lld "
	   "LIMIT 50000",
	   c, cut);
	DO(true, "DELETE FROM \"%s_job_table\" WHERE deleted = 1 AND time_submit <= %lld ORDER BY time_submit LIMIT 50000",
	   c, cut);
	DO(true, "DELETE FROM %stxn_table WHERE \"timestamp\" <= %lld && cluster = '%s' LIMIT 50000", s->shared, cut,
	   c);
	return STEP_OK;
}

static enum step (*const kinds[CT_KINDS])(struct ct_session *, struct txn *) = {
	[CT_ASSOC] = txn_assoc,
	[CT_JOB] = txn_job,
	[CT_ROLLUP] = txn_rollup,
	[CT_PURGE] = txn_purge,
};

static enum ct_kind pick_kind(struct ct_session *s)
{
	int total = 0;
	for (int k = 0; k < CT_KINDS; k++)
		total += s->o->mix[k];
	int r = pick(s, total);
	for (int k = 0; k < CT_KINDS; k++) {
		if (r < s->o->mix[k])
			return (enum ct_kind)k;
		r -= s->o->mix[k];
	}
	return CT_ASSOC;
}

/* A new token: its n, or -1 (out of memory, s->err says so). */
static long new_token(struct ct_session *s)
{
	if (s->ntokens == 0)
		s->ntokens = 1; /* n counts from 1 */
	if (s->ntokens >= s->captokens) {
		size_t cap = s->captokens ? s->captokens * 2 : 4096;
		struct ct_token *tk = realloc(s->tokens, cap * sizeof(*tk));
		if (!tk) {
			snprintf(s->err, sizeof(s->err), "out of memory for %zu tokens", cap);
			return -1;
		}
		s->tokens = tk;
		s->captokens = cap;
	}
	s->tokens[s->ntokens] = (struct ct_token){.fate = CT_UNACKED};
	return (long)s->ntokens++;
}

static bool keep_latency(struct ct_session *s, double ms)
{
	if (s->nlat == s->caplat) {
		size_t cap = s->caplat ? s->caplat * 2 : 4096;
		double *l = realloc(s->lat_ms, cap * sizeof(*l));
		if (!l) {
			snprintf(s->err, sizeof(s->err), "out of memory for %zu latencies", cap);
			return false;
		}
		s->lat_ms = l;
		s->caplat = cap;
	}
	s->lat_ms[s->nlat++] = ms;
	return true;
}

/* After a lost connection: connect again for up to 10 s, or stop. */
static bool reconnect(struct ct_session *s)
{
	mysql_close(s->m);
	s->m = NULL;
	double until = ct_now() + 10;
	char err[200];
	while (!(s->m = ct_connect(s->o, s->port, s->db, true, err, sizeof(err)))) {
		if (ct_now() > until) {
			stop(s, "cannot reconnect: %s", err);
			return false;
		}
		usleep(100000);
	}
	return true;
}

void ct_session_run(struct ct_session *s, double deadline)
{
	while (!s->stopped && ct_now() < deadline) {
		if (mysql_ping(s->m) != 0) {
			count_other(s, mysql_errno(s->m));
			note(s, "ping: ERR %u (%s)", mysql_errno(s->m), mysql_error(s->m));
			s->disconnects++;
			if (!reconnect(s))
				break;
		}
		struct txn t = {.n = new_token(s)};
		if (t.n < 0) {
			s->stopped = true;
			break;
		}
		s->attempted++;
		double t0 = ct_now();
		enum step st = kinds[pick_kind(s)](s, &t);
		bool commit_sent = st == STEP_OK;
		if (commit_sent)
			st = exec(s, &t, false, "COMMIT");
		struct ct_token *tk = &s->tokens[t.n];
		switch (st) {
		case STEP_OK:
			tk->fate = t.lossy ? CT_ACKED_LOSSY : CT_ACKED;
			tk->markers = (uint8_t)t.markers;
			s->acked++;
			s->lossy += t.lossy;
			if (!keep_latency(s, (ct_now() - t0) * 1000))
				s->stopped = true;
			break;
		case STEP_ABANDON:
			s->abandoned++;
			if (ct_query(s->m, "ROLLBACK", NULL) != 0)
				reconnect(s); /* closing rolls back; it stops the session if it fails */
			break;
		case STEP_GONE:
			if (commit_sent) {
				tk->fate = CT_INDOUBT;
				s->indoubt++;
			} else {
				s->abandoned++;
			}
			reconnect(s);
			break;
		case STEP_STOP:
			s->abandoned++;
			break;
		}
	}
	/* slurmdbd exits: its connection closes, and the server rolls back
	 * what it held, at once rather than when the run ends */
	if (s->m)
		mysql_close(s->m);
	s->m = NULL;
}
