/*
 * manifest.c - the MANIFEST's reader and writer (manifest.h; the format is
 * drawn in snapshot.h).
 *
 * The reader believes nothing it has not checked: each line must match
 * its keyword's shape to the end, a format 2 table's files must follow it,
 * as many as its line says, summing to its rows and bytes, and every path
 * must name a file directly under data/<db>/, since restore hands it to
 * LOAD DATA LOCAL. Format 1 (one file per table, the CRC on the table
 * line) reads into the same structure, its paths derived from the names.
 */
#include "manifest.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void why(char *err, size_t err_len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void why(char *err, size_t err_len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, err_len, fmt, ap);
	va_end(ap);
}

/* Room for one more element of size `size` in *p (n used of *cap). */
static bool grow(void *p, size_t *cap, size_t n, size_t size)
{
	void **arr = p;
	if (n < *cap)
		return true;
	size_t c = *cap ? *cap * 2 : 16;
	void *q = realloc(*arr, c * size);
	if (!q)
		return false;
	*arr = q;
	*cap = c;
	return true;
}

/* A path restore may open: data/<db>/<one name>.tsv.zst, nothing above or below. */
static bool path_in_data(const char *path, const char *db)
{
	size_t dl = strlen(db), pl = strlen(path);
	static const char ext[] = ".tsv.zst";
	if (strncmp(path, "data/", 5) != 0 || strncmp(path + 5, db, dl) != 0 || path[5 + dl] != '/')
		return false;
	const char *name = path + 6 + dl;
	return strchr(name, '/') == NULL && strcmp(name, "..") != 0 && pl > 6 + dl + sizeof(ext) - 1 &&
	       strcmp(path + pl - (sizeof(ext) - 1), ext) == 0;
}

/* The table whose files are being listed is complete: as many as its line
 * said, their totals its own. */
static bool table_complete(const struct snapshot_manifest *m, const char *path, int lineno, size_t want,
			   char *err, size_t err_len)
{
	if (!m->ntables || m->format != 2)
		return true;
	const struct manifest_table *t = &m->tables[m->ntables - 1];
	if (t->nfiles != want) {
		why(err, err_len, "%s:%d: table %s.%s: its line announces %zu files, %zu follow it", path, lineno, t->db,
		    t->name, want, t->nfiles);
		return false;
	}
	uint64_t rows = 0, bytes = 0;
	for (size_t i = t->first; i < t->first + t->nfiles; i++) {
		rows += m->files[i].rows;
		bytes += m->files[i].bytes;
	}
	if (rows != t->rows || bytes != t->bytes) {
		why(err, err_len, "%s:%d: table %s.%s: its files hold %llu rows and %llu bytes, its line says %llu and %llu",
		    path, lineno, t->db, t->name, (unsigned long long)rows, (unsigned long long)bytes,
		    (unsigned long long)t->rows, (unsigned long long)t->bytes);
		return false;
	}
	return true;
}

