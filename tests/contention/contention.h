/*
 * contention.h - the contention harness (acctgate_contention, issue 11):
 * N simulated Slurm clusters, each with sessions shaped like slurmdbd's,
 * writing Slurm-shaped transactions into one MariaDB at once, and a check
 * of the final state against what the sessions were acknowledged.
 *
 * Files:
 *   contention_load.c    options, the sessions' threads, the summary line
 *   contention_sql.c     connecting as slurmdbd does, running one query
 *   contention_schema.c  the Slurm-like schema and its seed rows
 *   contention_txn.c     the transactions and slurmdbd's error behaviour
 *   contention_check.c   the ledger check (which acknowledged transactions
 *                        lost effects) and its self-check
 *
 * Tokens and the ledger. A transaction's token is (session, n): n counts
 * the session's transactions from 1. Every query of a transaction that
 * writes carries, as the last statement of the same multi-statement query,
 *   INSERT INTO "<c>_ledger" (sess, n, stmt) VALUES (<session>, <n>, <k>)
 * (k numbers the transaction's writing queries from 1), so the marker and
 * the write it marks stand or fall together: a deadlock rolls back the
 * whole transaction, marker included, and nothing else in the workload
 * rolls back a statement alone without ending the session. After the run,
 * an acknowledged transaction whose ledger holds fewer than its k markers
 * lost effects; a marker of a transaction never acknowledged is a phantom
 * (an effect that should not be there). The client also knows, from the
 * errors it saw, which transactions should have lost effects (a 1213 after
 * markers were written): the check reports both, and they must agree.
 */
#ifndef ACCTGATE_CONTENTION_H
#define ACCTGATE_CONTENTION_H

#include <mysql.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CT_MAX_CLUSTERS 64
#define CT_MAX_SESSIONS 256
#define CT_ACCOUNTS 4       /* accounts under root, in every cluster */
#define CT_RESENDS 10       /* slurmdbd re-sends a deadlocked query up to 10 times, then exits */
#define CT_SQL_MAX 8192     /* one query's text */
#define CT_ERR_CODES 8      /* distinct "other" error codes counted per session */

/* The transaction kinds, drawn by --mix weights. */
enum ct_kind {
	CT_ASSOC,  /* sacctmgr add/remove user: shared upserts, nested-set shift under FOR UPDATE */
	CT_JOB,    /* slurmctld job start and completion: job upsert, job update */
	CT_ROLLUP, /* hourly rollup: INSERT ... SELECT ... ON DUPLICATE KEY UPDATE, last_ran */
	CT_PURGE,  /* purge: UPDATE ... LIMIT, DELETE ... LIMIT 50000, txn_table purge */
	CT_KINDS
};

struct ct_opts {
	const char *host, *user, *password;
	const char *database; /* shared tables; the clusters' tables too unless per_cluster_db */
	const char *ssl_ca;   /* TLS with the server's certificate verified against it */
	unsigned port;        /* set-up and check; the sessions' too unless cluster_ports */
	unsigned cluster_ports[CT_MAX_CLUSTERS]; /* cluster c's sessions connect to [c - 1] (0: port) */
	bool ssl;             /* TLS without verification (slurmdbd's StorageParameters) */
	bool per_cluster_db;  /* cluster c's tables in database "<database>_c" */
	bool self_check;      /* after the check, tamper with the ledger and check again */
	int clusters, sessions_per_cluster, hot_users;
	int lock_wait_timeout; /* session innodb_lock_wait_timeout; 0 = the server's */
	double seconds;
	unsigned long seed;
	int mix[CT_KINDS];
};

/* What the session knows of one of its transactions once it is over. */
enum ct_fate {
	CT_UNACKED = 0, /* never acknowledged (abandoned, rolled back): no marker may remain */
	CT_ACKED,       /* COMMIT answered OK and the session saw no loss */
	CT_ACKED_LOSSY, /* COMMIT answered OK after a 1213 had rolled back markers already written */
	CT_INDOUBT,     /* COMMIT sent, connection lost before its answer: either way */
};

struct ct_token {
	uint8_t fate;    /* enum ct_fate */
	uint8_t markers; /* writing queries acknowledged as part of it */
	uint8_t present; /* markers found by the check */
};

