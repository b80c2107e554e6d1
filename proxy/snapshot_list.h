/*
 * snapshot_list.h - the snapshots in [snapshot] dir as the daemon sees
 * them: each directory with a MANIFEST (written last, by rename: a
 * snapshot is whole or has none), read as a summary without the data, and
 * which of them [snapshot] keep lets go. What SHOW SNAPSHOTS, SHOW STATUS,
 * DROP SNAPSHOT and the scheduler (snapshots.h) share.
 */
#ifndef ACCTGATE_SNAPSHOT_LIST_H
#define ACCTGATE_SNAPSHOT_LIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct snapshot_entry {
	char id[256];               /* the directory's name */
	uint64_t seq;               /* the cut's journal sequence; 0 = taken offline */
	uint64_t time_usec;         /* the cut's time */
	uint64_t tables, rows, bytes;
};

/*
 * The snapshots in dir, oldest first (by their manifests' time), leaving
 * out `skip` (the one being written; NULL = none). A missing or unreadable
 * directory is an empty list. *out is malloc'd (NULL when empty); false
 * only when out of memory.
 */
bool snapshot_list_read(const char *dir, const char *skip, struct snapshot_entry **out, size_t *n);

/*
 * Delete dir/id, a snapshot or what is left of one: its MANIFEST first, so
 * a removal cut short leaves a directory no list shows and RESTORE
 * refuses, never half a snapshot that looks whole. 0, or the errno of what
 * could not be removed.
 */
int snapshot_list_remove(const char *dir, const char *id);

/*
 * Which snapshots keep lets go of, of the n in e (oldest first): drop[i]
 * set for each, and their count returned. A count keeps the newest n, an
 * age those taken since now minus it. Never the newest, and never one
 * in_use(arg, id) says is being read: it stays, beyond the count if need
 * be, until a later snapshot's turn.
 */
size_t snapshot_list_expired(const struct snapshot_entry *e, size_t n, const struct config_keep *keep,
			     uint64_t now_usec, bool (*in_use)(void *arg, const char *id), void *arg, bool *drop);

#endif
