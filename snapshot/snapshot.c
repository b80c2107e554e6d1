/*
 * snapshot.c - taking and verifying snapshots (snapshot.h).
 *
 * The dump: `threads` connections, each with its own REPEATABLE READ view
 * opened inside the cut; the units of work are the tables, a large one cut
 * into chunks of its key (snapshot.h), taken largest first by whichever
 * connection is free next, each streamed row by row (mysql_use_result)
 * through zstd into its file, so memory stays a row and a compression
 * window whatever the table size. The schema is read before the rows and
 * again after them: a table whose definition changed meanwhile (DDL during
 * the dump, which no consistent-snapshot transaction isolates) fails the
 * snapshot, clearly, rather than giving a wrong one.
 */
#include "snapshot.h"

#include <errno.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mysql.h>
#include <zstd.h>

#include "journal.h"
#include "manifest.h"

/* A fast negative level: a dump is CPU-bound on the server's side and
 * ours together, and zstd is most of ours. Measured dumping 1,000,000
 * Slurm jobs (336 MB of rows) with two connections: level 1 1.76 s of our
 * CPU for 41 MiB of files, -1 1.64 s for 54 MiB, -3 1.49 s for 64 MiB
 * (mydumper, writing 362 MiB uncompressed: 1.45 s; the server spends
 * 3.4 s either way). */
#define ZSTD_LEVEL (-3)

struct table {
	char db[65], name[65];
	char *create;               /* SHOW CREATE TABLE, before the rows */
	char key[65];               /* its primary key's first column if an integer, else "" */
	bool key_unsigned;
	uint64_t estimate;          /* information_schema's rows */
	size_t first, nchunks;      /* its chunks: dump.chunks[first ..] */
};

/* One file: a table, or one range of its key. */
struct chunk {
	size_t table;
	char path[MANIFEST_PATH_MAX]; /* relative to the snapshot */
	char lo[24], hi[24];        /* key >= lo and key < hi; "" = open */
	uint64_t estimate;          /* rows, for the order of the work */
	uint64_t rows, bytes;
	uint32_t crc;
};

struct dump {
	const struct snapshot_options *o;
	struct table *tables;
	size_t ntables;
	struct chunk *chunks;
	size_t nchunks;
	struct chunk **order;       /* the chunks, largest first */
	size_t next;                /* in order */
	pthread_mutex_t lock;
	char err[512];              /* the first failure */
	uint64_t rows, bytes;
	struct timespec started;
};

static double since(const struct timespec *t)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t->tv_sec) + (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

static void fail(struct dump *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct dump *d, const char *fmt, ...)
{
	pthread_mutex_lock(&d->lock);
	if (!d->err[0]) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(d->err, sizeof(d->err), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&d->lock);
}

/* ---- cancellation ---------------------------------------------------------- */

#define CANCELLED "cancelled (acctgate is stopping)"

void snapshot_cancel_init(struct snapshot_cancel *c)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
}

void snapshot_cancel_destroy(struct snapshot_cancel *c)
{
	pthread_mutex_destroy(&c->lock);
}

void snapshot_cancel(struct snapshot_cancel *c)
{
	pthread_mutex_lock(&c->lock);
	c->cancelled = true;
	for (int i = 0; i < SNAPSHOT_THREADS_MAX; i++)
		if (c->conns[i])
			mariadb_cancel(c->conns[i]);
	pthread_mutex_unlock(&c->lock);
}

static bool cancelled(const struct snapshot_options *o)
{
	if (!o->cancel)
		return false;
	pthread_mutex_lock(&o->cancel->lock);
	bool c = o->cancel->cancelled;
	pthread_mutex_unlock(&o->cancel->lock);
	return c;
}

/* Connection i is open (m) or about to be closed (NULL): what
 * snapshot_cancel shuts down. False when the snapshot was cancelled
 * already: m is not to be used. */
static bool track(const struct snapshot_options *o, int i, MYSQL *m)
{
	if (!o->cancel)
		return true;
	pthread_mutex_lock(&o->cancel->lock);
	bool ok = !m || !o->cancel->cancelled;
	o->cancel->conns[i] = ok ? m : NULL;
	pthread_mutex_unlock(&o->cancel->lock);
	return ok;
}

static bool q(MYSQL *m, const char *sql, char *err, size_t err_len)
{
	if (mysql_query(m, sql) == 0)
		return true;
	snprintf(err, err_len, "%s: ERR %u: %s", sql, mysql_errno(m), mysql_error(m));
	return false;
}

/* ---- zstd-compressed files -------------------------------------------- */

struct zfile {
	FILE *f;
	ZSTD_CCtx *z;
	uint8_t out[1 << 16];
	uint8_t in[1 << 17];
	size_t in_len;
	uint32_t crc;               /* of the uncompressed bytes, taken a buffer at a time */
	uint64_t bytes;
	bool error;
};

static bool zflush(struct zfile *zf, ZSTD_EndDirective mode)
{
	zf->crc = journal_crc32c(zf->crc, zf->in, zf->in_len);
	zf->bytes += zf->in_len;
	ZSTD_inBuffer in = {zf->in, zf->in_len, 0};
	for (;;) {
		ZSTD_outBuffer out = {zf->out, sizeof(zf->out), 0};
		size_t left = ZSTD_compressStream2(zf->z, &out, &in, mode);
		if (ZSTD_isError(left) || fwrite(zf->out, 1, out.pos, zf->f) != out.pos)
			return false;
		if (mode == ZSTD_e_end ? left == 0 : in.pos == in.size)
			break;
	}
	zf->in_len = 0;
	return true;
}

