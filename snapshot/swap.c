/*
 * swap.c - the last step of an in-place restore (snapshot.h): the restored
 * copy takes the live database's place in one RENAME TABLE.
 *
 * The restore itself ran beside the live database (restore_run INTO
 * DATABASE side). Here, while acctgate holds every client command:
 *
 *   1. refuse what RENAME TABLE cannot move between databases: views,
 *      tables with triggers, events (Slurm has none of them);
 *   2. make every restored table's AUTO_INCREMENT at least the live
 *      table's: ids handed out after the restored point are never handed
 *      out again, so a daemon that cached one (slurmctld keeps each job's
 *      job_db_inx) cannot update another row through it;
 *   3. one RENAME TABLE moves the live tables into the `old` database and
 *      the restored ones into the live name: atomic, metadata only;
 *   4. the stored routines follow (the live ones copied to `old` and
 *      dropped, the restored ones created in the live database, each
 *      under its own sql_mode and character set) and the emptied side
 *      database is dropped.
 *
 * Until step 3 nothing has changed; a failure after it leaves the data
 * restored and says what of step 4 is missing. The old tables and
 * routines stay in `old` until the admin drops it.
 */
#include "snapshot.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <mysql.h>

/* Slurm's database has two dozen tables per cluster. */
#define SWAP_TABLES_MAX 4096

struct swap_table {
	char name[65];
	unsigned long long auto_increment; /* 0: none */
};

static bool q(MYSQL *m, const char *sql, char *err, size_t err_len)
{
	if (mysql_query(m, sql) == 0) {
		MYSQL_RES *res = mysql_store_result(m);
		if (res)
			mysql_free_result(res);
		return true;
	}
	snprintf(err, err_len, "ERR %u: %s (in: %.300s)", mysql_errno(m), mysql_error(m), sql);
	return false;
}

/* The first column of the first row as a number; -1 on error. */
static long long count(MYSQL *m, const char *sql, char *err, size_t err_len)
{
	if (!q(m, "DO 0", err, err_len) || mysql_query(m, sql) != 0) {
		snprintf(err, err_len, "ERR %u: %s (in: %.300s)", mysql_errno(m), mysql_error(m), sql);
		return -1;
	}
	MYSQL_RES *res = mysql_store_result(m);
	MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
	long long n = row && row[0] ? strtoll(row[0], NULL, 10) : 0;
	if (res)
		mysql_free_result(res);
	return n;
}

/* Database names come from the snapshot's MANIFEST and the admin's
 * command, both limited to [A-Za-z0-9_$]: safe inside quotes and
 * backquotes as they are. */
static bool list_tables(MYSQL *m, const char *db, struct swap_table **out, size_t *n, char *err, size_t err_len)
{
	char sql[320];
	snprintf(sql, sizeof(sql),
		 "SELECT table_name, COALESCE(auto_increment, 0) FROM information_schema.tables "
		 "WHERE table_schema = '%s' AND table_type = 'BASE TABLE'",
		 db);
	if (mysql_query(m, sql) != 0) {
		snprintf(err, err_len, "listing the tables of %s: ERR %u: %s", db, mysql_errno(m), mysql_error(m));
		return false;
	}
	MYSQL_RES *res = mysql_store_result(m);
	if (!res) {
		snprintf(err, err_len, "listing the tables of %s: %s", db, mysql_error(m));
		return false;
	}
	size_t rows = mysql_num_rows(res);
	if (rows > SWAP_TABLES_MAX) {
		mysql_free_result(res);
		snprintf(err, err_len, "%s has %zu tables, more than an in-place restore moves (%d)", db, rows,
			 SWAP_TABLES_MAX);
		return false;
	}
	*out = calloc(rows ? rows : 1, sizeof(**out));
	if (!*out) {
		mysql_free_result(res);
		snprintf(err, err_len, "out of memory");
		return false;
	}
	*n = 0;
	MYSQL_ROW row;
	while ((row = mysql_fetch_row(res))) {
		snprintf((*out)[*n].name, sizeof((*out)[*n].name), "%s", row[0]);
		(*out)[(*n)++].auto_increment = strtoull(row[1], NULL, 10);
	}
	mysql_free_result(res);
	return true;
}