struct ct_errcount {
	unsigned code;
	long count;
};

/* One session (one thread). Figures are the session's own, summed by main. */
struct ct_session {
	const struct ct_opts *o;
	int id;             /* 0 .. sessions-1, the ledger's sess */
	int cluster;        /* 1 .. clusters */
	char cname[16];     /* "c<cluster>": table prefix and txn_table's cluster */
	char db[96];        /* the session's database */
	unsigned port;      /* where it connects */
	char shared[100];   /* prefix of shared tables: "" or "\"<database>\"." */
	MYSQL *m;
	uint64_t rng;
	long jobs;          /* jobs this session has started */

	struct ct_token *tokens; /* indexed by n; [0] unused */
	size_t ntokens, captokens;
	double *lat_ms;          /* acknowledged transactions' latencies */
	size_t nlat, caplat;

	long attempted, acked, abandoned, lossy, indoubt;
	long err_deadlock, err_timeout, err_other, disconnects;
	struct ct_errcount other[CT_ERR_CODES];
	bool stopped;            /* the session ended before the run did */
	char why[200];           /* why it stopped, else its first error */
	char err[200];           /* a harness failure (cannot connect, out of memory) */
};

/* ---- contention_sql.c ---- */

/* Connect to o->host:port, database db, as slurmdbd does
 * (CLIENT_MULTI_STATEMENTS, no reconnect, 30 s connect timeout) and, when
 * slurm_session, set autocommit=0 and slurmdbd's sql_mode. NULL with err
 * filled on failure. */
MYSQL *ct_connect(const struct ct_opts *o, unsigned port, const char *db, bool slurm_session, char *err,
		  size_t errlen);

/* Up to 2 rows of up to 3 integer columns from a query's first result set. */
struct ct_rows {
	int n;
	long long v[2][3];
};

/* Run one query (one or more statements), draining every result; rows
 * (may be NULL) gets the first result set's first rows. 0 when every
 * statement succeeded, else the first error's code (its text in m). */
unsigned ct_query(MYSQL *m, const char *sql, struct ct_rows *rows);

/* True for the client-side codes of a lost connection. */
bool ct_conn_lost(unsigned code);

/* ---- contention_schema.c ---- */

/* Drop and create the shared and every cluster's tables, with seed rows.
 * 0 on success; -1 with err filled. */
int ct_schema_create(const struct ct_opts *o, char *err, size_t errlen);

/* The database holding cluster c's tables (c from 1). */
void ct_cluster_db(const struct ct_opts *o, int c, char *out, size_t cap);

/* ---- contention_txn.c ---- */

/* Run the session's transactions until deadline (CLOCK_MONOTONIC seconds),
 * or until it stops as slurmdbd would. The session is connected. */
void ct_session_run(struct ct_session *s, double deadline);

/* Seconds on CLOCK_MONOTONIC. */
double ct_now(void);

/* ---- contention_check.c ---- */

struct ct_verdict {
	long acked;           /* acknowledged transactions (lossy ones included) */
	long lost;            /* acknowledged, some marker missing */
	long lost_expected;   /* acknowledged after a 1213 rolled back written markers */
	long lost_statements; /* markers missing in all */
	long mismatch;        /* tokens where lost and lost_expected disagree */
	long phantom;         /* markers of transactions never acknowledged */
	long indoubt_present; /* in-doubt transactions that did commit */
};

/* Read every cluster's ledger and compare it with the sessions' tokens
 * (their present counts are overwritten). 0, or -1 with err filled. */
int ct_check(const struct ct_opts *o, struct ct_session *ss, int nsess, struct ct_verdict *v, char *err,
	     size_t errlen);

/* Delete one marker of a complete acknowledged transaction and add one of
 * a transaction that does not exist, then check again: the verdict must
 * move by exactly one lost and one phantom. 0 when it did, -1 (err says
 * how not) otherwise. Leaves the ledger tampered with. */
int ct_self_check(const struct ct_opts *o, struct ct_session *ss, int nsess, const struct ct_verdict *before,
		  char *err, size_t errlen);

#endif
