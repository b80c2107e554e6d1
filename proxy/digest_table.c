/*
 * digest_table.c - see digest_table.h.
 *
 * Layout: a power-of-two array of singly linked chains (an entry's bucket
 * is the top bits of its hash times a 64-bit odd constant, so that the
 * FNV-1a hashes' weaker low bits do not decide alone), and one doubly
 * linked list through every entry, newest first. The array holds at least
 * 2 * max slots, so a chain is short and unlinking from it (the one step
 * that walks) stays O(1) in expectation.
 */
#include "digest_table.h"

#include <stdlib.h>
#include <string.h>

#define ER_LOCK_WAIT_TIMEOUT 1205
#define ER_LOCK_DEADLOCK 1213
/* Fibonacci hashing's multiplier: 2^64 / golden ratio, odd. */
#define HASH_MULTIPLIER 0x9E3779B97F4A7C15ull

_Static_assert(DIGEST_HIST_BUCKETS == (1 << DIGEST_HIST_SUB_BITS) * 30,
	       "the histogram holds 2^SUB_BITS exact buckets and 29 powers of two");

static size_t bucket_of(const struct digest_table *t, uint64_t hash)
{
	return (size_t)((hash * HASH_MULTIPLIER) >> (64 - t->bucket_bits));
}

bool digest_table_init(struct digest_table *t, size_t max)
{
	*t = (struct digest_table){.max = max ? max : 1, .bucket_bits = 4};
	while (((size_t)1 << t->bucket_bits) < 2 * t->max)
		t->bucket_bits++;
	t->buckets = calloc((size_t)1 << t->bucket_bits, sizeof(*t->buckets));
	return t->buckets != NULL;
}

void digest_table_clear(struct digest_table *t)
{
	for (struct digest_entry *e = t->newest, *next; e; e = next) {
		next = e->older;
		free(e->text);
		free(e);
	}
	if (t->buckets)
		memset(t->buckets, 0, ((size_t)1 << t->bucket_bits) * sizeof(*t->buckets));
	t->newest = t->oldest = NULL;
	t->n = 0;
	t->evicted = 0;
}

void digest_table_free(struct digest_table *t)
{
	digest_table_clear(t);
	free(t->buckets);
	t->buckets = NULL;
}

/* ---- the LRU list --------------------------------------------------------- */

static void lru_unlink(struct digest_table *t, struct digest_entry *e)
{
	if (e->newer)
		e->newer->older = e->older;
	else
		t->newest = e->older;
	if (e->older)
		e->older->newer = e->newer;
	else
		t->oldest = e->newer;
	e->newer = e->older = NULL;
}

static void lru_push(struct digest_table *t, struct digest_entry *e)
{
	e->newer = NULL;
	e->older = t->newest;
	if (t->newest)
		t->newest->newer = e;
	t->newest = e;
	if (!t->oldest)
		t->oldest = e;
}

/* ---- lookups ---------------------------------------------------------------- */

struct digest_entry *digest_table_touch(struct digest_table *t, uint64_t hash)
{
	for (struct digest_entry *e = t->buckets[bucket_of(t, hash)]; e; e = e->chain) {
		if (e->hash != hash)
			continue;
		if (t->newest != e) {
			lru_unlink(t, e);
			lru_push(t, e);
		}
		return e;
	}
	return NULL;
}

static void chain_unlink(struct digest_table *t, struct digest_entry *e)
{
	struct digest_entry **at = &t->buckets[bucket_of(t, e->hash)];
	while (*at && *at != e)
		at = &(*at)->chain;
	if (*at)
		*at = e->chain;
}

struct digest_entry *digest_table_add(struct digest_table *t, uint64_t hash, const char *text, size_t len)
{
	if (len > DIGEST_TEXT_MAX - 1)
		len = DIGEST_TEXT_MAX - 1;
	char *copy = malloc(len + 1);
	if (!copy)
		return NULL;
	memcpy(copy, text, len);
	copy[len] = '\0';
	struct digest_entry *e;
	if (t->n == t->max) {
		/* Full: the least recently used entry makes room (its memory is
		 * reused). */
		e = t->oldest;
		lru_unlink(t, e);
		chain_unlink(t, e);
		free(e->text);
		t->n--;
		t->evicted++;
	} else if (!(e = malloc(sizeof(*e)))) {
		free(copy);
		return NULL;
	}
	*e = (struct digest_entry){.hash = hash, .text = copy};
	size_t b = bucket_of(t, hash);
	e->chain = t->buckets[b];
	t->buckets[b] = e;
	lru_push(t, e);
	t->n++;
	return e;
}

