/*
 * journal.h - the write-stream journal on disk: numbered records in
 * preallocated segment files, appended by one writer thread, read back by
 * the daemon at start (recovery), by `acctgate journal verify|cat` and by
 * `acctgate replay`. One module (journal.c, with the on-disk layout drawn
 * in its opening comment) is the only code that knows the format.
 *
 * A record's payload is opaque here (jtxn.h says what acctgate puts in
 * them); the journal gives each one a type byte, a sequence number that
 * grows by one per record across segments, a time in microseconds, a
 * CRC-32C, and the position of the record before it.
 *
 * Threads: journal_append may be called from any thread (workers); it only
 * copies the record into the writer's queue under a mutex and never waits
 * for the disk. The writer thread writes, fsyncs per policy (group commit:
 * one fsync for everything queued while the previous one ran), and then
 * calls each record's completion, in sequence order, on the writer thread.
 */
#ifndef ACCTGATE_JOURNAL_H
#define ACCTGATE_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum journal_fsync {
	JOURNAL_FSYNC_ALWAYS,   /* a record completes once it is on stable storage */
	JOURNAL_FSYNC_EVERYSEC, /* completes once written; fsync at most a second later */
	JOURNAL_FSYNC_OFF,      /* completes once written; the kernel flushes when it likes */
};

struct journal_options {
	const char *dir;          /* created (0700) if missing */
	uint64_t segment_size;    /* bytes per segment file, preallocated (min 1 MiB) */
	enum journal_fsync fsync;
	uint64_t retention_sec;   /* see "Retention" below; 0 = no age rule */
};

/*
 * Retention. A segment is deleted (never the current one, and only from
 * the front, so what stays is one unbroken run of sequence numbers) once
 * every rule that is set lets it go:
 *  - retention_sec > 0 lets go of a segment whose newest record is older;
 *  - a floor set with trim (journal_set_floor) lets go of a segment whose
 *    every record comes before the floor.
 * With neither set, every segment stays. Whatever retention_sec says, a
 * segment holding a record at or after the floor stays: the floor is the
 * oldest kept snapshot's cut, and rolling that snapshot forward reads the
 * journal from there.
 */

/* Largest payload one record may carry (a transaction's statements). */
#define JOURNAL_RECORD_MAX (256u << 20)

/* ---- writing (the daemon) ---------------------------------------------- */

struct journal;

/* What opening the journal found and repaired. */
struct journal_recovery {
	uint64_t segments;
	uint64_t first_seq, last_seq;   /* 0, 0 when empty */
	uint64_t last_time_usec;
	uint64_t truncated_bytes;       /* a torn tail cut off, 0 if none */
	char truncated_segment[256];    /* its file name */
	uint64_t truncated_offset;
};

/*
 * Open (or create) the journal in o->dir: check every segment as the
 * reader does, truncate a torn tail of the last segment (zeroing it, fsync),
 * and start the writer thread. NULL with err filled on an unreadable or
 * corrupt journal (a bad record in the middle is never repaired), on a
 * directory that cannot be created or written, or on a full disk.
 */
struct journal *journal_open(const struct journal_options *o, struct journal_recovery *rec, char *err,
			     size_t err_len);

/* A record's outcome, on the writer thread: err 0 and its sequence number
 * once it is as durable as the policy says, else an errno (ENOSPC, EIO,
 * ...) and seq 0: the record is not in the journal. Must be quick (post to
 * a mailbox); it must not call journal_append. */
typedef void (*journal_done_fn)(void *arg, uint64_t seq, int err);

/*
 * Queue one record (payload copied); `done` may be NULL for a record no
 * one waits on. The order of calls is the journal's order, across threads. Returns false only when out of memory; disk
 * errors arrive through `done`. After a disk error the journal keeps
 * trying: each later append retries the failed operation (a new segment
 * once space returns), so it recovers by itself.
 */
bool journal_append(struct journal *j, uint8_t type, uint64_t time_usec, const void *payload, size_t len,
		    journal_done_fn done, void *arg);

/*
 * The same, keeping `reserve` bytes free after the record in its segment
 * for a record to come that passes the same number as `release` (a
 * PREPARE reserves room for its COMMIT): that one then never needs a new
 * segment, so a full disk refuses the PREPARE, before the commit, and
 * never the COMMIT of a transaction the server committed. A record that
 * releases may be written even after an earlier record of its batch
 * failed.
 */