/* Room for n (at most the buffer's size) more bytes, compressing what is
 * buffered when there is not; false once writing failed. */
static bool zroom(struct zfile *zf, size_t n)
{
	if (sizeof(zf->in) - zf->in_len >= n)
		return true;
	if (!zf->error && !zflush(zf, ZSTD_e_continue))
		zf->error = true;
	return !zf->error;
}

static void zbyte(struct zfile *zf, uint8_t c)
{
	if (zroom(zf, 1))
		zf->in[zf->in_len++] = c;
}

/* What follows the backslash for a byte LOAD DATA's default format
 * escapes; 0 for the others. */
static const uint8_t escape_as[256] = {['\\'] = '\\', ['\t'] = 't', ['\n'] = 'n', [0] = '0'};

/* Does the 8-byte word hold a byte that is escaped? (A zero byte of w ^ b
 * for each one: the classic has-zero-byte test, 8 bytes at a time, since
 * most fields have none.) */
static bool word_escapes(uint64_t w)
{
	const uint64_t ones = UINT64_C(0x0101010101010101), highs = UINT64_C(0x8080808080808080);
	uint64_t t = w ^ (ones * '\t'), n = w ^ (ones * '\n'), b = w ^ (ones * '\\');
	return (((w - ones) & ~w) | ((t - ones) & ~t) | ((n - ones) & ~n) | ((b - ones) & ~b)) & highs;
}

/* n bytes escaped to o, which has room for 2 * n (every byte escaped);
 * the end of what was written. */
static uint8_t *escape(uint8_t *o, const uint8_t *p, size_t n)
{
	size_t i = 0;
	for (uint64_t w; i + 8 <= n; i += 8) {
		memcpy(&w, p + i, 8);
		if (!word_escapes(w)) {
			memcpy(o, &w, 8);
			o += 8;
			continue;
		}
		for (size_t k = i; k < i + 8; k++) {
			uint8_t e = escape_as[p[k]];
			*o = e ? '\\' : p[k];
			o[1] = e;
			o += e ? 2 : 1;
		}
	}
	for (; i < n; i++) {
		uint8_t e = escape_as[p[i]];
		*o = e ? '\\' : p[i];
		o[1] = e;
		o += e ? 2 : 1;
	}
	return o;
}

/* One field in LOAD DATA's default escaping (NULL as \N), in pieces of
 * half the buffer, which always fit once it is flushed. */
static void zwrite_field(struct zfile *zf, const char *v, unsigned long len)
{
	if (!v) {
		zbyte(zf, '\\');
		zbyte(zf, 'N');
		return;
	}
	const uint8_t *p = (const uint8_t *)v;
	while (len) {
		size_t piece = len < sizeof(zf->in) / 2 ? len : sizeof(zf->in) / 2;
		if (!zroom(zf, 2 * piece))
			return;
		zf->in_len = (size_t)(escape(zf->in + zf->in_len, p, piece) - zf->in);
		p += piece;
		len -= piece;
	}
}

/* One row: its fields tab-separated, a newline after. In one pass when its
 * worst case (every byte escaped) fits the buffer, as a row nearly always
 * does; else a field at a time. */
static void zwrite_row(struct zfile *zf, MYSQL_ROW row, const unsigned long *len, unsigned n)
{
	size_t worst = n + 1;
	for (unsigned i = 0; i < n; i++)
		worst += row[i] ? 2 * (size_t)len[i] : 2;
	if (worst <= sizeof(zf->in) && zroom(zf, worst)) {
		uint8_t *o = zf->in + zf->in_len;
		for (unsigned i = 0; i < n; i++) {
			if (i)
				*o++ = '\t';
			if (row[i]) {
				o = escape(o, (const uint8_t *)row[i], len[i]);
			} else {
				*o++ = '\\';
				*o++ = 'N';
			}
		}
		*o++ = '\n';
		zf->in_len = (size_t)(o - zf->in);
		return;
	}
	for (unsigned i = 0; i < n; i++) {
		if (i)
			zbyte(zf, '\t');
		zwrite_field(zf, row[i], len[i]);
	}
	zbyte(zf, '\n');
}

/* ---- one chunk ------------------------------------------------------------ */

