/*
 * restore.c - a snapshot loaded into a server, then rolled forward from the
 * journal (snapshot.h).
 *
 * Order, as the bulk loaders do it: each database and its tables (from
 * schema/<db>.sql), the rows of every data file in parallel with LOAD DATA
 * LOCAL from acctgate's own connections (the largest table first, its
 * first chunk alone, then the others on every connection at once, in key
 * order; unique and foreign key checks off, the bytes as stored: character
 * set binary),
 * each file's row count checked against the manifest, the secondary
 * indexes of a large table built after its rows (below), then views,
 * stored programs, triggers and events (after the rows, so no trigger
 * fires on them; without their DEFINER, so the restoring account needs no
 * SUPER), then the journal from the snapshot's cut on.
 *
 * Secondary indexes after the rows: a table with a primary key and more
 * rows than the manifest's chunk_rows is created without its KEY and
 * UNIQUE KEY lines, which one ALTER TABLE ... ADD adds back, in their
 * order, once its last file is in (InnoDB then builds each by one sort
 * instead of inserting into it row by row). Measured on Slurm's
 * job_table (16 secondary indexes), 1,000,000 rows loaded by two
 * connections on a shared 2-core machine: 31.6 s (12.7 s of rows, 18.9 s
 * of ALTER) instead of 46.9 s with a 1 GiB buffer pool and a 512 MiB
 * redo log; one connection with 256 MiB and 64 MiB: 48.7 s instead of
 * 58.2 s. Small tables keep their indexes (the ALTER costs ~20 ms even
 * when empty), as do an index on the AUTO_INCREMENT column (the table
 * needs it to be created) and every table of a database with a foreign
 * key (its indexes may be needed by a constraint).
 */
#include "snapshot.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <mysql.h>
#include <zstd.h>

#include "manifest.h"

/* A table of the manifest as the load goes. */
struct rtable {
	char *alter;   /* ALTER TABLE ... ADD its deferred indexes; NULL: none */
	size_t left;   /* its files not loaded yet */
	bool opened;   /* its first file is loaded: the others may go in parallel */
};

struct load {
	const struct restore_options *o;
	struct snapshot_manifest m;
	struct rtable *tables;   /* beside m.tables */
	size_t *order;           /* indexes in m.files: the largest table first, each in key order */
	bool *taken;             /* beside order */
	size_t next;             /* order[next] is the first not taken */
	pthread_mutex_t lock;
	pthread_cond_t opened;   /* a table's first file is in (or the load failed) */
	char err[768];
};

/* The database a snapshot's database is restored as. */
static const char *target_db(const struct restore_options *o, const char *db)
{
	return o->into_database && o->into_database[0] ? o->into_database : db;
}

static bool q(MYSQL *m, const char *sql, char *err, size_t err_len)
{
	if (mysql_query(m, sql) == 0) {
		/* Drain whatever a multi-statement text answered. */
		int more;
		do {
			MYSQL_RES *res = mysql_store_result(m);
			if (res)
				mysql_free_result(res);
			more = mysql_next_result(m);
		} while (more == 0);
		if (more < 0)
			return true;
	}
	snprintf(err, err_len, "ERR %u: %s (in: %.200s)", mysql_errno(m), mysql_error(m), sql);
	return false;
}

static char *read_file(const char *path, char *err, size_t err_len)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		snprintf(err, err_len, "%.500s: %s", path, strerror(errno));
		return NULL;
	}
	struct stat st;
	char *text = fstat(fileno(f), &st) == 0 ? malloc((size_t)st.st_size + 1) : NULL;
	if (text && fread(text, 1, (size_t)st.st_size, f) == (size_t)st.st_size) {
		text[st.st_size] = '\0';
	} else {
		free(text);
		text = NULL;
		snprintf(err, err_len, "%s: cannot read", path);
	}
	fclose(f);
	return text;
}

/* ---- LOAD DATA LOCAL from a zstd file ---------------------------------- */