/* ---- statistics ------------------------------------------------------------- */

static unsigned hist_bucket(uint64_t usec)
{
	const unsigned sub = 1u << DIGEST_HIST_SUB_BITS;
	if (usec < sub)
		return (unsigned)usec;
	unsigned k = 63u - (unsigned)__builtin_clzll(usec); /* 2^k <= usec < 2^(k+1), k >= SUB_BITS */
	unsigned b = (k - DIGEST_HIST_SUB_BITS + 1) * sub + (unsigned)((usec >> (k - DIGEST_HIST_SUB_BITS)) & (sub - 1));
	return b < DIGEST_HIST_BUCKETS ? b : DIGEST_HIST_BUCKETS - 1;
}

/* The middle of bucket b (its one value below 2^SUB_BITS). */
static uint64_t hist_middle(unsigned b)
{
	const unsigned sub = 1u << DIGEST_HIST_SUB_BITS;
	if (b < sub)
		return b;
	unsigned shift = b / sub - 1;
	uint64_t low = (uint64_t)(sub + b % sub) << shift;
	return low + (((uint64_t)1 << shift) >> 1);
}

/* Store the sums, halved (rounding up) as often as the largest needs to fit. */
static void hist_store(uint32_t *hist, const uint64_t *sums)
{
	uint64_t top = 0;
	for (unsigned b = 0; b < DIGEST_HIST_BUCKETS; b++)
		if (sums[b] > top)
			top = sums[b];
	unsigned shift = 0;
	while ((top + ((1ull << shift) - 1)) >> shift > UINT32_MAX)
		shift++;
	for (unsigned b = 0; b < DIGEST_HIST_BUCKETS; b++)
		hist[b] = (uint32_t)((sums[b] + ((1ull << shift) - 1)) >> shift);
}

static void count_error(struct digest_stats *st, uint16_t code, uint64_t n)
{
	for (unsigned i = 0; i < DIGEST_ERR_CODES; i++) {
		if (st->err[i].count && st->err[i].code == code) {
			st->err[i].count += n;
			return;
		}
		if (!st->err[i].count) {
			st->err[i] = (struct digest_err_count){.code = code, .count = n};
			return;
		}
	}
	st->err_other += n;
}

void digest_stats_add(struct digest_stats *st, const struct digest_sample *s)
{
	if (!st->count || s->now_usec < st->first_seen_usec)
		st->first_seen_usec = s->now_usec;
	if (s->now_usec > st->last_seen_usec)
		st->last_seen_usec = s->now_usec;
	st->count++;
	st->total_usec += s->latency_usec;
	if (s->latency_usec > st->max_usec)
		st->max_usec = s->latency_usec;
	st->rows_sent += s->rows_sent;
	st->rows_affected += s->rows_affected;
	if (s->err_code) {
		st->errors++;
		count_error(st, s->err_code, 1);
		/* What the proxy can see of lock contention: the server's own
		 * word that the statement waited for a lock and lost. A slow
		 * statement may be waiting or scanning; the latency columns show
		 * those, this one only what is certain. */
		if (s->err_code == ER_LOCK_WAIT_TIMEOUT || s->err_code == ER_LOCK_DEADLOCK)
			st->lock_waits++;
	}
	unsigned b = hist_bucket(s->latency_usec);
	if (st->hist[b] == UINT32_MAX) {
		uint64_t sums[DIGEST_HIST_BUCKETS];
		for (unsigned i = 0; i < DIGEST_HIST_BUCKETS; i++)
			sums[i] = st->hist[i];
		sums[b]++;
		hist_store(st->hist, sums);
	} else {
		st->hist[b]++;
	}
}

static int by_count_then_code(const void *a, const void *b)
{
	const struct digest_err_count *x = a, *y = b;
	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return (x->code > y->code) - (x->code < y->code);
}