static void dump_chunk(struct dump *d, MYSQL *m, struct chunk *c)
{
	const struct table *t = &d->tables[c->table];
	char path[1024];
	snprintf(path, sizeof(path), "%s/data/%s", d->o->dir, t->db);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/%s", d->o->dir, c->path);
	struct zfile *zf = calloc(1, sizeof(*zf));
	if (!zf || !(zf->f = fopen(path, "wxe")) || !(zf->z = ZSTD_createCCtx())) {
		fail(d, "%s: %s", path, zf && !zf->f ? strerror(errno) : "out of memory");
		goto out;
	}
	ZSTD_CCtx_setParameter(zf->z, ZSTD_c_compressionLevel, ZSTD_LEVEL);
	char where[256] = "", sql[512];
	if (c->lo[0] && c->hi[0])
		snprintf(where, sizeof(where), " WHERE `%s` >= %s AND `%s` < %s", t->key, c->lo, t->key, c->hi);
	else if (c->lo[0])
		snprintf(where, sizeof(where), " WHERE `%s` >= %s", t->key, c->lo);
	else if (c->hi[0])
		snprintf(where, sizeof(where), " WHERE `%s` < %s", t->key, c->hi);
	snprintf(sql, sizeof(sql), "SELECT * FROM `%s`.`%s`%s", t->db, t->name, where);
	char why[768];
	if (!q(m, sql, why, sizeof(why))) {
		unsigned e = mysql_errno(m);
		/* ER_NO_SUCH_TABLE, ER_TABLE_DEF_CHANGED: DDL since the view opened. */
		if (e == 1146 || e == 1412)
			fail(d,
			     "table %s.%s was dropped or changed during the snapshot (DDL, which no consistent snapshot "
			     "isolates); take it again",
			     t->db, t->name);
		else
			fail(d, "%s", why);
		goto out;
	}
	MYSQL_RES *res = mysql_use_result(m);
	if (!res) {
		fail(d, "%s: %s", sql, mysql_error(m));
		goto out;
	}
	unsigned nf = mysql_num_fields(res);
	MYSQL_ROW row;
	while ((row = mysql_fetch_row(res))) {
		zwrite_row(zf, row, mysql_fetch_lengths(res), nf);
		c->rows++;
	}
	if (mysql_errno(m))
		fail(d, "%s: reading rows: %s", sql, mysql_error(m));
	mysql_free_result(res);
	if (zf->error || !zflush(zf, ZSTD_e_end) || fflush(zf->f) != 0 || fsync(fileno(zf->f)) != 0)
		fail(d, "%s: %s", path, strerror(errno ? errno : EIO));
	c->bytes = zf->bytes;
	c->crc = zf->crc;
	pthread_mutex_lock(&d->lock);
	d->rows += c->rows;
	d->bytes += c->bytes;
	pthread_mutex_unlock(&d->lock);
out:
	if (zf) {
		if (zf->f)
			fclose(zf->f);
		ZSTD_freeCCtx(zf->z);
		free(zf);
	}
}

struct worker_arg {
	struct dump *d;
	MYSQL *m;
	pthread_t thread;
};

static void *dump_worker(void *arg)
{
	struct worker_arg *w = arg;
	struct dump *d = w->d;
	for (;;) {
		pthread_mutex_lock(&d->lock);
		struct chunk *c = d->next < d->nchunks && !d->err[0] ? d->order[d->next++] : NULL;
		pthread_mutex_unlock(&d->lock);
		if (c && cancelled(d->o)) {
			fail(d, CANCELLED);
			c = NULL;
		}
		if (!c)
			break;
		dump_chunk(d, w->m, c);
		if (d->o->progress) {
			pthread_mutex_lock(&d->lock);
			fprintf(stderr, "\rsnapshot: %zu/%zu files, %llu rows, %.1f s", d->next, d->nchunks,
				(unsigned long long)d->rows, since(&d->started));
			fflush(stderr);
			pthread_mutex_unlock(&d->lock);
		}
	}
	return NULL;
}

/* ---- schema ---------------------------------------------------------------- */

/* The databases to dump: the list given, or every non-system one. */
static bool list_databases(MYSQL *m, const char *wanted, char (**dbs)[65], size_t *n, char *err, size_t err_len)
{
	if (!q(m, "SELECT schema_name FROM information_schema.schemata WHERE schema_name NOT IN "
		  "('mysql', 'information_schema', 'performance_schema', 'sys', 'acctgate') ORDER BY schema_name",
	       err, err_len))
		return false;
	MYSQL_RES *res = mysql_store_result(m);
	if (!res) {
		snprintf(err, err_len, "listing databases: %s", mysql_error(m));
		return false;
	}
	*n = 0;
	*dbs = calloc(mysql_num_rows(res) + 1, sizeof(**dbs));
	MYSQL_ROW row;
	while (*dbs && (row = mysql_fetch_row(res))) {
		bool take = !wanted || !wanted[0];
		if (!take) {
			/* ",a,b," contains ",name," */
			char needle[70], hay[1024];
			snprintf(needle, sizeof(needle), ",%s,", row[0]);
			snprintf(hay, sizeof(hay), ",%s,", wanted);
			take = strstr(hay, needle) != NULL;
		}
		if (take)
			snprintf((*dbs)[(*n)++], 65, "%s", row[0]);
	}
	mysql_free_result(res);
	if (!*dbs) {
		snprintf(err, err_len, "out of memory");
		return false;
	}
	if (*n == 0) {
		snprintf(err, err_len, "no database to snapshot%s%s", wanted && wanted[0] ? " among " : "",
			 wanted ? wanted : "");
		return false;
	}
	return true;
}

/* A result's rows, each passed to fn. */
static bool each_row(MYSQL *m, const char *sql, bool (*fn)(void *arg, MYSQL_ROW row, unsigned long *len), void *arg,
		     char *err, size_t err_len)
{
	if (!q(m, sql, err, err_len))
		return false;
	MYSQL_RES *res = mysql_store_result(m);
	if (!res) {
		snprintf(err, err_len, "%s: %s", sql, mysql_error(m));
		return false;
	}
	MYSQL_ROW row;
	bool ok = true;
	while (ok && (row = mysql_fetch_row(res)))
		ok = fn(arg, row, mysql_fetch_lengths(res));
	mysql_free_result(res);
	return ok;
}

