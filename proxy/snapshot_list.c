/*
 * snapshot_list.c - the snapshots in a directory (snapshot_list.h).
 *
 * A summary is read from the MANIFEST alone (its journal sequence, time
 * and per-table counts); VERIFY SNAPSHOT is what re-reads the data.
 */
#include "snapshot_list.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "manifest.h"

/* One snapshot's summary from its manifest (manifest.h reads both
 * formats); false when it cannot be read (no snapshot). */
static bool read_summary(const char *snapshot_dir, struct snapshot_entry *e)
{
	struct snapshot_manifest m;
	char err[256];
	bool ok = snapshot_manifest_read(snapshot_dir, &m, err, sizeof(err));
	if (ok) {
		e->seq = m.seq;
		e->time_usec = m.time_usec;
		e->tables = m.ntables;
		for (size_t i = 0; i < m.ntables; i++) {
			e->rows += m.tables[i].rows;
			e->bytes += m.tables[i].bytes;
		}
	}
	snapshot_manifest_free(&m);
	return ok;
}

static int by_time(const void *a, const void *b)
{
	const struct snapshot_entry *x = a, *y = b;
	if (x->time_usec != y->time_usec)
		return x->time_usec < y->time_usec ? -1 : 1;
	return strcmp(x->id, y->id);
}

bool snapshot_list_read(const char *dir, const char *skip, struct snapshot_entry **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	DIR *d = dir[0] ? opendir(dir) : NULL;
	if (!d)
		return true;
	size_t cap = 0;
	bool ok = true;
	struct dirent *de;
	while (ok && (de = readdir(d))) {
		if (de->d_name[0] == '.' || (skip && strcmp(de->d_name, skip) == 0))
			continue;
		struct snapshot_entry e = {0};
		char path[CONFIG_STR_MAX + sizeof(e.id) + 16];
		snprintf(e.id, sizeof(e.id), "%s", de->d_name);
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (!read_summary(path, &e))
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			struct snapshot_entry *p = realloc(*out, cap * sizeof(*p));
			if (!p) {
				ok = false;
				break;
			}
			*out = p;
		}
		(*out)[(*n)++] = e;
	}
	closedir(d);
	if (!ok) {
		free(*out);
		*out = NULL;
		*n = 0;
		return false;
	}
	if (*n)
		qsort(*out, *n, sizeof(**out), by_time);
	return true;
}

static int remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path) == 0 ? 0 : errno;
}

int snapshot_list_remove(const char *dir, const char *id)
{
	char path[CONFIG_STR_MAX + 256 + 16];
	snprintf(path, sizeof(path), "%s/%s/MANIFEST", dir, id);
	if (unlink(path) != 0 && errno != ENOENT)
		return errno;
	snprintf(path, sizeof(path), "%s/%s", dir, id);
	int e = nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS);
	return e > 0 ? e : e < 0 ? errno : 0;
}

size_t snapshot_list_expired(const struct snapshot_entry *e, size_t n, const struct config_keep *keep,
			     uint64_t now_usec, bool (*in_use)(void *arg, const char *id), void *arg, bool *drop)
{
	size_t dropped = 0;
	for (size_t i = 0; i < n; i++) {
		bool expired = false;
		switch (keep->kind) {
		case CONFIG_KEEP_COUNT:
			expired = n - i > (uint64_t)keep->n;
			break;
		case CONFIG_KEEP_AGE:
			expired = e[i].time_usec + (uint64_t)keep->n * 1000000u < now_usec;
			break;
		case CONFIG_KEEP_ALL:
			break;
		}
		drop[i] = expired && i + 1 < n && !(in_use && in_use(arg, e[i].id));
		dropped += drop[i];
	}
	return dropped;
}
