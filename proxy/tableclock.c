/*
 * tableclock.c - see tableclock.h.
 *
 * Workers read and add entries under one mutex (a lookup is a hash probe
 * per table a write names); the thread takes requests from a FIFO under
 * the same mutex and asks the server with the lock released. A request
 * carries the generation it was made in: an answer that comes back after
 * a forget (a DDL went through meanwhile) is dropped, not stored.
 */
#include "tableclock.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mysql.h>
#include <openssl/crypto.h>

#include "log.h"

#define TABLECLOCK_BUCKETS 1024

enum table_state {
	TS_UNKNOWN, /* asked, no answer yet (or the last ask failed) */
	TS_FREE,    /* reads no clock */
	TS_CLOCK,   /* may read the clock, or is not a base table we can see */
};

struct table_entry {
	struct table_entry *next;   /* in its bucket */
	enum table_state state;
	time_t next_check;          /* ask again from then on (if not queued) */
	bool queued;
	char db[SQL_NAME_MAX], table[SQL_NAME_MAX];
};

struct lookup_req {
	struct lookup_req *next;
	uint64_t generation;
	char db[SQL_NAME_MAX], table[SQL_NAME_MAX];
};

struct tableclock {
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	/* Under lock. */
	bool stop;
	struct table_entry *buckets[TABLECLOCK_BUCKETS];
	size_t ntables;
	uint64_t generation;
	int ddl_in_flight;
	struct lookup_req *head, *tail;
	bool unsupported;           /* not MariaDB: nothing is ever free */
	/* The thread's own. */
	struct replay_account acct; /* acct.conn: the server and account */
	MYSQL *m;
	time_t retry_at;
	bool failing_logged;
};