/* SHOW CREATE ... answers the statement in column `col`. */
static char *show_create(MYSQL *m, const char *sql, unsigned col, char *err, size_t err_len)
{
	if (!q(m, sql, err, err_len))
		return NULL;
	MYSQL_RES *res = mysql_store_result(m);
	MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
	char *text = row && mysql_num_fields(res) > col && row[col] ? strdup(row[col]) : NULL;
	if (!text)
		snprintf(err, err_len, "%s: no definition", sql);
	if (res)
		mysql_free_result(res);
	return text;
}

/* A table's CREATE TABLE; one dropped (or rebuilt) since it was listed
 * is DDL during the snapshot, which the admin answers by taking another. */
static char *show_create_table(MYSQL *m, const char *db, const char *name, char *err, size_t err_len)
{
	char sql[256];
	snprintf(sql, sizeof(sql), "SHOW CREATE TABLE `%s`.`%s`", db, name);
	char *text = show_create(m, sql, 1, err, err_len);
	unsigned e = text ? 0 : mysql_errno(m);
	if (e == 1146 || e == 1412)
		snprintf(err, err_len,
			 "table %s.%s was dropped or changed during the snapshot (DDL, which no consistent snapshot "
			 "isolates); take it again",
			 db, name);
	return text;
}

struct collect {
	struct dump *d;
	const char *db;
	size_t cap;
};

/* A row of the table list: name, estimated rows, and the primary key's
 * first column with its data_type and column_type (empty without one). */
static bool add_table(void *arg, MYSQL_ROW row, unsigned long *len)
{
	struct collect *c = arg;
	struct dump *d = c->d;
	if (d->ntables == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 32;
		struct table *p = realloc(d->tables, cap * sizeof(*p));
		if (!p)
			return false;
		d->tables = p;
		c->cap = cap;
	}
	struct table *t = &d->tables[d->ntables++];
	memset(t, 0, sizeof(*t));
	snprintf(t->db, sizeof(t->db), "%s", c->db);
	snprintf(t->name, sizeof(t->name), "%.*s", (int)len[0], row[0]);
	t->estimate = row[1] ? strtoull(row[1], NULL, 10) : 0;
	static const char *const integers[] = {"tinyint", "smallint", "mediumint", "int", "bigint"};
	for (size_t i = 0; row[2] && row[3] && i < sizeof(integers) / sizeof(integers[0]); i++)
		if (strcmp(row[3], integers[i]) == 0 && len[2] < sizeof(t->key)) {
			snprintf(t->key, sizeof(t->key), "%s", row[2]);
			t->key_unsigned = row[4] && strstr(row[4], "unsigned") != NULL;
		}
	return true;
}

struct post {
	FILE *f;
	MYSQL *m;
	const char *db;
	const char *kind; /* PROCEDURE, FUNCTION, TRIGGER, EVENT, VIEW */
	unsigned col;     /* the column SHOW CREATE puts the statement in */
	char *err;
	size_t err_len;
};

/* Stored programs and views: DELIMITER keeps their ';' inside. */
static bool add_post(void *arg, MYSQL_ROW row, unsigned long *len)
{
	struct post *p = arg;
	char sql[256];
	snprintf(sql, sizeof(sql), "SHOW CREATE %s `%s`.`%.*s`", p->kind, p->db, (int)len[0], row[0]);
	char *text = show_create(p->m, sql, p->col, p->err, p->err_len);
	if (!text)
		return false;
	/* A program is parsed under the sql_mode it was created with (Slurm's
	 * under ANSI_QUOTES): SHOW CREATE gives it in column 1. */
	if (strcmp(p->kind, "VIEW") != 0) {
		/* ... and the character set and collation of the connection it
		 * was created on (the columns after the definition). */
		unsigned cs_col = strcmp(p->kind, "EVENT") == 0 ? 4 : 3;
		char *mode = show_create(p->m, sql, 1, p->err, p->err_len);
		char *cs = mode ? show_create(p->m, sql, cs_col, p->err, p->err_len) : NULL;
		char *coll = cs ? show_create(p->m, sql, cs_col + 1, p->err, p->err_len) : NULL;
		if (coll)
			fprintf(p->f, "SET SESSION sql_mode = '%s', character_set_client = '%s', collation_connection = '%s'\n;;\n",
				mode, cs, coll);
		free(mode);
		free(cs);
		if (!coll) {
			free(text);
			return false;
		}
		free(coll);
	}
	fprintf(p->f, "%s\n;;\n", text);
	free(text);
	return true;
}