struct infile {
	FILE *f;
	ZSTD_DCtx *z;
	uint8_t in[1 << 16];
	ZSTD_inBuffer ib;
	char why[256];
};

static int infile_init(void **ptr, const char *filename, void *userdata)
{
	(void)userdata;
	struct infile *x = calloc(1, sizeof(*x));
	*ptr = x;
	if (!x)
		return 1;
	x->f = fopen(filename, "re");
	x->z = ZSTD_createDCtx();
	if (!x->f || !x->z) {
		snprintf(x->why, sizeof(x->why), "%s: %s", filename, x->f ? "out of memory" : strerror(errno));
		return 1;
	}
	x->ib = (ZSTD_inBuffer){x->in, 0, 0};
	return 0;
}

static int infile_read(void *ptr, char *buf, unsigned int len)
{
	struct infile *x = ptr;
	for (;;) {
		if (x->ib.pos == x->ib.size) {
			size_t n = fread(x->in, 1, sizeof(x->in), x->f);
			if (n == 0)
				return 0;
			x->ib = (ZSTD_inBuffer){x->in, n, 0};
		}
		ZSTD_outBuffer ob = {buf, len, 0};
		size_t r = ZSTD_decompressStream(x->z, &ob, &x->ib);
		if (ZSTD_isError(r)) {
			snprintf(x->why, sizeof(x->why), "%s", ZSTD_getErrorName(r));
			return -1;
		}
		if (ob.pos)
			return (int)ob.pos;
	}
}

static void infile_end(void *ptr)
{
	struct infile *x = ptr;
	if (!x)
		return;
	if (x->f)
		fclose(x->f);
	ZSTD_freeDCtx(x->z);
	free(x);
}

static int infile_error(void *ptr, char *msg, unsigned int len)
{
	struct infile *x = ptr;
	snprintf(msg, len, "%s", x && x->why[0] ? x->why : "cannot read the snapshot's data file");
	return 2000;
}

static void load_fail(struct load *l, const char *msg)
{
	pthread_mutex_lock(&l->lock);
	if (!l->err[0])
		snprintf(l->err, sizeof(l->err), "%s", msg);
	pthread_cond_broadcast(&l->opened);
	pthread_mutex_unlock(&l->lock);
}

/* The rows of one data file; then, if it was its table's last, the
 * table's deferred indexes. */
static bool load_file(struct load *l, MYSQL *m, size_t fi, char *err, size_t err_len)
{
	const struct manifest_file *f = &l->m.files[fi];
	const struct manifest_table *t = &l->m.tables[f->table];
	char sql[1600];
	snprintf(sql, sizeof(sql), "LOAD DATA LOCAL INFILE '%s/%s' INTO TABLE `%s`.`%s` CHARACTER SET binary",
		 l->o->snapshot_dir, f->path, target_db(l->o, t->db), t->name);
	if (mysql_query(m, sql) != 0) {
		snprintf(err, err_len, "ERR %u: %s (in: %.200s)", mysql_errno(m), mysql_error(m), sql);
		return false;
	}
	/* What this statement inserted (read before anything else resets
	 * it): a LOCAL load skips a duplicate with a warning, not an error. */
	uint64_t n = mysql_affected_rows(m);
	if (n != f->rows) {
		snprintf(err, err_len, "%s: %llu rows loaded into %s.%s, the snapshot has %llu", f->path,
			 (unsigned long long)n, t->db, t->name, (unsigned long long)f->rows);
		return false;
	}
	pthread_mutex_lock(&l->lock);
	bool last = --l->tables[f->table].left == 0;
	if (!l->tables[f->table].opened) {
		l->tables[f->table].opened = true;
		pthread_cond_broadcast(&l->opened);
	}
	pthread_mutex_unlock(&l->lock);
	return !last || !l->tables[f->table].alter || q(m, l->tables[f->table].alter, err, err_len);
}