bool journal_append_reserving(struct journal *j, uint8_t type, uint64_t time_usec, const void *payload, size_t len,
			      uint64_t reserve, uint64_t release, journal_done_fn done, void *arg);
/* Append and wait until the record completes (never from the writer
 * thread, nor from a worker's loop: it blocks). 0 with *seq (may be NULL)
 * set, or the errno its completion got (ENOMEM when it could not be
 * queued). */
int journal_append_wait(struct journal *j, uint8_t type, uint64_t time_usec, const void *payload, size_t len,
			uint64_t *seq);

/* Give back a reservation no record will use (an outcome never written). */
bool journal_release(struct journal *j, uint64_t release);

/* The floor (0 = none) and whether segments wholly before it go (see
 * "Retention"). Any thread: the writer thread applies it, deleting what
 * the rules let go of, without waiting for its next rotation; the
 * directory is fsynced after the unlinks. */
void journal_set_floor(struct journal *j, uint64_t floor, bool trim);

struct journal_stats {
	uint64_t records, bytes;        /* appended since open */
	uint64_t fsyncs;
	uint64_t errors;                /* records that failed */
	uint64_t last_seq;              /* newest record written */
	uint64_t durable_seq;           /* newest record known fsynced */
	uint64_t last_time_usec;
	uint64_t segments;
	uint64_t first_seq;
	int last_errno;                 /* 0 once an append succeeded after an error */
};
void journal_get_stats(struct journal *j, struct journal_stats *out);

/* Complete every queued record, fsync, stop the writer, free. */
void journal_close(struct journal *j);

/* ---- reading (recovery, verify, cat, replay) --------------------------- */

struct journal_record {
	uint64_t seq;
	uint8_t type;
	uint64_t time_usec;
	const uint8_t *payload;   /* valid until the next call on the reader */
	size_t len;
	const char *segment;      /* file name, for messages */
	uint64_t offset;          /* of the record's header in that file */
};

enum journal_read {
	JOURNAL_READ_RECORD,  /* *rec filled */
	JOURNAL_READ_END,     /* clean end (a torn tail is reported by journal_reader_torn) */
	JOURNAL_READ_CORRUPT, /* why[] names segment, offset, sequence and what is wrong */
	JOURNAL_READ_ERROR,   /* an I/O error; why[] says which file */
};

struct journal_reader;

/* NULL with err filled when dir cannot be read. An empty or missing
 * journal is not an error: the first read returns END. */
struct journal_reader *journal_reader_open(const char *dir, char *err, size_t err_len);
/* Start at the first record whose sequence number is >= seq (skipping
 * whole segments that end before it). Call before the first read. */
void journal_reader_seek(struct journal_reader *r, uint64_t seq);
enum journal_read journal_reader_next(struct journal_reader *r, struct journal_record *rec, char *why,
				      size_t why_len);
/* After END: the torn tail the last segment ends with (bytes, file,
 * offset), or false if it ended cleanly. */
bool journal_reader_torn(const struct journal_reader *r, uint64_t *bytes, const char **segment, uint64_t *offset);
uint64_t journal_reader_segments(const struct journal_reader *r);
void journal_reader_close(struct journal_reader *r);

/*
 * The segment format as a pure function, for the reader and the fuzz
 * target: check the segment in buf (a whole file) and call `each` for
 * every good record in order. expect_seq is the sequence number its first
 * record must carry (0: whatever the header says). Returns READ_END with
 * *torn set to the bytes of a torn tail (a bad record with nothing valid
 * after it; only allowed when is_last), or READ_CORRUPT with why[] filled.
 * *next_seq is the sequence number after the last good record.
 */
enum journal_read journal_scan_segment(const uint8_t *buf, size_t len, const char *name, bool is_last,
				       uint64_t expect_seq, bool (*each)(void *arg, const struct journal_record *rec),
				       void *arg, uint64_t *next_seq, uint64_t *torn, uint64_t *torn_offset,
				       char *why, size_t why_len);

/* CRC-32C (Castagnoli), as the records carry it. */
uint32_t journal_crc32c(uint32_t crc, const void *data, size_t len);

#endif