static size_t bucket_of(const char *db, const char *table)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (const char *p = db; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	h = (h ^ 0xff) * 1099511628211ull;
	for (const char *p = table; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	return (size_t)(h % TABLECLOCK_BUCKETS);
}

static struct table_entry *find(struct tableclock *tc, const char *db, const char *table)
{
	for (struct table_entry *e = tc->buckets[bucket_of(db, table)]; e; e = e->next)
		if (!strcmp(e->db, db) && !strcmp(e->table, table))
			return e;
	return NULL;
}

static void queue_lookup(struct tableclock *tc, struct table_entry *e)
{
	struct lookup_req *r = malloc(sizeof(*r));
	if (!r)
		return; /* asked again at the next write to it */
	r->next = NULL;
	r->generation = tc->generation;
	memcpy(r->db, e->db, sizeof(r->db));
	memcpy(r->table, e->table, sizeof(r->table));
	if (tc->tail)
		tc->tail->next = r;
	else
		tc->head = r;
	tc->tail = r;
	e->queued = true;
	pthread_cond_signal(&tc->wake);
}

/* Under lock: one table's state, asking for it when due. */
static enum table_state table_state(struct tableclock *tc, const char *db, const char *table, time_t now)
{
	struct table_entry *e = find(tc, db, table);
	if (!e) {
		if (tc->ntables >= TABLECLOCK_TABLES_MAX || !(e = calloc(1, sizeof(*e))))
			return TS_UNKNOWN;
		memcpy(e->db, db, strlen(db) + 1);
		memcpy(e->table, table, strlen(table) + 1);
		size_t b = bucket_of(db, table);
		e->next = tc->buckets[b];
		tc->buckets[b] = e;
		tc->ntables++;
	}
	if (!e->queued && now >= e->next_check)
		queue_lookup(tc, e);
	return e->state;
}

bool tableclock_all_free(struct tableclock *tc, const char *db, const struct sql_tables *t)
{
	time_t now = time(NULL);
	bool all_free = true;
	pthread_mutex_lock(&tc->lock);
	if (tc->unsupported || tc->ddl_in_flight > 0)
		all_free = false;
	for (size_t i = 0; i < t->n && all_free; i++) {
		const char *d = t->t[i].db[0] ? t->t[i].db : db;
		if (!d || !d[0] || table_state(tc, d, t->t[i].table, now) != TS_FREE)
			all_free = false;
	}
	pthread_mutex_unlock(&tc->lock);
	return all_free;
}

/* Under lock: drop every entry; answers asked for before are stale. */
static void forget_all(struct tableclock *tc)
{
	for (size_t b = 0; b < TABLECLOCK_BUCKETS; b++) {
		for (struct table_entry *e = tc->buckets[b], *next; e; e = next) {
			next = e->next;
			free(e);
		}
		tc->buckets[b] = NULL;
	}
	tc->ntables = 0;
	tc->generation++;
}

void tableclock_ddl_begin(struct tableclock *tc)
{
	pthread_mutex_lock(&tc->lock);
	tc->ddl_in_flight++;
	forget_all(tc);
	pthread_mutex_unlock(&tc->lock);
}

void tableclock_ddl_end(struct tableclock *tc)
{
	pthread_mutex_lock(&tc->lock);
	if (tc->ddl_in_flight > 0)
		tc->ddl_in_flight--;
	forget_all(tc);
	pthread_mutex_unlock(&tc->lock);
}

/* ---- the thread ------------------------------------------------------------- */

/*
 * One row per table: its type, its triggers, and its columns whose default
 * is not a constant or that have ON UPDATE. MariaDB writes a string
 * default quoted ('x'), a number as digits, no default as NULL, and an
 * expression unquoted (current_timestamp(), curdate(), uuid()): anything
 * but the first three may read the clock. Any TIMESTAMP column counts
 * too: with explicit_defaults_for_timestamp off, a NULL written to one
 * that is NOT NULL stores the current time, whatever its default.
 */
static const char lookup_sql[] =
	"SELECT t.TABLE_TYPE, "
	"(SELECT COUNT(*) FROM information_schema.TRIGGERS g WHERE g.EVENT_OBJECT_SCHEMA = t.TABLE_SCHEMA "
	"AND g.EVENT_OBJECT_TABLE = t.TABLE_NAME), "
	"(SELECT COUNT(*) FROM information_schema.COLUMNS c WHERE c.TABLE_SCHEMA = t.TABLE_SCHEMA "
	"AND c.TABLE_NAME = t.TABLE_NAME AND (c.DATA_TYPE = 'timestamp' OR c.EXTRA LIKE '%%on update%%' "
	"OR NOT (c.COLUMN_DEFAULT IS NULL "
	"OR c.COLUMN_DEFAULT = 'NULL' OR c.COLUMN_DEFAULT LIKE '''%%' "
	"OR c.COLUMN_DEFAULT REGEXP '^-?[0-9]+([.][0-9]+)?(e[-+]?[0-9]+)?$'))) "
	"FROM information_schema.TABLES t WHERE t.TABLE_SCHEMA = '%s' AND t.TABLE_NAME = '%s'";

static void lost(struct tableclock *tc, const char *what)
{
	if (!tc->failing_logged)
		log_warning("journal: cannot learn which tables read the clock (%s): every write gets its time "
			    "fixed until this works (retried every %d s)",
			    what, TABLECLOCK_RETRY_SECONDS);
	tc->failing_logged = true;
	if (tc->m)
		mysql_close(tc->m);
	tc->m = NULL;
	tc->retry_at = time(NULL) + TABLECLOCK_RETRY_SECONDS;
}

static bool connect_server(struct tableclock *tc)
{
	if (tc->m)
		return true;
	if (time(NULL) < tc->retry_at)
		return false;
	char err[512];
	tc->m = replay_connect(&tc->acct.conn, err, sizeof(err));
	if (!tc->m) {
		lost(tc, err);
		return false;
	}
	if (!strstr(mysql_get_server_info(tc->m), "MariaDB")) {
		log_notice("journal: %s is not MariaDB: every write gets its time fixed (tables' clock use is "
			   "learned from MariaDB's information_schema only)",
			   tc->acct.conn.host);
		pthread_mutex_lock(&tc->lock);
		tc->unsupported = true;
		pthread_mutex_unlock(&tc->lock);
		mysql_close(tc->m);
		tc->m = NULL;
		return false;
	}
	if (tc->failing_logged)
		log_notice("journal: learning which tables read the clock again");
	tc->failing_logged = false;
	return true;
}

/* The server's answer for one table; TS_UNKNOWN when it could not be asked. */
static enum table_state ask(struct tableclock *tc, const char *db, const char *table)
{
	if (!connect_server(tc))
		return TS_UNKNOWN;
	char edb[2 * SQL_NAME_MAX + 1], etable[2 * SQL_NAME_MAX + 1];
	mysql_real_escape_string(tc->m, edb, db, strlen(db));
	mysql_real_escape_string(tc->m, etable, table, strlen(table));
	char sql[sizeof(lookup_sql) + sizeof(edb) + sizeof(etable)];
	snprintf(sql, sizeof(sql), lookup_sql, edb, etable);
	if (mysql_query(tc->m, sql) != 0) {
		char why[600];
		snprintf(why, sizeof(why), "information_schema: %s", mysql_error(tc->m));
		lost(tc, why);
		return TS_UNKNOWN;
	}
	MYSQL_RES *res = mysql_store_result(tc->m);
	MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
	/* No row: no such base table that this user can see (a temporary
	 * table, a CTE's name, a missing grant): not free. */
	enum table_state st = TS_CLOCK;
	if (row && row[0] && row[1] && row[2] && !strcmp(row[0], "BASE TABLE") && !strcmp(row[1], "0") &&
	    !strcmp(row[2], "0"))
		st = TS_FREE;
	if (res)
		mysql_free_result(res);
	return st;
}

static void *tableclock_main(void *arg)
{
	struct tableclock *tc = arg;
	mysql_thread_init();
	pthread_mutex_lock(&tc->lock);
	while (!tc->stop) {
		struct lookup_req *r = tc->head;
		if (!r) {
			pthread_cond_wait(&tc->wake, &tc->lock);
			continue;
		}
		tc->head = r->next;
		if (!tc->head)
			tc->tail = NULL;
		bool stale = r->generation != tc->generation || tc->unsupported;
		pthread_mutex_unlock(&tc->lock);
		enum table_state st = stale ? TS_UNKNOWN : ask(tc, r->db, r->table);
		time_t now = time(NULL);
		pthread_mutex_lock(&tc->lock);
		struct table_entry *e = r->generation == tc->generation ? find(tc, r->db, r->table) : NULL;
		if (e) {
			e->queued = false;
			if (st == TS_UNKNOWN) {
				e->next_check = now + TABLECLOCK_RETRY_SECONDS;
			} else {
				e->state = st;
				e->next_check = now + TABLECLOCK_REFRESH_SECONDS;
			}
		}
		free(r);
	}
	pthread_mutex_unlock(&tc->lock);
	if (tc->m)
		mysql_close(tc->m);
	tc->m = NULL;
	mysql_thread_end();
	return NULL;
}

struct tableclock *tableclock_new(const struct replay_options *conn, char *err, size_t err_len)
{
	struct tableclock *tc = calloc(1, sizeof(*tc));
	if (!tc || pthread_mutex_init(&tc->lock, NULL) != 0) {
		free(tc);
		snprintf(err, err_len, "journal: out of memory");
		return NULL;
	}
	pthread_cond_init(&tc->wake, NULL);
	replay_account_copy(&tc->acct, conn);
	int e = pthread_create(&tc->thread, NULL, tableclock_main, tc);
	if (e) {
		snprintf(err, err_len, "journal: cannot start the thread that learns tables' clock use: %s",
			 strerror(e));
		tableclock_free(tc);
		return NULL;
	}
	tc->started = true;
	return tc;
}

void tableclock_free(struct tableclock *tc)
{
	if (!tc)
		return;
	if (tc->started) {
		pthread_mutex_lock(&tc->lock);
		tc->stop = true;
		pthread_cond_signal(&tc->wake);
		pthread_mutex_unlock(&tc->lock);
		pthread_join(tc->thread, NULL);
	}
	pthread_mutex_lock(&tc->lock);
	forget_all(tc);
	for (struct lookup_req *r = tc->head, *next; r; r = next) {
		next = r->next;
		free(r);
	}
	tc->head = tc->tail = NULL;
	pthread_mutex_unlock(&tc->lock);
	OPENSSL_cleanse(tc->acct.password, sizeof(tc->acct.password));
	pthread_cond_destroy(&tc->wake);
	pthread_mutex_destroy(&tc->lock);
	free(tc);
}