/* Under the lock: the next file in order a connection may load, taken;
 * false when none may go yet (*fi = SIZE_MAX once none is left). A
 * table's first file goes alone: MariaDB loads an empty table with unique
 * and foreign key checks off in bulk, under a table lock on which two
 * such loads deadlock (ERR 1213); its other files then go in parallel. */
static bool next_file(struct load *l, size_t *fi)
{
	*fi = SIZE_MAX;
	while (l->next < l->m.nfiles && l->taken[l->next])
		l->next++;
	for (size_t i = l->next; i < l->m.nfiles; i++) {
		size_t f = l->order[i];
		const struct rtable *t = &l->tables[l->m.files[f].table];
		if (l->taken[i] || (!t->opened && f != l->m.tables[l->m.files[f].table].first))
			continue;
		l->taken[i] = true;
		*fi = f;
		return true;
	}
	return false;
}

static void *load_worker(void *arg)
{
	struct load *l = arg;
	char err[700];
	MYSQL *m = replay_connect(&l->o->conn, err, sizeof(err));
	/* The bulk loaders' settings: no unique or foreign key checks (the
	 * rows were valid where they came from), a 0 in an AUTO_INCREMENT
	 * column kept as 0, times read in the zone they were dumped in. */
	if (!m || !q(m,
		     "SET NAMES binary, foreign_key_checks = 0, unique_checks = 0, sql_mode = 'NO_AUTO_VALUE_ON_ZERO', "
		     "time_zone = '+00:00'",
		     err, sizeof(err))) {
		load_fail(l, err);
		if (m)
			mysql_close(m);
		return NULL;
	}
	mysql_set_local_infile_handler(m, infile_init, infile_read, infile_end, infile_error, NULL);
	for (;;) {
		pthread_mutex_lock(&l->lock);
		size_t fi;
		while (!next_file(l, &fi) && l->next < l->m.nfiles && !l->err[0])
			pthread_cond_wait(&l->opened, &l->lock);
		bool go = !l->err[0] && fi != SIZE_MAX;
		pthread_mutex_unlock(&l->lock);
		if (!go)
			break;
		if (!load_file(l, m, fi, err, sizeof(err))) {
			load_fail(l, err);
			break;
		}
	}
	mysql_close(m);
	return NULL;
}

/* ---- schema ---------------------------------------------------------------- */

/* The AUTO_INCREMENT column of a CREATE TABLE (SHOW CREATE TABLE's
 * layout: one column or index a line, indented by two spaces), "" if none. */
static void auto_increment_column(const char *create, char name[65])
{
	name[0] = '\0';
	for (const char *p = create; p && !name[0];) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		const char *tick = n > 3 && strncmp(p, "  `", 3) == 0 ? memchr(p + 3, '`', n - 3) : NULL;
		if (tick && tick - (p + 3) < 65 && memmem(p, n, " AUTO_INCREMENT", 15))
			snprintf(name, 65, "%.*s", (int)(tick - (p + 3)), p + 3);
		p = nl ? nl + 1 : NULL;
	}
}

/* Is this line (its trailing comma cut) a KEY or UNIQUE KEY that can be
 * added after the rows: not one whose first column is the AUTO_INCREMENT
 * column, which the table must have from the start. */
static bool deferrable(const char *line, const char *autoinc)
{
	const char *k = strncmp(line, "  KEY `", 7) == 0 ? line + 6
		      : strncmp(line, "  UNIQUE KEY `", 14) == 0 ? line + 13
								 : NULL;
	const char *cols = k ? strstr(k, " (`") : NULL;
	const char *end = cols ? strchr(cols + 3, '`') : NULL;
	if (!end)
		return false;
	size_t n = (size_t)(end - (cols + 3));
	return !(autoinc[0] && n == strlen(autoinc) && strncmp(cols + 3, autoinc, n) == 0);
}

/* Does this line of a CREATE TABLE's body define an index the table keeps
 * from the start (neither a column, the primary key, a constraint nor a
 * deferrable index)? */