/* Step 1: what RENAME TABLE cannot take along. */
static bool movable(MYSQL *m, const char *db, char *err, size_t err_len)
{
	static const struct {
		const char *what, *sql;
	} checks[] = {
		{"views", "SELECT COUNT(*) FROM information_schema.views WHERE table_schema = '%s'"},
		{"triggers", "SELECT COUNT(*) FROM information_schema.triggers WHERE trigger_schema = '%s'"},
		{"events", "SELECT COUNT(*) FROM information_schema.events WHERE event_schema = '%s'"},
	};
	for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
		char sql[256];
		snprintf(sql, sizeof(sql), checks[i].sql, db);
		long long n = count(m, sql, err, err_len);
		if (n < 0)
			return false;
		if (n > 0) {
			snprintf(err, err_len,
				 "database %s has %lld %s, which RENAME TABLE cannot move between databases: restore "
				 "it INTO DATABASE instead; nothing was changed",
				 db, n, checks[i].what);
			return false;
		}
	}
	return true;
}

static const struct swap_table *find(const struct swap_table *t, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(t[i].name, name) == 0)
			return &t[i];
	return NULL;
}

/* Step 2. */
static bool keep_ids_ahead(MYSQL *m, const char *side, const struct swap_table *st, size_t ns,
			   const struct swap_table *lt, size_t nl, char *err, size_t err_len)
{
	for (size_t i = 0; i < ns; i++) {
		const struct swap_table *live = find(lt, nl, st[i].name);
		if (!live || !st[i].auto_increment || live->auto_increment <= st[i].auto_increment)
			continue;
		char sql[256];
		snprintf(sql, sizeof(sql), "ALTER TABLE `%s`.`%s` AUTO_INCREMENT = %llu", side, st[i].name,
			 live->auto_increment);
		if (!q(m, sql, err, err_len))
			return false;
	}
	return true;
}

/* Step 3: one statement, so a failure moves nothing. */
static bool rename_all(MYSQL *m, const char *live, const char *side, const char *old, const struct swap_table *lt,
		       size_t nl, const struct swap_table *st, size_t ns, char *err, size_t err_len)
{
	size_t cap = 64 + (nl + ns) * (2 * 64 + 3 * 66 + 16);
	char *sql = malloc(cap);
	if (!sql) {
		snprintf(err, err_len, "out of memory");
		return false;
	}
	size_t len = (size_t)snprintf(sql, cap, "RENAME TABLE");
	const char *sep = " ";
	for (size_t i = 0; i < nl; i++, sep = ", ")
		len += (size_t)snprintf(sql + len, cap - len, "%s`%s`.`%s` TO `%s`.`%s`", sep, live, lt[i].name, old,
					lt[i].name);
	for (size_t i = 0; i < ns; i++, sep = ", ")
		len += (size_t)snprintf(sql + len, cap - len, "%s`%s`.`%s` TO `%s`.`%s`", sep, side, st[i].name, live,
					st[i].name);
	bool ok = (nl + ns == 0) || q(m, sql, err, err_len);
	free(sql);
	return ok;
}

/* The routines of db: rows (type, name); NULL with err filled. */
static MYSQL_RES *list_routines(MYSQL *m, const char *db, char *err, size_t err_len)
{
	char sql[320];
	snprintf(sql, sizeof(sql),
		 "SELECT routine_type, routine_name FROM information_schema.routines WHERE routine_schema = '%s'", db);
	MYSQL_RES *list = mysql_query(m, sql) == 0 ? mysql_store_result(m) : NULL;
	if (!list)
		snprintf(err, err_len, "listing the routines of %s: %s", db, mysql_error(m));
	return list;
}

/* Step 4: the routines of `from` re-created in `to` (which has none of
 * the same names). */
