/*
 * contention_schema.c - the tables the contention harness writes, made
 * afresh (dropped first) before every run.
 *
 * They follow Slurm 22.05's (src/plugins/accounting_storage/mysql/
 * accounting_storage_mysql.c, as_mysql_*.c) in what decides locking:
 * primary and secondary keys, the nested set's lft/rgt with an index on
 * lft only (so a shift of rgt scans, and locks, the whole table), txn_table
 * without a secondary index (so a purge of one cluster's rows locks every
 * cluster's). Columns that play no part in locking are left out.
 *
 *   <database>                 shared: acct_table, user_table, txn_table
 *   <database> or <database>_c cluster c ("c1", "c2", ...):
 *       "c_assoc_table"             the association tree (nested set)
 *       "c_job_table"               jobs
 *       "c_assoc_usage_hour_table"  the hourly rollup's output
 *       "c_last_ran_table"          when the rollup last ran
 *       "c_ledger"                  the harness's own markers (contention.h)
 *
 * Seed per cluster: root and CT_ACCOUNTS accounts in the tree, 500 jobs
 * that ended a day ago (for the first purge), 100 old txn_table rows.
 * The hot users u0..u(hot_users-1) exist in user_table from the start.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "contention.h"

void ct_cluster_db(const struct ct_opts *o, int c, char *out, size_t cap)
{
	if (o->per_cluster_db)
		snprintf(out, cap, "%s_c%d", o->database, c);
	else
		snprintf(out, cap, "%s", o->database);
}

struct setup {
	MYSQL *m;
	char *err;
	size_t errlen;
	bool failed;
};

/* One statement of the set-up; after a failure the rest are skipped. */
static void run(struct setup *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void run(struct setup *st, const char *fmt, ...)
{
	char sql[CT_SQL_MAX];
	if (st->failed)
		return;
	va_list ap;
	va_start(ap, fmt);
	int len = vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	if (len < 0 || (size_t)len >= sizeof(sql)) {
		snprintf(st->err, st->errlen, "schema: statement too long: %.80s", sql);
		st->failed = true;
		return;
	}
	if (ct_query(st->m, sql, NULL) != 0) {
		snprintf(st->err, st->errlen, "schema: ERR %u %s on: %.160s", mysql_errno(st->m), mysql_error(st->m),
			 sql);
		st->failed = true;
	}
}

static void shared_tables(struct setup *st, const struct ct_opts *o)
{
	const char *db = o->database;
	run(st,
	    "CREATE TABLE \"%s\".acct_table (creation_time BIGINT UNSIGNED NOT NULL, mod_time BIGINT UNSIGNED "
	    "NOT NULL DEFAULT 0, deleted TINYINT DEFAULT 0, name TINYTEXT NOT NULL, description TEXT NOT NULL, "
	    "organization TEXT NOT NULL, PRIMARY KEY (name(42))) ENGINE=InnoDB",
	    db);
	run(st,
	    "CREATE TABLE \"%s\".user_table (creation_time BIGINT UNSIGNED NOT NULL, mod_time BIGINT UNSIGNED "
	    "NOT NULL DEFAULT 0, deleted TINYINT DEFAULT 0, name TINYTEXT NOT NULL, admin_level SMALLINT NOT NULL "
	    "DEFAULT 1, PRIMARY KEY (name(42))) ENGINE=InnoDB",
	    db);
	run(st,
	    "CREATE TABLE \"%s\".txn_table (id INT NOT NULL AUTO_INCREMENT, \"timestamp\" BIGINT UNSIGNED DEFAULT 0 "
	    "NOT NULL, action SMALLINT NOT NULL, name TEXT NOT NULL, actor TINYTEXT NOT NULL, cluster TINYTEXT "
	    "NOT NULL DEFAULT '', info BLOB, PRIMARY KEY (id)) ENGINE=InnoDB",
	    db);
	run(st, "INSERT INTO \"%s\".acct_table (creation_time, mod_time, name, description, organization) VALUES "
		"(1, 1, 'root', 'default root account', 'root')",
	    db);
	for (int a = 0; a < CT_ACCOUNTS; a++)
		run(st, "INSERT INTO \"%s\".acct_table (creation_time, mod_time, name, description, organization) "
			"VALUES (1, 1, 'a%d', 'a%d', 'org')",
		    db, a, a);
	for (int u = 0; u < o->hot_users; u++)
		run(st, "INSERT INTO \"%s\".user_table (creation_time, mod_time, name) VALUES (1, 1, 'u%d')", db, u);
}

static void cluster_tables(struct setup *st, const struct ct_opts *o, int c)
{
	char db[96];
	ct_cluster_db(o, c, db, sizeof(db));
	long long now = (long long)time(NULL);
	run(st,
	    "CREATE TABLE \"%s\".\"c%d_assoc_table\" (creation_time BIGINT UNSIGNED NOT NULL, mod_time BIGINT "
	    "UNSIGNED NOT NULL DEFAULT 0, deleted TINYINT DEFAULT 0, is_def TINYINT DEFAULT 0 NOT NULL, id_assoc "
	    "INT UNSIGNED NOT NULL AUTO_INCREMENT, user TINYTEXT NOT NULL DEFAULT '', acct TINYTEXT NOT NULL, "
	    "\"partition\" TINYTEXT NOT NULL DEFAULT '', parent_acct TINYTEXT NOT NULL DEFAULT '', lft INT NOT "
	    "NULL, rgt INT NOT NULL, shares INT DEFAULT 1 NOT NULL, PRIMARY KEY (id_assoc), UNIQUE INDEX udex "
	    "(user(42), acct(42), \"partition\"(42)), KEY lft (lft), KEY account (acct(42))) ENGINE=InnoDB",
	    db, c);
	run(st,
	    "CREATE TABLE \"%s\".\"c%d_job_table\" (job_db_inx BIGINT UNSIGNED NOT NULL AUTO_INCREMENT, mod_time "
	    "BIGINT UNSIGNED DEFAULT 0 NOT NULL, deleted TINYINT DEFAULT 0 NOT NULL, account TINYTEXT, cpus_req "
	    "INT UNSIGNED NOT NULL, id_assoc INT UNSIGNED NOT NULL, id_job INT UNSIGNED NOT NULL, job_name "
	    "TINYTEXT NOT NULL, state INT UNSIGNED NOT NULL, time_submit BIGINT UNSIGNED DEFAULT 0 NOT NULL, "
	    "time_start BIGINT UNSIGNED DEFAULT 0 NOT NULL, time_end BIGINT UNSIGNED DEFAULT 0 NOT NULL, PRIMARY "
	    "KEY (job_db_inx), UNIQUE INDEX (id_job, time_submit), KEY rollup (time_start, time_end), KEY rollup2 "
	    "(time_end, time_start), KEY purge_time (time_submit, time_end)) ENGINE=InnoDB",
	    db, c);
	run(st,
	    "CREATE TABLE \"%s\".\"c%d_assoc_usage_hour_table\" (creation_time BIGINT UNSIGNED NOT NULL, mod_time "
	    "BIGINT UNSIGNED DEFAULT 0 NOT NULL, deleted TINYINT DEFAULT 0 NOT NULL, id INT UNSIGNED NOT NULL, "
	    "id_tres INT DEFAULT 1 NOT NULL, time_start BIGINT UNSIGNED NOT NULL, alloc_secs BIGINT UNSIGNED "
	    "DEFAULT 0 NOT NULL, PRIMARY KEY (id, id_tres, time_start)) ENGINE=InnoDB",
	    db, c);
	run(st,
	    "CREATE TABLE \"%s\".\"c%d_last_ran_table\" (hourly_rollup BIGINT UNSIGNED DEFAULT 0 NOT NULL, "
	    "daily_rollup BIGINT UNSIGNED DEFAULT 0 NOT NULL, monthly_rollup BIGINT UNSIGNED DEFAULT 0 NOT NULL, "
	    "PRIMARY KEY (hourly_rollup, daily_rollup, monthly_rollup)) ENGINE=InnoDB",
	    db, c);
	run(st,
	    "CREATE TABLE \"%s\".\"c%d_ledger\" (sess SMALLINT UNSIGNED NOT NULL, n INT UNSIGNED NOT NULL, stmt "
	    "TINYINT UNSIGNED NOT NULL, PRIMARY KEY (sess, n, stmt)) ENGINE=InnoDB",
	    db, c);

	/* the tree: root [1, 2 + 2 * CT_ACCOUNTS], account a at [2 + 2a, 3 + 2a] */
	run(st,
	    "INSERT INTO \"%s\".\"c%d_assoc_table\" (creation_time, mod_time, acct, lft, rgt) VALUES (1, 1, "
	    "'root', 1, %d)",
	    db, c, 2 + 2 * CT_ACCOUNTS);
	for (int a = 0; a < CT_ACCOUNTS; a++)
		run(st,
		    "INSERT INTO \"%s\".\"c%d_assoc_table\" (creation_time, mod_time, acct, parent_acct, lft, rgt) "
		    "VALUES (1, 1, 'a%d', 'root', %d, %d)",
		    db, c, a, 2 + 2 * a, 3 + 2 * a);
	run(st, "INSERT INTO \"%s\".\"c%d_last_ran_table\" VALUES (0, 0, 0)", db, c);

	/* 500 jobs ended a day ago, 50 per statement */
	for (int batch = 0; batch < 10; batch++) {
		char values[CT_SQL_MAX / 2];
		size_t len = 0;
		for (int j = 0; j < 50 && len < sizeof(values); j++) {
			int id = batch * 50 + j + 1;
			long long t = now - 86400 + id;
			len += (size_t)snprintf(values + len, sizeof(values) - len,
						"%s(%lld, 'a%d', 1, %d, %d, 'seed', 3, %lld, %lld, %lld)", j ? ", " : "",
						t, id % CT_ACCOUNTS, 2 + id % CT_ACCOUNTS, id, t, t, t + 60);
		}
		if (len >= sizeof(values)) {
			snprintf(st->err, st->errlen, "schema: seed jobs do not fit in %zu bytes", sizeof(values));
			st->failed = true;
			return;
		}
		run(st,
		    "INSERT INTO \"%s\".\"c%d_job_table\" (mod_time, account, cpus_req, id_assoc, id_job, job_name, "
		    "state, time_submit, time_start, time_end) VALUES %s",
		    db, c, values);
	}
	for (int k = 0; k < 100; k++)
		run(st,
		    "INSERT INTO \"%s\".txn_table (\"timestamp\", action, name, actor, cluster, info) VALUES (%lld, "
		    "1405, 'a%d', 'root', 'c%d', 'seed')",
		    o->database, now - 86400 + k, k % CT_ACCOUNTS, c);
}

int ct_schema_create(const struct ct_opts *o, char *err, size_t errlen)
{
	struct setup st = {.err = err, .errlen = errlen};
	st.m = ct_connect(o, o->port, NULL, false, err, errlen);
	if (!st.m)
		return -1;
	run(&st, "SET session sql_mode='ANSI_QUOTES,NO_ENGINE_SUBSTITUTION'");
	run(&st, "DROP DATABASE IF EXISTS \"%s\"", o->database);
	run(&st, "CREATE DATABASE \"%s\"", o->database);
	if (o->per_cluster_db) {
		for (int c = 1; c <= o->clusters; c++) {
			char db[96];
			ct_cluster_db(o, c, db, sizeof(db));
			run(&st, "DROP DATABASE IF EXISTS \"%s\"", db);
			run(&st, "CREATE DATABASE \"%s\"", db);
		}
	}
	shared_tables(&st, o);
	for (int c = 1; c <= o->clusters; c++)
		cluster_tables(&st, o, c);
	mysql_close(st.m);
	return st.failed ? -1 : 0;
}