static bool kept_index(const char *line, size_t n, const char *autoinc)
{
	if (n < 3 || strncmp(line, "  ", 2) != 0 || line[2] == '`' || strncmp(line, "  PRIMARY KEY ", 14) == 0 ||
	    strncmp(line, "  CONSTRAINT ", 13) == 0)
		return false;
	char copy[1024];
	snprintf(copy, sizeof(copy), "%.*s", (int)(n && line[n - 1] == ',' ? n - 1 : n), line);
	return !deferrable(copy, autoinc);
}

/* A CREATE TABLE with a PRIMARY KEY, without its deferrable indexes, into
 * *create, and the ALTER TABLE that adds them back (in their order) into
 * *alter; false, with nothing allocated, when the table keeps them all.
 * Only those after the last index it keeps are deferred: the server lists
 * an index added later after those of its kind that were there, and the
 * restored table must list them as the original did. */
static bool defer_indexes(const char *text, const char *tdb, const char *table, char **create, char **alter)
{
	*create = *alter = NULL;
	if (!strstr(text, "\n  PRIMARY KEY ("))
		return false;
	char autoinc[65];
	auto_increment_column(text, autoinc);
	size_t barrier = 0, line = 0; /* the last kept index's line (0 = the first line: none) */
	for (const char *p = text; p && *p != ')'; line++) {
		const char *nl = strchr(p, '\n');
		if (line > 0 && kept_index(p, nl ? (size_t)(nl - p) : strlen(p), autoinc))
			barrier = line;
		p = nl ? nl + 1 : NULL;
	}
	size_t len = strlen(text);
	/* The ALTER: its head (names of 64 bytes at most), then per index 2
	 * bytes more than its line (", ADD " for the indent, comma and
	 * newline), 64 indexes at most (MAX_KEY), and the LOCK clause. */
	size_t alen = len + 512;
	char *copy = strdup(text), *c = malloc(len + 1), *a = malloc(alen);
	if (!copy || !c || !a) {
		free(copy);
		free(c);
		free(a);
		return false;
	}
	size_t cl = 0, al = (size_t)snprintf(a, alen, "ALTER TABLE `%s`.`%s` ", tdb, table), kept = 0, moved = 0;
	enum { HEAD, BODY, TAIL } at = HEAD;
	line = 0;
	for (char *p = copy; p; line++) {
		char *nl = strchr(p, '\n');
		if (nl)
			*nl = '\0';
		size_t n = strlen(p);
		if (at == BODY && strncmp(p, "  ", 2) == 0) {
			if (n && p[n - 1] == ',')
				p[--n] = '\0';
			if (line > barrier && deferrable(p, autoinc)) {
				al += (size_t)sprintf(a + al, "%s%s", moved++ ? ", ADD " : "ADD ", p + 2);
			} else {
				cl += (size_t)sprintf(c + cl, "%s%s", kept++ ? ",\n" : "\n", p);
			}
		} else {
			cl += (size_t)sprintf(c + cl, "%s%s", at == HEAD ? "" : "\n", p);
			at = at == HEAD ? BODY : TAIL;
		}
		p = nl ? nl + 1 : NULL;
	}
	free(copy);
	if (!moved) {
		free(c);
		free(a);
		return false;
	}
	/* LOCK=SHARED: reads may go on, and InnoDB keeps no log of writes
	 * made meanwhile (about 10% faster on job_table). */
	sprintf(a + al, ", LOCK=SHARED");
	*create = c;
	*alter = a;
	return true;
}

static size_t find_table(const struct snapshot_manifest *m, const char *db, const char *name, size_t name_len)
{
	for (size_t i = 0; i < m->ntables; i++)
		if (strcmp(m->tables[i].db, db) == 0 && strlen(m->tables[i].name) == name_len &&
		    strncmp(m->tables[i].name, name, name_len) == 0)
			return i;
	return SIZE_MAX;
}

/* The table statements of a schema file, from `p` on: each one a
 * SHOW CREATE TABLE text and ";\n", starting a line with CREATE TABLE;
 * a large table's without its deferred indexes (restore.c's header). */
