/*
 * journal_int.h - what journal.c (the format: CRC, segment scan, reader,
 * segment listing) shares with journal_writer.c (recovery and the writer
 * thread). Nothing outside snapshot/ includes it; the layout itself is
 * drawn in journal.c.
 */
#ifndef ACCTGATE_JOURNAL_INT_H
#define ACCTGATE_JOURNAL_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "journal.h"
#include "journal_test.h"

#define JNL_SEG_MAGIC "AGJSEG01"
#define JNL_SEG_VERSION 1u
#define JNL_SEG_HDR 48u         /* segment header; the first record starts here */
#define JNL_REC_MAGIC 0x524a4741u /* "AGJR" in file order */
#define JNL_REC_HDR 40u
#define JNL_NAME_DIGITS 20
#define JNL_NAME_LEN 24         /* 20 digits + ".agj" */
#define JNL_SEG_MIN (1u << 20)
#define JNL_WHY 512

/* Bytes a record of len payload bytes takes on disk (header, payload, pad). */
static inline uint64_t jnl_rec_size(uint64_t len)
{
	return (JNL_REC_HDR + len + 7) & ~(uint64_t)7;
}

static inline void jnl_put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void jnl_put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint32_t jnl_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t jnl_get64(const uint8_t *p)
{
	return (uint64_t)jnl_get32(p) | (uint64_t)jnl_get32(p + 4) << 32;
}

/* The record CRC: payload first (so journal_append can compute that part
 * on the caller's thread), then the header without its crc field. */
uint32_t jnl_record_crc(uint32_t payload_crc, const uint8_t *hdr);

/* Fill a segment header for a segment starting at first_seq. */
void jnl_segment_header(uint8_t hdr[JNL_SEG_HDR], uint64_t first_seq, uint64_t created_usec, uint64_t size);

/* One segment being walked record by record (journal_scan_segment and the
 * reader both drive it). */
struct jnl_scan {
	const uint8_t *buf;
	size_t len;
	const char *name;
	bool is_last;
	uint64_t off;        /* next record's offset */
	uint64_t last_off;   /* previous good record's offset, 0 before the first */
	uint64_t seq;        /* sequence number the next record must carry */
	bool done;
	enum journal_read result; /* once done: END or CORRUPT */
	uint64_t torn, torn_off;
	char why[JNL_WHY];
};

/* Check the segment header; READ_CORRUPT (why filled) or READ_RECORD
 * meaning "records may follow". */
enum journal_read jnl_scan_begin(struct jnl_scan *s, const uint8_t *buf, size_t len, const char *name,
				 bool is_last, uint64_t expect_seq);
/* The next good record, END (s->torn says whether a torn tail ended it) or
 * CORRUPT (s->why). Once END or CORRUPT it keeps returning that. */
enum journal_read jnl_scan_next(struct jnl_scan *s, struct journal_record *rec);

/* A segment file's name for first_seq, and back (false if name is not a
 * segment's). */
void jnl_segment_name(char out[JNL_NAME_LEN + 1], uint64_t first_seq);
bool jnl_parse_name(const char *name, uint64_t *first_seq);

/* The segments in the directory open as dirfd, sorted by first sequence
 * number (malloc'd array in *out). False with errno on a read error. */
bool jnl_list_segments(int dirfd, uint64_t **out, size_t *n);

/* A whole segment file mapped read-only. */
struct jnl_map {
	const uint8_t *buf;
	size_t len;
};
/* 0 or an errno (which call failed goes into why). */
int jnl_map_segment(int dirfd, const char *name, struct jnl_map *m, char *why, size_t why_len);
void jnl_unmap(struct jnl_map *m);

/* The errno journal_test_fail_next armed for this point (once), else 0. */
int jnl_injected(enum journal_test_point p);

#endif