/* schema/<db>.sql and schema/<db>.post.sql; the tables into d. */
static bool dump_schema(struct dump *d, MYSQL *m, const char *db, char *err, size_t err_len)
{
	char path[1024], sql[1024];
	snprintf(path, sizeof(path), "%s/schema/%s.sql", d->o->dir, db);
	FILE *f = fopen(path, "wxe");
	if (!f) {
		snprintf(err, err_len, "%.500s: %s", path, strerror(errno));
		return false;
	}
	snprintf(sql, sizeof(sql), "SHOW CREATE DATABASE `%s`", db);
	char *create_db = show_create(m, sql, 1, err, err_len);
	size_t first = d->ntables;
	struct collect c = {.d = d, .db = db, .cap = d->ntables};
	/* Tables only; views go after them, with the programs. */
	snprintf(sql, sizeof(sql),
		 "SELECT t.table_name, IFNULL(t.table_rows, 0), c.column_name, c.data_type, c.column_type FROM "
		 "information_schema.tables t LEFT JOIN information_schema.statistics s ON s.table_schema = "
		 "t.table_schema AND s.table_name = t.table_name AND s.index_name = 'PRIMARY' AND s.seq_in_index = 1 "
		 "LEFT JOIN information_schema.columns c ON c.table_schema = s.table_schema AND c.table_name = "
		 "s.table_name AND c.column_name = s.column_name WHERE t.table_schema = '%s' AND t.table_type = 'BASE "
		 "TABLE' ORDER BY t.table_name",
		 db);
	bool ok = create_db && each_row(m, sql, add_table, &c, err, err_len);
	if (ok)
		fprintf(f, "%s;\nUSE `%s`;\nSET foreign_key_checks = 0;\n", create_db, db);
	free(create_db);
	for (size_t i = first; ok && i < d->ntables; i++) {
		d->tables[i].create = show_create_table(m, db, d->tables[i].name, err, err_len);
		ok = d->tables[i].create != NULL;
		if (ok)
			fprintf(f, "%s;\n", d->tables[i].create);
	}
	ok = fclose(f) == 0 && ok;
	if (!ok)
		return false;
	snprintf(path, sizeof(path), "%s/schema/%s.post.sql", d->o->dir, db);
	f = fopen(path, "wxe");
	if (!f) {
		snprintf(err, err_len, "%.500s: %s", path, strerror(errno));
		return false;
	}
	fprintf(f, "USE `%s`;\nDELIMITER ;;\n", db);
	static const struct {
		const char *kind, *query;
		unsigned col;
	} kinds[] = {
		{"VIEW", "SELECT table_name FROM information_schema.views WHERE table_schema = '%s' ORDER BY 1", 1},
		{"PROCEDURE",
		 "SELECT routine_name FROM information_schema.routines WHERE routine_schema = '%s' AND routine_type = "
		 "'PROCEDURE' ORDER BY 1",
		 2},
		{"FUNCTION",
		 "SELECT routine_name FROM information_schema.routines WHERE routine_schema = '%s' AND routine_type = "
		 "'FUNCTION' ORDER BY 1",
		 2},
		{"TRIGGER", "SELECT trigger_name FROM information_schema.triggers WHERE trigger_schema = '%s' ORDER BY 1", 2},
		{"EVENT", "SELECT event_name FROM information_schema.events WHERE event_schema = '%s' ORDER BY 1", 3},
	};
	for (size_t k = 0; ok && k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		struct post p = {f, m, db, kinds[k].kind, kinds[k].col, err, err_len};
		snprintf(sql, sizeof(sql), kinds[k].query, db);
		ok = each_row(m, sql, add_post, &p, err, err_len);
	}
	fprintf(f, "DELIMITER ;\n");
	return fclose(f) == 0 && ok;
}

/* A definition without its AUTO_INCREMENT=n, which inserts move on. */
static void strip_auto_increment(char *s)
{
	char *p = strstr(s, " AUTO_INCREMENT=");
	if (!p)
		return;
	char *end = p + 16;
	while (*end >= '0' && *end <= '9')
		end++;
	memmove(p, end, strlen(end) + 1);
}

static bool same_definition(const char *a, const char *b)
{
	char *x = strdup(a), *y = strdup(b);
	bool same = x && y;
	if (same) {
		strip_auto_increment(x);
		strip_auto_increment(y);
		same = strcmp(x, y) == 0;
	}
	free(x);
	free(y);
	return same;
}

/* Every base table outside the server's own databases with its creation
 * time, one string; NULL with err on failure. */
static char *table_fingerprint(MYSQL *m, char *err, size_t err_len)
{
	if (!q(m, "SELECT table_schema, table_name, IFNULL(create_time, '') FROM information_schema.tables WHERE "
		  "table_type = 'BASE TABLE' AND table_schema NOT IN ('mysql', 'information_schema', "
		  "'performance_schema', 'sys') ORDER BY 1, 2",
	       err, err_len))
		return NULL;
	MYSQL_RES *res = mysql_store_result(m);
	if (!res) {
		snprintf(err, err_len, "listing tables: %s", mysql_error(m));
		return NULL;
	}
	size_t cap = 4096, len = 0;
	char *out = malloc(cap);
	MYSQL_ROW row;
	while (out && (row = mysql_fetch_row(res))) {
		size_t need = strlen(row[0]) + strlen(row[1]) + strlen(row[2]) + 4;
		if (len + need >= cap) {
			cap = 2 * (len + need);
			char *p = realloc(out, cap);
			if (!p) {
				free(out);
				out = NULL;
				break;
			}
			out = p;
		}
		len += (size_t)snprintf(out + len, cap - len, "%s.%s %s\n", row[0], row[1], row[2]);
	}
	mysql_free_result(res);
	if (!out)
		snprintf(err, err_len, "out of memory");
	else
		out[len] = '\0';
	return out;
}

/* After the rows: every table still as it was (no DDL during the dump). */
static bool schema_unchanged(struct dump *d, MYSQL *m, char *err, size_t err_len)
{
	for (size_t i = 0; i < d->ntables; i++) {
		char *now = show_create_table(m, d->tables[i].db, d->tables[i].name, err, err_len);
		if (!now || !same_definition(now, d->tables[i].create)) {
			if (now)
				snprintf(err, err_len,
					 "table %s.%s changed during the snapshot (DDL, which no consistent snapshot "
					 "isolates); take it again",
					 d->tables[i].db, d->tables[i].name);
			free(now);
			return false;
		}
		free(now);
	}
	return true;
}

