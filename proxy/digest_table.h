/*
 * digest_table.h - per-digest statement statistics in bounded memory: a
 * hash table keyed by the digest's 64-bit hash (sqltext.h sql_digest) with
 * a least-recently-used list through it. Finding, touching, adding and
 * evicting are O(1) (expected: chains stay short because the bucket array
 * is at least twice the cap). Memory is at most `max` entries of about
 * 1.2 KiB each plus their text (DIGEST_TEXT_MAX at most).
 *
 * Pure data structure: no locks, no clock, no I/O. The caller owns the
 * threading (digests.h: one table per worker) and passes in times.
 *
 * Latency histogram (for p95): log-linear buckets over microseconds.
 * Values below 8 us have a bucket each; above, every power of two
 * [2^k, 2^(k+1)) is cut into 8 equal buckets of width 2^(k-3). A bucket's
 * width is thus at most 1/8 of any value in it, and p95 is reported as the
 * middle of the bucket holding the sample of rank ceil(0.95 n): at most
 * half a width, 1/16 = 6.25% of the true p95, away from it (and never
 * above the exact max). 240 buckets reach 2^32 us (71 minutes); slower
 * samples land in the last one, whose p95 is reported as the max.
 */
#ifndef ACCTGATE_DIGEST_TABLE_H
#define ACCTGATE_DIGEST_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes of normalised text kept per digest, NUL included (sql_digest cuts
 * on a UTF-8 boundary; the hash still covers the whole text). */
#define DIGEST_TEXT_MAX 1024
/* Error codes counted one by one per digest; the rest go to err_other. */
#define DIGEST_ERR_CODES 4
#define DIGEST_HIST_SUB_BITS 3
#define DIGEST_HIST_BUCKETS 240

/* What SHOW QUERY DIGESTS sorts by (descending). */
enum digest_order {
	DIGEST_ORDER_COUNT,
	DIGEST_ORDER_TOTAL,  /* total latency */
	DIGEST_ORDER_MEAN,
	DIGEST_ORDER_P95,
	DIGEST_ORDER_MAX,
	DIGEST_ORDER_ERRORS,
	DIGEST_ORDER_ROWS,   /* rows sent plus rows affected */
};

struct digest_err_count {
	uint16_t code;
	uint64_t count; /* 0: the slot is free */
};

struct digest_stats {
	uint64_t count;          /* statements that ran (ended in OK, EOF or ERR) */
	uint64_t errors;         /* of which ended in ERR */
	struct digest_err_count err[DIGEST_ERR_CODES]; /* the first codes seen (merging keeps the top ones) */
	uint64_t err_other;      /* errors whose code had no slot */
	uint64_t total_usec, max_usec;
	uint64_t rows_sent, rows_affected;
	uint64_t lock_waits;     /* ended in 1205 (lock wait timeout) or 1213 (deadlock) */
	uint64_t first_seen_usec, last_seen_usec; /* wall clock */
	/* Counts per latency bucket. When one would overflow, every bucket is
	 * halved (rounding up): a quantile is a ratio of counts, which halving
	 * keeps to within one sample per bucket. */
	uint32_t hist[DIGEST_HIST_BUCKETS];
};

/* One statement's outcome. */
struct digest_sample {
	uint64_t latency_usec;
	uint64_t rows_sent, rows_affected;
	uint16_t err_code;       /* 0: it succeeded */
	uint64_t now_usec;       /* wall clock, for first/last seen */
};

struct digest_entry {
	uint64_t hash;
	struct digest_entry *chain;         /* the next one in its bucket */
	struct digest_entry *newer, *older; /* the LRU list */
	char *text;
	struct digest_stats st;
};

struct digest_table {
	struct digest_entry **buckets;
	unsigned bucket_bits;               /* 2^bucket_bits buckets */
	struct digest_entry *newest, *oldest;
	size_t n, max;
	uint64_t evicted;                   /* entries dropped to make room */
};

/* An empty table of at most max (>= 1) digests; false when out of memory. */
bool digest_table_init(struct digest_table *t, size_t max) __attribute__((warn_unused_result));
void digest_table_free(struct digest_table *t);
/* Forget every digest (the cap stays; the eviction count is zeroed). */
void digest_table_clear(struct digest_table *t);

/* The entry for hash, made the most recently used; NULL if absent. */
struct digest_entry *digest_table_touch(struct digest_table *t, uint64_t hash);
/* A new, most recently used entry with empty statistics and a copy of the
 * text (len bytes, cut to DIGEST_TEXT_MAX - 1), evicting the least
 * recently used one when the table is full. The hash must not be in the
 * table. NULL when out of memory. */
struct digest_entry *digest_table_add(struct digest_table *t, uint64_t hash, const char *text, size_t len)
	__attribute__((warn_unused_result));

/* Account one statement. */
void digest_stats_add(struct digest_stats *st, const struct digest_sample *s);
/* Fold from into into: sums, min/max, histograms bucket by bucket (exact:
 * the merged p95 is the p95 of all the samples, within the same bound),
 * and the DIGEST_ERR_CODES most frequent error codes of both (ties: the
 * lower code), the others counted in err_other. */
void digest_stats_merge(struct digest_stats *into, const struct digest_stats *from);
/* p95 latency in microseconds, within the bound above; 0 when empty. */
uint64_t digest_stats_p95(const struct digest_stats *st);

/* Merge every entry of from into into (adding, and evicting under into's
 * cap, as needed), least recently used first so that into's LRU order
 * follows from's. False when out of memory (into holds part of it). */
bool digest_table_merge(struct digest_table *into, const struct digest_table *from)
	__attribute__((warn_unused_result));

/* An entry with the value it is ranked by. */
struct digest_ranked {
	double key;
	const struct digest_entry *e;
};
/* Every entry of t into out (which holds t->n), sorted by order, largest
 * first; ties: more statements first, then the lower hash. */
void digest_table_rank(const struct digest_table *t, enum digest_order order, struct digest_ranked *out);

/* "count", "total", ...: the ORDER BY word of each order. */
const char *digest_order_name(enum digest_order o);

#endif