static bool create_each_table(MYSQL *m, struct load *l, const char *db, char *p, bool defer, char *err,
			      size_t err_len)
{
	bool ok = true;
	while (ok && *p) {
		char *next = strstr(p, "\nCREATE TABLE `");
		char *end = next ? next : p + strlen(p);
		while (end > p && (end[-1] == '\n' || end[-1] == ';'))
			end--;
		*end = '\0';
		const char *name = strncmp(p, "CREATE TABLE `", 14) == 0 ? p + 14 : NULL;
		const char *tick = name ? strchr(name, '`') : NULL;
		size_t ti = tick ? find_table(&l->m, db, name, (size_t)(tick - name)) : SIZE_MAX;
		char *create = NULL, *alter = NULL;
		if (ti != SIZE_MAX && defer && l->m.tables[ti].rows > l->m.chunk_rows &&
		    defer_indexes(p, target_db(l->o, db), l->m.tables[ti].name, &create, &alter)) {
			l->tables[ti].alter = alter;
			ok = q(m, create, err, err_len);
			free(create);
		} else {
			ok = q(m, p, err, err_len);
		}
		p = next ? next + 1 : end + strlen(end);
	}
	return ok;
}

/* schema/<db>.sql: its CREATE DATABASE under the target name, then the
 * tables. */
static bool create_tables(MYSQL *m, struct load *l, const char *db, char *err, size_t err_len)
{
	const struct restore_options *o = l->o;
	char path[1200];
	snprintf(path, sizeof(path), "%s/schema/%s.sql", o->snapshot_dir, db);
	char *text = read_file(path, err, err_len);
	if (!text)
		return false;
	/* Line 1: CREATE DATABASE `db` ...; line 2: USE; line 3: SET. */
	char *l2 = strchr(text, '\n');
	char *l3 = l2 ? strchr(l2 + 1, '\n') : NULL;
	char *rest = l3 ? strchr(l3 + 1, '\n') : NULL;
	bool ok = rest != NULL;
	if (!ok)
		snprintf(err, err_len, "%.500s: not a snapshot schema file", path);
	char quoted[80];
	snprintf(quoted, sizeof(quoted), "`%s`", db);
	char *name = ok ? strstr(text, quoted) : NULL;
	if (ok && (!name || name > l2)) {
		snprintf(err, err_len, "%.500s: its first line does not create `%s`", path, db);
		ok = false;
	}
	if (ok) {
		char create[1024];
		snprintf(create, sizeof(create), "%.*s`%s`%.*s", (int)(name - text), text, target_db(o, db),
			 (int)(l2 - (name + strlen(quoted)) - 1), name + strlen(quoted));
		ok = q(m, create, err, err_len) && mysql_select_db(m, target_db(o, db)) == 0;
		if (!ok && !err[0])
			snprintf(err, err_len, "USE %s: %s", target_db(o, db), mysql_error(m));
	}
	/* A constraint may need an index that is not its own: a database
	 * with a foreign key keeps every index from the start. */
	bool defer = ok && l->m.chunk_rows > 0 && !strstr(rest, " FOREIGN KEY ");
	ok = ok && q(m, "SET foreign_key_checks = 0", err, err_len) &&
	     create_each_table(m, l, db, rest + 1, defer, err, err_len);
	free(text);
	return ok;
}

void snapshot_strip_definer(char *s)
{
	char *d = strstr(s, "DEFINER=");
	if (!d || d - s > 64)
		return;
	char *end = d + 8;
	for (int quotes = 0; *end && !(quotes >= 4 && *end == ' '); end++)
		quotes += *end == '`';
	if (*end == ' ')
		memmove(d, end + 1, strlen(end + 1) + 1);
}