/* ---- chunks ---------------------------------------------------------------- */

/* A key value in an order-preserving unsigned form: signed values shifted
 * by 2^63, so widths and bounds are computed the same way for both. */
static uint64_t key_order(const char *v, bool is_unsigned)
{
	return is_unsigned ? strtoull(v, NULL, 10) : (uint64_t)strtoll(v, NULL, 10) ^ (UINT64_C(1) << 63);
}

static void key_text(uint64_t u, bool is_unsigned, char out[24])
{
	if (is_unsigned)
		snprintf(out, 24, "%llu", (unsigned long long)u);
	else
		snprintf(out, 24, "%lld", (long long)(u ^ (UINT64_C(1) << 63)));
}

static struct chunk *new_chunk(struct dump *d, size_t *cap, size_t table)
{
	if (d->nchunks == *cap) {
		size_t c = *cap ? *cap * 2 : 64;
		struct chunk *p = realloc(d->chunks, c * sizeof(*p));
		if (!p)
			return NULL;
		d->chunks = p;
		*cap = c;
	}
	struct chunk *c = &d->chunks[d->nchunks++];
	memset(c, 0, sizeof(*c));
	c->table = table;
	return c;
}

/* The key's MIN and MAX in the view (the index's two ends); false with err,
 * true with *empty when the table has no row. */
static bool key_range(MYSQL *m, const struct table *t, uint64_t *lo, uint64_t *hi, bool *empty, char *err,
		      size_t err_len)
{
	char sql[300];
	snprintf(sql, sizeof(sql), "SELECT MIN(`%s`), MAX(`%s`) FROM `%s`.`%s`", t->key, t->key, t->db, t->name);
	if (!q(m, sql, err, err_len))
		return false;
	MYSQL_RES *res = mysql_store_result(m);
	MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
	bool ok = row != NULL;
	*empty = !row || !row[0] || !row[1];
	if (!*empty) {
		*lo = key_order(row[0], t->key_unsigned);
		*hi = key_order(row[1], t->key_unsigned);
	}
	if (!ok)
		snprintf(err, err_len, "%s: %s", sql, mysql_error(m));
	if (res)
		mysql_free_result(res);
	return ok;
}

/* The chunks largest first (their order in the array breaking ties). */
static int by_estimate(const void *a, const void *b)
{
	const struct chunk *x = *(struct chunk *const *)a, *y = *(struct chunk *const *)b;
	if (x->estimate != y->estimate)
		return x->estimate < y->estimate ? 1 : -1;
	return x < y ? -1 : x > y;
}

/* Every table's chunks, on m (in the snapshot's view): one for a table
 * that is not cut; else k ranges of equal width between the key's MIN and
 * MAX, the first open below and the last open above, so the estimate and
 * the bounds only balance the work: every row is in exactly one range. A
 * skewed key gives uneven chunks, never wrong ones. Then the order of the
 * work: largest first, so no large table is left for the end. */
static bool plan_chunks(struct dump *d, MYSQL *m, char *err, size_t err_len)
{
	uint64_t per = d->o->chunk_rows;
	size_t cap = 0;
	for (size_t i = 0; i < d->ntables; i++) {
		struct table *t = &d->tables[i];
		uint64_t k = per && t->key[0] && t->estimate > per ? (t->estimate + per - 1) / per : 1;
		if (k > SNAPSHOT_CHUNKS_MAX)
			k = SNAPSHOT_CHUNKS_MAX;
		uint64_t lo = 0, hi = 0;
		bool empty = true;
		if (k > 1 && !key_range(m, t, &lo, &hi, &empty, err, err_len))
			return false;
		t->first = d->nchunks;
		if (k == 1 || empty || lo == hi) {
			struct chunk *c = new_chunk(d, &cap, i);
			if (!c)
				goto oom;
			snprintf(c->path, sizeof(c->path), "data/%s/%s.tsv.zst", t->db, t->name);
			c->estimate = t->estimate;
			t->nchunks = 1;
			continue;
		}
		uint64_t span = hi - lo;
		if (span < k - 1)
			k = span + 1;
		uint64_t width = span / k + 1;
		/* Bounds lo + j * width for j = 1 .. while within the span, so
		 * increasing and never past hi (j <= span / width: no overflow). */
		uint64_t nb = span / width < k - 1 ? span / width : k - 1;
		char prev[24] = "";
		for (uint64_t j = 0; j <= nb; j++) {
			struct chunk *c = new_chunk(d, &cap, i);
			if (!c)
				goto oom;
			snprintf(c->path, sizeof(c->path), "data/%s/%s.%04llu.tsv.zst", t->db, t->name,
				 (unsigned long long)j + 1);
			memcpy(c->lo, prev, sizeof(prev));
			if (j < nb)
				key_text(lo + (j + 1) * width, t->key_unsigned, c->hi);
			memcpy(prev, c->hi, sizeof(prev));
			c->estimate = t->estimate / (nb + 1);
		}
		t->nchunks = (size_t)nb + 1;
	}
	d->order = malloc((d->nchunks ? d->nchunks : 1) * sizeof(*d->order));
	if (!d->order)
		goto oom;
	for (size_t i = 0; i < d->nchunks; i++)
		d->order[i] = &d->chunks[i];
	qsort(d->order, d->nchunks, sizeof(*d->order), by_estimate);
	return true;
oom:
	snprintf(err, err_len, "out of memory planning the chunks");
	return false;
}