void digest_stats_merge(struct digest_stats *into, const struct digest_stats *from)
{
	if (!from->count)
		return;
	if (!into->count || from->first_seen_usec < into->first_seen_usec)
		into->first_seen_usec = from->first_seen_usec;
	if (from->last_seen_usec > into->last_seen_usec)
		into->last_seen_usec = from->last_seen_usec;
	into->count += from->count;
	into->errors += from->errors;
	into->total_usec += from->total_usec;
	if (from->max_usec > into->max_usec)
		into->max_usec = from->max_usec;
	into->rows_sent += from->rows_sent;
	into->rows_affected += from->rows_affected;
	into->lock_waits += from->lock_waits;

	/* Both sides' codes, combined, the most frequent kept. */
	struct digest_err_count all[2 * DIGEST_ERR_CODES] = {0};
	unsigned n = 0;
	for (unsigned i = 0; i < DIGEST_ERR_CODES && into->err[i].count; i++)
		all[n++] = into->err[i];
	for (unsigned i = 0; i < DIGEST_ERR_CODES && from->err[i].count; i++) {
		unsigned k = 0;
		while (k < n && all[k].code != from->err[i].code)
			k++;
		if (k == n)
			all[n++] = (struct digest_err_count){.code = from->err[i].code};
		all[k].count += from->err[i].count;
	}
	qsort(all, n, sizeof(all[0]), by_count_then_code);
	into->err_other += from->err_other;
	for (unsigned i = 0; i < n; i++) {
		if (i < DIGEST_ERR_CODES)
			into->err[i] = all[i];
		else
			into->err_other += all[i].count;
	}

	uint64_t sums[DIGEST_HIST_BUCKETS];
	for (unsigned b = 0; b < DIGEST_HIST_BUCKETS; b++)
		sums[b] = (uint64_t)into->hist[b] + from->hist[b];
	hist_store(into->hist, sums);
}

uint64_t digest_stats_p95(const struct digest_stats *st)
{
	uint64_t n = 0;
	for (unsigned b = 0; b < DIGEST_HIST_BUCKETS; b++)
		n += st->hist[b];
	if (!n)
		return 0;
	uint64_t rank = (95 * n + 99) / 100; /* ceil(0.95 n), 1-based */
	uint64_t seen = 0;
	for (unsigned b = 0; b < DIGEST_HIST_BUCKETS; b++) {
		seen += st->hist[b];
		if (seen < rank)
			continue;
		uint64_t v = b == DIGEST_HIST_BUCKETS - 1 ? st->max_usec : hist_middle(b);
		return v < st->max_usec ? v : st->max_usec;
	}
	return st->max_usec;
}

/* ---- whole tables ------------------------------------------------------------- */

bool digest_table_merge(struct digest_table *into, const struct digest_table *from)
{
	for (const struct digest_entry *e = from->oldest; e; e = e->newer) {
		struct digest_entry *d = digest_table_touch(into, e->hash);
		if (!d && !(d = digest_table_add(into, e->hash, e->text, strlen(e->text))))
			return false;
		digest_stats_merge(&d->st, &e->st);
	}
	into->evicted += from->evicted;
	return true;
}

static double rank_key(const struct digest_stats *st, enum digest_order order)
{
	switch (order) {
	case DIGEST_ORDER_COUNT: return (double)st->count;
	case DIGEST_ORDER_TOTAL: return (double)st->total_usec;
	case DIGEST_ORDER_MEAN: return st->count ? (double)st->total_usec / (double)st->count : 0;
	case DIGEST_ORDER_P95: return (double)digest_stats_p95(st);
	case DIGEST_ORDER_MAX: return (double)st->max_usec;
	case DIGEST_ORDER_ERRORS: return (double)st->errors;
	case DIGEST_ORDER_ROWS: return (double)st->rows_sent + (double)st->rows_affected;
	}
	return 0;
}

static int by_key(const void *a, const void *b)
{
	const struct digest_ranked *x = a, *y = b;
	if (x->key != y->key)
		return x->key > y->key ? -1 : 1;
	if (x->e->st.count != y->e->st.count)
		return x->e->st.count > y->e->st.count ? -1 : 1;
	return (x->e->hash > y->e->hash) - (x->e->hash < y->e->hash);
}

void digest_table_rank(const struct digest_table *t, enum digest_order order, struct digest_ranked *out)
{
	size_t n = 0;
	for (const struct digest_entry *e = t->newest; e; e = e->older)
		out[n++] = (struct digest_ranked){.key = rank_key(&e->st, order), .e = e};
	qsort(out, n, sizeof(out[0]), by_key);
}

const char *digest_order_name(enum digest_order o)
{
	switch (o) {
	case DIGEST_ORDER_COUNT: return "count";
	case DIGEST_ORDER_TOTAL: return "total";
	case DIGEST_ORDER_MEAN: return "mean";
	case DIGEST_ORDER_P95: return "p95";
	case DIGEST_ORDER_MAX: return "max";
	case DIGEST_ORDER_ERRORS: return "errors";
	case DIGEST_ORDER_ROWS: return "rows";
	}
	return "?";
}