/* schema/<db>.post.sql: statements between ";;" lines. */
static bool create_programs(MYSQL *m, const struct restore_options *o, const char *db, char *err, size_t err_len)
{
	char path[1200];
	snprintf(path, sizeof(path), "%s/schema/%s.post.sql", o->snapshot_dir, db);
	char *text = read_file(path, err, err_len);
	if (!text)
		return false;
	bool ok = mysql_select_db(m, target_db(o, db)) == 0;
	char *p = strstr(text, "DELIMITER ;;\n");
	p = p ? p + 13 : NULL;
	while (ok && p && *p && strncmp(p, "DELIMITER ;", 11) != 0) {
		char *end = strstr(p, "\n;;\n");
		if (!end)
			break;
		*end = '\0';
		snapshot_strip_definer(p);
		ok = q(m, p, err, err_len);
		p = end + 4;
	}
	free(text);
	return ok;
}

/* ---- the whole ---------------------------------------------------------- */

/* The order of the files: the largest table first (its chunks, in key
 * order, on every connection), so none is left alone at the end. */
static int by_rows(const void *a, const void *b)
{
	const struct manifest_table *x = *(const struct manifest_table *const *)a;
	const struct manifest_table *y = *(const struct manifest_table *const *)b;
	if (x->rows != y->rows)
		return x->rows < y->rows ? 1 : -1;
	return x < y ? -1 : x > y;
}

static bool plan_load(struct load *l, char *err, size_t err_len)
{
	const struct snapshot_manifest *m = &l->m;
	l->tables = calloc(m->ntables ? m->ntables : 1, sizeof(*l->tables));
	l->order = malloc((m->nfiles ? m->nfiles : 1) * sizeof(*l->order));
	l->taken = calloc(m->nfiles ? m->nfiles : 1, sizeof(*l->taken));
	const struct manifest_table **by = malloc((m->ntables ? m->ntables : 1) * sizeof(*by));
	bool ok = l->tables && l->order && l->taken && by;
	for (size_t i = 0; ok && i < m->ntables; i++) {
		l->tables[i].left = m->tables[i].nfiles;
		by[i] = &m->tables[i];
	}
	if (ok) {
		qsort(by, m->ntables, sizeof(*by), by_rows);
		size_t n = 0;
		for (size_t i = 0; i < m->ntables; i++)
			for (size_t k = by[i]->first; k < by[i]->first + by[i]->nfiles; k++)
				l->order[n++] = k;
	}
	free(by);
	if (!ok)
		snprintf(err, err_len, "out of memory");
	return ok;
}

/* Does the target already have this database? */
static int db_exists(MYSQL *m, const char *db, char *err, size_t err_len)
{
	char sql[256];
	snprintf(sql, sizeof(sql), "SELECT 1 FROM information_schema.schemata WHERE schema_name = '%s'", db);
	if (mysql_query(m, sql) != 0) {
		snprintf(err, err_len, "%s: %s", sql, mysql_error(m));
		return -1;
	}
	MYSQL_RES *res = mysql_store_result(m);
	int found = res && mysql_num_rows(res) > 0;
	if (res)
		mysql_free_result(res);
	return found;
}

