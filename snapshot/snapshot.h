/*
 * snapshot.h - consistent snapshots of databases, taken over acctgate's
 * own connections, and their restore.
 *
 * A snapshot is a directory any admin can read without acctgate:
 *
 *   MANIFEST                     text, drawn below
 *   schema/<db>.sql              CREATE DATABASE and every table (mariadb
 *                                client: `mariadb < schema/db.sql`)
 *   schema/<db>.post.sql         views, procedures, functions, triggers and
 *                                events, loaded after the data (triggers
 *                                must not fire on restored rows)
 *   data/<db>/<table>.tsv.zst    the rows in LOAD DATA's default format
 *                                (tab-separated, backslash escapes, \N for
 *                                NULL), as the server stores the bytes
 *                                (SET NAMES binary), zstd-compressed
 *   data/<db>/<table>.<nnnn>.tsv.zst
 *                                the same, for a table dumped in chunks:
 *                                chunk nnnn (0001, 0002, ...) holds one
 *                                range of the primary key's first column,
 *                                the ranges in key order
 *
 * MANIFEST, format 2 (one item per line, space-separated):
 *
 *   acctgate-snapshot 2
 *   id <id>                      the directory's name
 *   journal_seq <n>              the cut's journal sequence; 0 = none
 *   time_usec <n>                when the views opened, microseconds since 1970
 *   chunk_rows <n>               the dump's [snapshot] chunk_rows (0 = never)
 *   database <db>                one line per database
 *   table <db> <table> rows <n> bytes <n> files <k>
 *   file <db> <table> <path> rows <n> bytes <n> crc32c <8 hex digits>
 *                                k file lines right after their table line;
 *                                path relative to the directory; bytes and
 *                                the CRC-32C are of the uncompressed rows;
 *                                the table line's rows and bytes are its
 *                                files' sums
 *
 * Format 1 (before chunks) had no chunk_rows line and no file lines: a
 * table line ended `crc32c <x>` instead of `files <k>`, for its one file
 * data/<db>/<table>.tsv.zst. Both read (manifest.h); format 2 is written.
 *
 * Chunks: a table whose primary key starts with an integer column and
 * whose estimated rows (information_schema) exceed chunk_rows is dumped in
 * ceil(rows / chunk_rows) ranges (at most SNAPSHOT_CHUNKS_MAX, and no more
 * than the column has values) of equal width of that column, between
 * its MIN and MAX in the snapshot, the first and last open-ended (so the
 * estimate and the bounds decide only the balance, never which rows are
 * dumped); any thread takes any chunk, every one in the same view.
 *
 * Consistency: every dump connection opens START TRANSACTION WITH
 * CONSISTENT SNAPSHOT inside a cut (struct snapshot_cut) during which no
 * commit is in flight through acctgate; the cut's journal sequence is the
 * snapshot's, and replay continues from the record after it. The offline
 * `acctgate snapshot` has no cut: one REPEATABLE READ view per
 * connection, opened back to back, so a commit landing between two of them
 * is in some tables (or chunks) and not in others; and it carries no
 * journal sequence, so it cannot be rolled forward.
 */
#ifndef ACCTGATE_SNAPSHOT_H
#define ACCTGATE_SNAPSHOT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "journal_walk.h"
#include "replay.h"

#define SNAPSHOT_THREADS_MAX 16
/* [snapshot] chunk_rows's default (proxy/config.c gives the same), and the
 * most chunks one table is cut into (beyond, chunks grow). */
#define SNAPSHOT_CHUNK_ROWS 100000
#define SNAPSHOT_CHUNKS_MAX 9999
/* How often a cut is tried before the snapshot fails (snapshot.c). */
#define SNAPSHOT_CUT_ATTEMPTS 100

/* The daemon's way to stop commits around the snapshot's start
 * (recorder_cut_begin/mark/end). */
struct snapshot_cut {
	/* Hold new commits and wait, briefly, for those in flight; false (and
	 * nothing held) when they did not finish in time: tried again. */
	bool (*begin)(void *arg, char *err, size_t err_len);
	uint64_t (*mark)(void *arg, char *err, size_t err_len); /* the cut's journal sequence, 0 on error */
	void (*end)(void *arg, uint64_t *held_usec);
	void *arg;
};

