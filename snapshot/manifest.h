/*
 * manifest.h - a snapshot's MANIFEST, read and written in one place
 * (manifest.c; the format is drawn in snapshot.h's header comment).
 *
 * The dump writes it last (temporary file, fsync, rename), so a directory
 * with a MANIFEST is a whole snapshot. Verify, restore and the admin port's
 * SHOW SNAPSHOTS read it through snapshot_manifest_read, which checks the
 * structure (every table's files listed after it, their totals equal to
 * the table's, every path inside data/<db>/) but not the data files
 * themselves: snapshot_verify does that.
 */
#ifndef ACCTGATE_MANIFEST_H
#define ACCTGATE_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MANIFEST_FORMAT_1 "acctgate-snapshot 1" /* one file per table, its CRC on the table line */
#define MANIFEST_FORMAT_2 "acctgate-snapshot 2" /* table lines, then file lines (chunks) */
/* A relative path: data/<db>/<table>.<nnnn>.tsv.zst fits with room. */
#define MANIFEST_PATH_MAX 192

struct manifest_file {
	char path[MANIFEST_PATH_MAX]; /* relative to the snapshot's directory */
	size_t table;                 /* index in tables */
	uint64_t rows, bytes;         /* bytes: uncompressed */
	uint32_t crc;                 /* CRC-32C of the uncompressed bytes */
};

struct manifest_table {
	char db[65], name[65];
	uint64_t rows, bytes;
	size_t first, nfiles; /* its files: files[first .. first + nfiles - 1], in key order */
};

struct snapshot_manifest {
	int format;           /* 1 or 2 */
	char id[32];
	uint64_t seq;         /* journal sequence of the cut, 0 = none */
	uint64_t time_usec;
	uint64_t chunk_rows;  /* the dump's [snapshot] chunk_rows; 0 = not chunked (and format 1) */
	char (*dbs)[65];
	size_t ndbs;
	struct manifest_table *tables;
	size_t ntables;
	struct manifest_file *files;
	size_t nfiles;
};

/* Read DIR/MANIFEST into m (zeroed first; free it with
 * snapshot_manifest_free whatever the result). False with err naming the
 * file, the line and what is wrong with it. */
bool snapshot_manifest_read(const char *dir, struct snapshot_manifest *m, char *err, size_t err_len)
	__attribute__((warn_unused_result));

/* Write m as DIR/MANIFEST in format 2: DIR/MANIFEST.tmp, fsync, rename,
 * fsync of DIR. False with err. */
bool snapshot_manifest_write(const char *dir, const struct snapshot_manifest *m, char *err, size_t err_len)
	__attribute__((warn_unused_result));

void snapshot_manifest_free(struct snapshot_manifest *m);

#endif