static bool move_routines(MYSQL *m, const char *from, const char *to, char *err, size_t err_len)
{
	char sql[320];
	MYSQL_RES *list = list_routines(m, from, err, err_len);
	if (!list)
		return false;
	bool ok = mysql_select_db(m, to) == 0;
	if (!ok)
		snprintf(err, err_len, "USE %s: %s", to, mysql_error(m));
	MYSQL_ROW r;
	while (ok && (r = mysql_fetch_row(list))) {
		snprintf(sql, sizeof(sql), "SHOW CREATE %s `%s`.`%s`", r[0], from, r[1]);
		MYSQL_RES *res = NULL;
		MYSQL_ROW def = NULL;
		if (mysql_query(m, sql) == 0 && (res = mysql_store_result(m)))
			def = mysql_fetch_row(res);
		/* Columns: name, sql_mode, the CREATE text, character_set_client,
		 * collation_connection, the database's collation. The routine
		 * keeps the first four as it had them. */
		if (!def || mysql_num_fields(res) < 5 || !def[1] || !def[2] || !def[3] || !def[4]) {
			snprintf(err, err_len, "%s: %s", sql, mysql_error(m));
			ok = false;
		} else {
			char *create = strdup(def[2]);
			char mode[1400];
			snprintf(mode, sizeof(mode),
				 "SET SESSION sql_mode = '%.1100s', character_set_client = '%.64s', "
				 "collation_connection = '%.64s'",
				 def[1], def[3], def[4]);
			if (create)
				snapshot_strip_definer(create);
			ok = create && q(m, mode, err, err_len) && q(m, create, err, err_len);
			if (!create)
				snprintf(err, err_len, "out of memory");
			free(create);
		}
		if (res)
			mysql_free_result(res);
	}
	mysql_free_result(list);
	return ok;
}

static bool drop_routines(MYSQL *m, const char *db, char *err, size_t err_len)
{
	char sql[320];
	MYSQL_RES *list = list_routines(m, db, err, err_len);
	bool ok = list != NULL;
	MYSQL_ROW r;
	while (ok && (r = mysql_fetch_row(list))) {
		snprintf(sql, sizeof(sql), "DROP %s `%s`.`%s`", r[0], db, r[1]);
		ok = q(m, sql, err, err_len);
	}
	if (list)
		mysql_free_result(list);
	return ok;
}

bool restore_swap(const struct replay_options *conn, const char *live, const char *side, const char *old,
		  struct swap_result *res, char *err, size_t err_len)
{
	memset(res, 0, sizeof(*res));
	MYSQL *m = replay_connect(conn, err, err_len);
	if (!m)
		return false;
	struct swap_table *lt = NULL, *st = NULL;
	size_t nl = 0, ns = 0;
	char sql[256];
	snprintf(sql, sizeof(sql), "CREATE DATABASE `%s`", old);
	bool ok = movable(m, live, err, err_len) && movable(m, side, err, err_len) &&
		  list_tables(m, live, &lt, &nl, err, err_len) && list_tables(m, side, &st, &ns, err, err_len) &&
		  keep_ids_ahead(m, side, st, ns, lt, nl, err, err_len) && q(m, sql, err, err_len);
	if (ok && !rename_all(m, live, side, old, lt, nl, st, ns, err, err_len)) {
		ok = false;
		snprintf(sql, sizeof(sql), "DROP DATABASE `%s`", old);
		char ignored[256];
		q(m, sql, ignored, sizeof(ignored));
	}
	if (ok) {
		res->swapped = true;
		res->tables = ns;
		snprintf(sql, sizeof(sql), "DROP DATABASE `%s`", side);
		char step[768] = "";
		if (!move_routines(m, live, old, step, sizeof(step)) || !drop_routines(m, live, step, sizeof(step)) ||
		    !move_routines(m, side, live, step, sizeof(step)) ||
		    !q(m, sql, step, sizeof(step))) {
			snprintf(err, err_len,
				 "the tables are restored, but moving the stored routines from %s failed: %s", side, step);
			ok = false;
		}
	}
	free(lt);
	free(st);
	mysql_close(m);
	return ok;
}

bool restore_drop_database(const struct replay_options *conn, const char *db, char *err, size_t err_len)
{
	MYSQL *m = replay_connect(conn, err, err_len);
	if (!m)
		return false;
	char sql[128];
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS `%s`", db);
	bool ok = q(m, sql, err, err_len);
	mysql_close(m);
	return ok;
}

bool snapshot_database(const char *snapshot_dir, char *db, size_t db_len, char *err, size_t err_len)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/MANIFEST", snapshot_dir);
	FILE *f = fopen(path, "re");
	if (!f) {
		snprintf(err, err_len, "%s: %s", path, strerror(errno));
		return false;
	}
	char line[512], name[65];
	int found = 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "database %64s", name) == 1 && found++ == 0)
			snprintf(db, db_len, "%s", name);
	fclose(f);
	if (found != 1)
		snprintf(err, err_len, "an in-place restore needs a snapshot of one database; this one has %d", found);
	return found == 1;
}