int restore_run(const struct restore_options *o, FILE *out, FILE *errf)
{
	char err[768] = "";
	struct snapshot_result snap;
	if (!snapshot_verify(o->snapshot_dir, &snap, err, sizeof(err))) {
		fprintf(errf, "acctgate restore: the snapshot does not verify: %s\n", err);
		return 4;
	}
	struct load l = {.o = o, .lock = PTHREAD_MUTEX_INITIALIZER, .opened = PTHREAD_COND_INITIALIZER};
	int status = 4;
	MYSQL *m = NULL;
	if (!snapshot_manifest_read(o->snapshot_dir, &l.m, err, sizeof(err)) || !plan_load(&l, err, sizeof(err)))
		goto out;
	char (*dbs)[65] = l.m.dbs;
	size_t ndbs = l.m.ndbs;
	uint64_t seq = l.m.seq;
	if (o->into_database && o->into_database[0] && ndbs != 1) {
		snprintf(err, sizeof(err), "INTO DATABASE needs a snapshot of one database; this one has %zu", ndbs);
		goto out;
	}
	if (o->conn.journal_dir && !seq) {
		snprintf(err, sizeof(err),
			 "the snapshot has no journal sequence (taken offline, without acctgate's cut): it cannot be "
			 "rolled forward; restore it without --journal");
		goto out;
	}
	if (o->conn.journal_dir) {
		/* The journal must hold everything after the cut: its first
		 * record at or before the cut's successor. */
		struct journal_walk_summary sum;
		int w = journal_walk(o->conn.journal_dir, NULL, NULL, NULL, &sum, err, sizeof(err));
		bool gap = w == 0 && sum.records && sum.first_seq > seq + 1;
		bool before = w == 0 && o->conn.range.until_time_usec && o->conn.range.until_time_usec < snap.time_usec;
		journal_walk_summary_free(&sum);
		if (w != 0) {
			status = 2;
			goto out;
		}
		if (gap) {
			snprintf(err, sizeof(err), "the journal starts at seq %llu, after the snapshot's cut at %llu: "
						   "what happened between is lost",
				 (unsigned long long)sum.first_seq, (unsigned long long)seq);
			goto out;
		}
		if (before) {
			snprintf(err, sizeof(err), "the time asked for is before the snapshot was taken");
			goto out;
		}
	}
	struct replay_options conn = o->conn;
	conn.local_infile = true;
	struct restore_options lo = *o;
	lo.conn = conn;
	l.o = &lo;
	m = replay_connect(&conn, err, sizeof(err));
	if (!m) {
		status = 3;
		goto out;
	}
	for (size_t i = 0; i < ndbs; i++) {
		int e = db_exists(m, target_db(o, dbs[i]), err, sizeof(err));
		if (e != 0) {
			if (e > 0)
				snprintf(err, sizeof(err), "database %s exists on the target: restore into an empty server or "
							   "under another name",
					 target_db(o, dbs[i]));
			goto out;
		}
	}
	for (size_t i = 0; i < ndbs; i++)
		if (!create_tables(m, &l, dbs[i], err, sizeof(err)))
			goto out;
	int threads = o->threads < 1 ? 1 : o->threads > SNAPSHOT_THREADS_MAX ? SNAPSHOT_THREADS_MAX : o->threads;
	pthread_t th[SNAPSHOT_THREADS_MAX];
	int started = 0;
	for (int i = 0; i < threads; i++)
		if (pthread_create(&th[i], NULL, load_worker, &l) == 0)
			started++;
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	if (!started)
		snprintf(l.err, sizeof(l.err), "cannot start a loading thread");
	if (l.err[0]) {
		snprintf(err, sizeof(err), "%s", l.err);
		goto out;
	}
	for (size_t i = 0; i < ndbs; i++)
		if (!create_programs(m, o, dbs[i], err, sizeof(err)))
			goto out;
	fprintf(out, "restored snapshot %s (seq %llu): %llu tables, %llu rows\n", snap.id, (unsigned long long)seq,
		(unsigned long long)snap.tables, (unsigned long long)snap.rows);
	status = 0;
	if (o->conn.journal_dir) {
		struct replay_options r = conn;
		r.range.from_seq = seq + 1;
		r.databases = (const char(*)[65])dbs;
		r.ndatabases = ndbs;
		if (o->into_database && o->into_database[0]) {
			r.db_from = dbs[0];
			r.db_to = o->into_database;
		}
		status = replay_run(&r, out, errf);
	}
out:
	if (status == 4 || status == 2 || status == 3)
		fprintf(errf, "acctgate restore: %s\n", err[0] ? err : "failed");
	if (m)
		mysql_close(m);
	for (size_t i = 0; l.tables && i < l.m.ntables; i++)
		free(l.tables[i].alter);
	free(l.tables);
	free(l.order);
	free(l.taken);
	snapshot_manifest_free(&l.m);
	return status;
}