/*
 * A snapshot's cancellation, shared by the thread taking it and the one
 * that may cancel it (the daemon stopping). snapshot_cancel sets the flag
 * and shuts down every connection the snapshot has open (mariadb_cancel),
 * so a call waiting on the server (a metadata lock, a slow read) returns
 * at once, and so does every later one. The snapshot then fails with
 * "cancelled" and its directory is removed.
 */
struct st_mysql;
struct snapshot_cancel {
	pthread_mutex_t lock;
	bool cancelled;                               /* under lock */
	struct st_mysql *conns[SNAPSHOT_THREADS_MAX]; /* under lock: the open ones, to shut down */
};
void snapshot_cancel_init(struct snapshot_cancel *c);
void snapshot_cancel_destroy(struct snapshot_cancel *c);
/* Any thread, any time (before, during or after the snapshot). */
void snapshot_cancel(struct snapshot_cancel *c);

struct snapshot_options {
	struct replay_options conn; /* server, account, TLS (range and journal unused) */
	const char *dir;            /* the snapshot's directory; must not exist */
	const char *databases;      /* comma-separated; NULL or "" = every non-system database */
	int threads;                /* dump connections, 1..SNAPSHOT_THREADS_MAX */
	uint64_t chunk_rows;        /* a larger table is dumped in chunks (above); 0 = never */
	const struct snapshot_cut *cut; /* NULL: offline, no journal sequence */
	bool progress;              /* a progress line on stderr */
	struct snapshot_cancel *cancel; /* NULL: it cannot be cancelled */
};

struct snapshot_result {
	char id[32];                /* the directory's name */
	uint64_t seq;               /* journal sequence of the cut, 0 = none */
	uint64_t time_usec;
	uint64_t tables, rows, bytes; /* bytes: uncompressed rows */
	double seconds;
	uint64_t held_usec;         /* how long commits were held */
};

/* Take a snapshot. False with err filled (what failed, where); a failed
 * snapshot's directory is removed. */
bool snapshot_take(const struct snapshot_options *o, struct snapshot_result *res, char *err, size_t err_len);

/* Re-read a snapshot: manifest, every data file's rows and CRC (the
 * first that differs named in err). */
bool snapshot_verify(const char *dir, struct snapshot_result *res, char *err, size_t err_len);

struct restore_options {
	struct replay_options conn; /* target server; conn.journal_dir and conn.range: the roll forward */
	const char *snapshot_dir;
	const char *into_database;  /* restore a one-database snapshot under this name; NULL = its own */
	int threads;
	bool progress;
};

/* Load the snapshot into the target (its databases must not exist there),
 * then, with conn.journal_dir, replay the journal from the snapshot's
 * sequence to the range's end. Exit status as replay_run's, 4 when the
 * snapshot cannot be loaded. */
int restore_run(const struct restore_options *o, FILE *out, FILE *err);

/* "CREATE DEFINER=`u`@`h` PROCEDURE" -> "CREATE PROCEDURE", in place: a
 * restoring account needs no SUPER (the definer becomes itself). */
void snapshot_strip_definer(char *s);

/* The one database a snapshot holds; false with err filled when it holds
 * none or several. */
bool snapshot_database(const char *snapshot_dir, char *db, size_t db_len, char *err, size_t err_len);

struct swap_result {
	bool swapped;     /* the live name holds the restored tables (even if err says more) */
	uint64_t tables;  /* restored tables moved in */
};

/* An in-place restore's last step (swap.c): the tables of database side
 * (a restore of live, loaded beside it) take live's place in one RENAME
 * TABLE, live's own tables kept in database old (created here), every id
 * handed out since kept unused, the stored routines moved, side dropped.
 * The caller holds every client command meanwhile. False with err
 * filled; res->swapped says whether the data moved before the failure. */
bool restore_swap(const struct replay_options *conn, const char *live, const char *side, const char *old,
		  struct swap_result *res, char *err, size_t err_len);
/* DROP DATABASE IF EXISTS db: what a failed in-place restore loaded. */
bool restore_drop_database(const struct replay_options *conn, const char *db, char *err, size_t err_len);

#endif