bool snapshot_manifest_read(const char *dir, struct snapshot_manifest *m, char *err, size_t err_len)
{
	memset(m, 0, sizeof(*m));
	char path[1024];
	snprintf(path, sizeof(path), "%.1000s/MANIFEST", dir);
	FILE *f = fopen(path, "re");
	if (!f) {
		why(err, err_len, "%s: %s", path, strerror(errno));
		return false;
	}
	size_t dcap = 0, tcap = 0, fcap = 0;
	size_t want = 0; /* files the last table line announced */
	char line[1024];
	int lineno = 0;
	bool ok = true;
	while (ok && fgets(line, sizeof(line), f)) {
		lineno++;
		size_t len = strlen(line);
		if (len == 0 || line[len - 1] != '\n') {
			why(err, err_len, "%s:%d: line too long or not ended", path, lineno);
			ok = false;
			break;
		}
		line[len - 1] = '\0';
		if (lineno == 1) {
			if (strcmp(line, MANIFEST_FORMAT_1) == 0 || strcmp(line, MANIFEST_FORMAT_2) == 0) {
				m->format = line[strlen(line) - 1] - '0';
			} else if (strncmp(line, "acctgate-snapshot ", 18) == 0) {
				why(err, err_len, "%s: format '%.40s', which this acctgate does not read (it reads 1 and 2)", path,
				    line + 18);
				ok = false;
			} else {
				why(err, err_len, "%s: not an acctgate snapshot manifest", path);
				ok = false;
			}
			continue;
		}
		char db[65], name[65], rel[MANIFEST_PATH_MAX];
		unsigned long long rows, bytes, v;
		unsigned crc;
		size_t nfiles = 0;
		int end = -1;
		if (sscanf(line, "id %31s%n", m->id, &end) == 1 && line[end] == '\0')
			continue;
		end = -1;
		if (sscanf(line, "journal_seq %llu%n", &v, &end) == 1 && line[end] == '\0') {
			m->seq = v;
			continue;
		}
		end = -1;
		if (sscanf(line, "time_usec %llu%n", &v, &end) == 1 && line[end] == '\0') {
			m->time_usec = v;
			continue;
		}
		end = -1;
		if (m->format == 2 && sscanf(line, "chunk_rows %llu%n", &v, &end) == 1 && line[end] == '\0') {
			m->chunk_rows = v;
			continue;
		}
		end = -1;
		if (sscanf(line, "database %64s%n", db, &end) == 1 && line[end] == '\0') {
			ok = grow(&m->dbs, &dcap, m->ndbs, sizeof(*m->dbs));
			if (ok)
				snprintf(m->dbs[m->ndbs++], sizeof(*m->dbs), "%s", db);
			continue;
		}
		end = -1;
		int n = m->format == 1 ? sscanf(line, "table %64s %64s rows %llu bytes %llu crc32c %x%n", db, name, &rows,
						&bytes, &crc, &end)
				       : sscanf(line, "table %64s %64s rows %llu bytes %llu files %zu%n", db, name, &rows,
						&bytes, &nfiles, &end);
		if (n == 5 && line[end] == '\0') {
			ok = table_complete(m, path, lineno, want, err, err_len);
			if (ok && !(grow(&m->tables, &tcap, m->ntables, sizeof(*m->tables)) &&
				    (m->format == 2 || grow(&m->files, &fcap, m->nfiles, sizeof(*m->files))))) {
				why(err, err_len, "out of memory reading %s", path);
				ok = false;
			}
			if (!ok)
				break;
			struct manifest_table *t = &m->tables[m->ntables++];
			*t = (struct manifest_table){.rows = rows, .bytes = bytes, .first = m->nfiles};
			snprintf(t->db, sizeof(t->db), "%s", db);
			snprintf(t->name, sizeof(t->name), "%s", name);
			want = nfiles;
			if (m->format == 1) {
				struct manifest_file *fl = &m->files[m->nfiles++];
				*fl = (struct manifest_file){.table = m->ntables - 1, .rows = rows, .bytes = bytes, .crc = crc};
				snprintf(fl->path, sizeof(fl->path), "data/%s/%s.tsv.zst", db, name);
				t->nfiles = 1;
			}
			continue;
		}
		end = -1;
		if (m->format == 2 &&
		    sscanf(line, "file %64s %64s %191s rows %llu bytes %llu crc32c %x%n", db, name, rel, &rows, &bytes, &crc,
			   &end) == 6 &&
		    line[end] == '\0') {
			struct manifest_table *t = m->ntables ? &m->tables[m->ntables - 1] : NULL;
			if (!t || t->nfiles == want || strcmp(t->db, db) != 0 || strcmp(t->name, name) != 0) {
				why(err, err_len, "%s:%d: a file of %s.%s where %s", path, lineno, db, name,
				    t && t->nfiles < want ? "a file of the table above is due" : "a table line is due");
				ok = false;
				break;
			}
			if (!path_in_data(rel, db)) {
				why(err, err_len, "%s:%d: file %s is not a data file under data/%s/", path, lineno, rel, db);
				ok = false;
				break;
			}
			if (!grow(&m->files, &fcap, m->nfiles, sizeof(*m->files))) {
				why(err, err_len, "out of memory reading %s", path);
				ok = false;
				break;
			}
			struct manifest_file *fl = &m->files[m->nfiles++];
			*fl = (struct manifest_file){.table = m->ntables - 1, .rows = rows, .bytes = bytes, .crc = crc};
			snprintf(fl->path, sizeof(fl->path), "%s", rel);
			t->nfiles++;
			continue;
		}
		why(err, err_len, "%s:%d: malformed line", path, lineno);
		ok = false;
	}
	if (ok && lineno == 0) {
		why(err, err_len, "%s: empty", path);
		ok = false;
	}
	ok = ok && table_complete(m, path, lineno, want, err, err_len);
	fclose(f);
	return ok;
}

bool snapshot_manifest_write(const char *dir, const struct snapshot_manifest *m, char *err, size_t err_len)
{
	char path[1024], tmp[1100];
	snprintf(path, sizeof(path), "%.1000s/MANIFEST", dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "we");
	if (!f) {
		why(err, err_len, "%s: %s", tmp, strerror(errno));
		return false;
	}
	fprintf(f, "%s\nid %s\njournal_seq %llu\ntime_usec %llu\nchunk_rows %llu\n", MANIFEST_FORMAT_2, m->id,
		(unsigned long long)m->seq, (unsigned long long)m->time_usec, (unsigned long long)m->chunk_rows);
	for (size_t i = 0; i < m->ndbs; i++)
		fprintf(f, "database %s\n", m->dbs[i]);
	for (size_t i = 0; i < m->ntables; i++) {
		const struct manifest_table *t = &m->tables[i];
		fprintf(f, "table %s %s rows %llu bytes %llu files %zu\n", t->db, t->name, (unsigned long long)t->rows,
			(unsigned long long)t->bytes, t->nfiles);
		for (size_t k = t->first; k < t->first + t->nfiles; k++)
			fprintf(f, "file %s %s %s rows %llu bytes %llu crc32c %08x\n", t->db, t->name, m->files[k].path,
				(unsigned long long)m->files[k].rows, (unsigned long long)m->files[k].bytes, m->files[k].crc);
	}
	bool ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
	ok = fclose(f) == 0 && ok && rename(tmp, path) == 0;
	int d = ok ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
	ok = ok && d >= 0 && fsync(d) == 0;
	if (d >= 0)
		close(d);
	if (!ok)
		why(err, err_len, "%s: %s", path, strerror(errno));
	return ok;
}

void snapshot_manifest_free(struct snapshot_manifest *m)
{
	free(m->dbs);
	free(m->tables);
	free(m->files);
	memset(m, 0, sizeof(*m));
}