/* ---- the whole ------------------------------------------------------------ */

static bool write_manifest(struct dump *d, const struct snapshot_result *res, char (*dbs)[65], size_t ndbs,
			   char *err, size_t err_len)
{
	struct snapshot_manifest m = {.format = 2, .seq = res->seq, .time_usec = res->time_usec,
				      .chunk_rows = d->o->chunk_rows, .dbs = dbs, .ndbs = ndbs, .ntables = d->ntables,
				      .nfiles = d->nchunks};
	snprintf(m.id, sizeof(m.id), "%s", res->id);
	m.tables = calloc(d->ntables ? d->ntables : 1, sizeof(*m.tables));
	m.files = calloc(d->nchunks ? d->nchunks : 1, sizeof(*m.files));
	bool ok = m.tables && m.files;
	for (size_t i = 0; ok && i < d->ntables; i++) {
		const struct table *t = &d->tables[i];
		struct manifest_table *mt = &m.tables[i];
		snprintf(mt->db, sizeof(mt->db), "%s", t->db);
		snprintf(mt->name, sizeof(mt->name), "%s", t->name);
		mt->first = t->first;
		mt->nfiles = t->nchunks;
		for (size_t k = t->first; k < t->first + t->nchunks; k++) {
			const struct chunk *c = &d->chunks[k];
			m.files[k] = (struct manifest_file){.table = i, .rows = c->rows, .bytes = c->bytes, .crc = c->crc};
			snprintf(m.files[k].path, sizeof(m.files[k].path), "%s", c->path);
			mt->rows += c->rows;
			mt->bytes += c->bytes;
		}
	}
	if (!ok)
		snprintf(err, err_len, "out of memory writing the manifest");
	ok = ok && snapshot_manifest_write(d->o->dir, &m, err, err_len);
	free(m.tables);
	free(m.files);
	return ok;
}

static void remove_tree(const char *dir)
{
	char cmd[1200];
	snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", dir);
	if (system(cmd) != 0)
		return; /* what is left is named in the failure already */
}

bool snapshot_take(const struct snapshot_options *o, struct snapshot_result *res, char *err, size_t err_len)
{
	memset(res, 0, sizeof(*res));
	const char *slash = strrchr(o->dir, '/');
	snprintf(res->id, sizeof(res->id), "%s", slash ? slash + 1 : o->dir);
	int threads = o->threads < 1 ? 1 : o->threads > SNAPSHOT_THREADS_MAX ? SNAPSHOT_THREADS_MAX : o->threads;
	if (mkdir(o->dir, 0700) != 0) {
		snprintf(err, err_len, "%s: %s", o->dir, strerror(errno));
		return false;
	}
	char sub[1100];
	snprintf(sub, sizeof(sub), "%s/schema", o->dir);
	mkdir(sub, 0700);
	snprintf(sub, sizeof(sub), "%s/data", o->dir);
	mkdir(sub, 0700);
	struct dump d = {.o = o, .lock = PTHREAD_MUTEX_INITIALIZER};
	clock_gettime(CLOCK_MONOTONIC, &d.started);
	struct worker_arg w[SNAPSHOT_THREADS_MAX] = {0};
	char (*dbs)[65] = NULL;
	size_t ndbs = 0;
	bool ok = true, cut_open = false;
	for (int i = 0; ok && i < threads; i++) {
		w[i].d = &d;
		w[i].m = replay_connect(&o->conn, err, err_len);
		/* Times as UTC text, which restore reads back in UTC: the
		 * same instant whatever either server's zone (and none lost in
		 * a zone's repeated hour). */
		ok = w[i].m && track(o, i, w[i].m) && q(w[i].m, "SET NAMES binary, time_zone = '+00:00'", err, err_len) &&
		     q(w[i].m, "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ", err, err_len);
	}
	/* The cut: no commit in flight while the views open. One that is in
	 * flight may itself wait for a commit the cut holds (a DDL on its
	 * metadata lock): the cut gives up after a short while, lets
	 * everything go, and tries again, so commits are never held long. */
	for (int attempt = 0; ok && o->cut && !cut_open; attempt++) {
		if (cancelled(o)) {
			snprintf(err, err_len, CANCELLED);
			ok = false;
			break;
		}
		cut_open = o->cut->begin(o->cut->arg, err, err_len);
		if (!cut_open && attempt + 1 >= SNAPSHOT_CUT_ATTEMPTS) {
			ok = false;
		} else if (!cut_open) {
			struct timespec pause = {0, 20 * 1000000};
			nanosleep(&pause, NULL);
		}
	}
	for (int i = 0; ok && i < threads; i++)
		ok = q(w[i].m, "START TRANSACTION WITH CONSISTENT SNAPSHOT", err, err_len);
	/* Which tables exist and when each was (re)built, while no DDL can
	 * run (it is held like any commit): a table rebuilt after the views
	 * opened reads as it is now, not as they saw it. */
	char *tables_before = ok ? table_fingerprint(w[0].m, err, err_len) : NULL;
	ok = ok && tables_before;
	if (ok && o->cut) {
		res->seq = o->cut->mark(o->cut->arg, err, err_len);
		ok = res->seq != 0;
	}
	struct timespec rt;
	clock_gettime(CLOCK_REALTIME, &rt);
	res->time_usec = (uint64_t)rt.tv_sec * 1000000u + (uint64_t)rt.tv_nsec / 1000u;
	if (cut_open)
		o->cut->end(o->cut->arg, &res->held_usec);
	ok = ok && list_databases(w[0].m, o->databases, &dbs, &ndbs, err, err_len);
	for (size_t i = 0; ok && i < ndbs; i++)
		ok = dump_schema(&d, w[0].m, dbs[i], err, err_len);
	ok = ok && plan_chunks(&d, w[0].m, err, err_len);
	if (ok) {
		for (int i = 1; i < threads; i++)
			if (pthread_create(&w[i].thread, NULL, dump_worker, &w[i]) != 0)
				w[i].thread = 0;
		dump_worker(&w[0]);
		for (int i = 1; i < threads; i++)
			if (w[i].thread)
				pthread_join(w[i].thread, NULL);
		if (o->progress)
			fputc('\n', stderr);
		if (d.err[0]) {
			snprintf(err, err_len, "%s", d.err);
			ok = false;
		}
	}
	ok = ok && schema_unchanged(&d, w[0].m, err, err_len);
	if (ok) {
		char *after = table_fingerprint(w[0].m, err, err_len);
		ok = after && strcmp(after, tables_before) == 0;
		if (after && !ok)
			snprintf(err, err_len,
				 "a table was rebuilt, created or dropped during the snapshot (DDL, which no consistent "
				 "snapshot isolates); take it again");
		free(after);
	}
	free(tables_before);
	res->tables = d.ntables;
	res->rows = d.rows;
	res->bytes = d.bytes;
	ok = ok && write_manifest(&d, res, dbs, ndbs, err, err_len);
	res->seconds = since(&d.started);
	for (int i = 0; i < threads; i++) {
		if (w[i].m) {
			track(o, i, NULL);
			mysql_close(w[i].m);
		}
	}
	for (size_t i = 0; i < d.ntables; i++)
		free(d.tables[i].create);
	free(d.tables);
	free(d.chunks);
	free(d.order);
	free(dbs);
	/* Whatever call the shut-down connections failed in, the cause is
	 * the cancellation. */
	if (!ok && cancelled(o))
		snprintf(err, err_len, CANCELLED);
	if (!ok)
		remove_tree(o->dir);
	return ok;
}

