/*
 * journal_undo.c - the UNDO file beside the journal (journal_undo.h).
 */
#include "journal_undo.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One line is short; anything longer is not ours. */
#define UNDO_LINE_MAX 256

bool journal_undo_parse_line(const char *line, size_t len, struct journal_undo *u)
{
	char buf[UNDO_LINE_MAX];
	if (len >= sizeof(buf) || memchr(line, '\0', len))
		return false;
	memcpy(buf, line, len);
	buf[len] = '\0';
	unsigned long long a, b, c, d;
	int used = -1;
	if (sscanf(buf, "undo until_seq %20llu until_time %20llu cut_seq %20llu cut_time %20llu%n", &a, &b, &c, &d,
		   &used) != 4 ||
	    used < 0 || (size_t)used != len || c == 0)
		return false;
	*u = (struct journal_undo){a, b, c, d};
	return true;
}

bool journal_undo_load(const char *dir, struct journal_undo **undo, size_t *n, char *why, size_t why_len)
{
	*undo = NULL;
	*n = 0;
	char path[4200];
	snprintf(path, sizeof(path), "%s/" JOURNAL_UNDO_FILE, dir);
	FILE *f = fopen(path, "re");
	if (!f) {
		if (errno == ENOENT)
			return true;
		snprintf(why, why_len, "%s: %s", path, strerror(errno));
		return false;
	}
	char line[UNDO_LINE_MAX];
	size_t cap = 0;
	unsigned lineno = 0;
	bool ok = true;
	while (ok && fgets(line, sizeof(line), f)) {
		lineno++;
		struct journal_undo u;
		size_t len = strlen(line);
		if (len && line[len - 1] == '\n')
			len--;
		if (!journal_undo_parse_line(line, len, &u)) {
			snprintf(why, why_len, "%s line %u: expected 'undo until_seq N until_time USEC cut_seq N cut_time USEC'",
				 path, lineno);
			ok = false;
			break;
		}
		if (*n == cap) {
			cap = cap ? cap * 2 : 4;
			struct journal_undo *p = realloc(*undo, cap * sizeof(*p));
			if (!p) {
				snprintf(why, why_len, "out of memory");
				ok = false;
				break;
			}
			*undo = p;
		}
		(*undo)[(*n)++] = u;
	}
	if (ok && ferror(f)) {
		snprintf(why, why_len, "%s: %s", path, strerror(errno));
		ok = false;
	}
	fclose(f);
	if (!ok) {
		free(*undo);
		*undo = NULL;
		*n = 0;
	}
	return ok;
}

static bool fsync_path(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC);
	if (fd < 0)
		return false;
	bool ok = fsync(fd) == 0;
	close(fd);
	return ok;
}

bool journal_undo_append(const char *dir, const struct journal_undo *u, char *why, size_t why_len)
{
	struct journal_undo *old;
	size_t n;
	if (!journal_undo_load(dir, &old, &n, why, why_len))
		return false;
	char path[4200], tmp[4220];
	snprintf(path, sizeof(path), "%s/" JOURNAL_UNDO_FILE, dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "we");
	bool ok = f != NULL;
	for (size_t i = 0; ok && i <= n; i++) {
		const struct journal_undo *x = i < n ? &old[i] : u;
		ok = fprintf(f, "undo until_seq %llu until_time %llu cut_seq %llu cut_time %llu\n",
			     (unsigned long long)x->until_seq, (unsigned long long)x->until_time_usec,
			     (unsigned long long)x->cut_seq, (unsigned long long)x->cut_time_usec) > 0;
	}
	free(old);
	if (f) {
		ok = fflush(f) == 0 && fsync(fileno(f)) == 0 && ok;
		ok = fclose(f) == 0 && ok;
	}
	ok = ok && rename(tmp, path) == 0 && fsync_path(dir, O_RDONLY | O_DIRECTORY);
	if (!ok) {
		snprintf(why, why_len, "%s: %s", path, strerror(errno));
		unlink(tmp);
	}
	return ok;
}