/* ---- verify ------------------------------------------------------------------ */

/* Decompress a data file, counting rows and the CRC of its bytes. */
static bool read_data(const char *path, uint64_t *rows, uint64_t *bytes, uint32_t *crc, char *err, size_t err_len)
{
	FILE *f = fopen(path, "re");
	ZSTD_DCtx *z = ZSTD_createDCtx();
	uint8_t *in = malloc(1 << 16), *out = malloc(1 << 17);
	bool ok = f && z && in && out;
	if (!ok)
		snprintf(err, err_len, "%s: %s", path, f ? "out of memory" : strerror(errno));
	*rows = *bytes = 0;
	*crc = 0;
	size_t n, left = 1;
	while (ok && (n = fread(in, 1, 1 << 16, f)) > 0) {
		ZSTD_inBuffer ib = {in, n, 0};
		while (ok && ib.pos < ib.size) {
			ZSTD_outBuffer ob = {out, 1 << 17, 0};
			left = ZSTD_decompressStream(z, &ob, &ib);
			if (ZSTD_isError(left)) {
				snprintf(err, err_len, "%s: %s", path, ZSTD_getErrorName(left));
				ok = false;
				break;
			}
			*crc = journal_crc32c(*crc, out, ob.pos);
			*bytes += ob.pos;
			for (const uint8_t *p = out, *e = out + ob.pos; (p = memchr(p, '\n', (size_t)(e - p))); p++)
				(*rows)++;
		}
	}
	if (ok && left != 0) {
		snprintf(err, err_len, "%s: truncated (the compressed stream does not end)", path);
		ok = false;
	}
	if (f)
		fclose(f);
	ZSTD_freeDCtx(z);
	free(in);
	free(out);
	return ok;
}

bool snapshot_verify(const char *dir, struct snapshot_result *res, char *err, size_t err_len)
{
	memset(res, 0, sizeof(*res));
	struct snapshot_manifest m;
	bool ok = snapshot_manifest_read(dir, &m, err, err_len);
	for (size_t i = 0; ok && i < m.nfiles; i++) {
		const struct manifest_file *fl = &m.files[i];
		char path[1300];
		snprintf(path, sizeof(path), "%s/%s", dir, fl->path);
		uint64_t r, b;
		uint32_t c;
		ok = read_data(path, &r, &b, &c, err, err_len);
		if (ok && (r != fl->rows || b != fl->bytes || c != fl->crc)) {
			snprintf(err, err_len,
				 "%s: %llu rows, %llu bytes, CRC %08x; the manifest says %llu rows, %llu bytes, CRC %08x",
				 path, (unsigned long long)r, (unsigned long long)b, c, (unsigned long long)fl->rows,
				 (unsigned long long)fl->bytes, fl->crc);
			ok = false;
		}
		res->rows += r;
		res->bytes += b;
	}
	snprintf(res->id, sizeof(res->id), "%s", m.id);
	res->seq = m.seq;
	res->time_usec = m.time_usec;
	res->tables = m.ntables;
	snapshot_manifest_free(&m);
	return ok;
}
