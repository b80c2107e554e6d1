/*
 * test_digest_table.c - the per-digest statistics table (proxy/digest_table.h):
 * least-recently-used eviction against a reference model, the p95 bound
 * (within 1/16 of the exact order statistic) over several distributions,
 * histogram overflow, merging statistics and whole tables (exact
 * histograms, the top error codes), ranking by each ORDER BY key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "digest_table.h"

static struct digest_sample ok_sample(uint64_t usec)
{
	return (struct digest_sample){.latency_usec = usec, .now_usec = 1000};
}

static struct digest_entry *add(struct digest_table *t, uint64_t hash)
{
	char text[32];
	int n = snprintf(text, sizeof(text), "SELECT %llu", (unsigned long long)hash);
	struct digest_entry *e = digest_table_add(t, hash, text, (size_t)n);
	assert_non_null(e);
	return e;
}

/* Full: the least recently used goes, a touch makes one the most recent. */
static void test_lru_eviction(void **state)
{
	struct digest_table t;
	assert_true(digest_table_init(&t, 3));
	add(&t, 1);
	add(&t, 2);
	add(&t, 3);
	assert_non_null(digest_table_touch(&t, 1)); /* order now 1, 3, 2 */
	add(&t, 4);                                 /* 2 goes */
	assert_null(digest_table_touch(&t, 2));
	assert_int_equal(t.n, 3);
	assert_int_equal(t.evicted, 1);
	assert_non_null(digest_table_touch(&t, 3)); /* order 3, 4, 1 */
	add(&t, 5);                                 /* 1 goes */
	assert_null(digest_table_touch(&t, 1));
	assert_non_null(digest_table_touch(&t, 4));
	assert_non_null(digest_table_touch(&t, 5));
	assert_int_equal(t.oldest->hash, 3);
	assert_int_equal(t.newest->hash, 5);
	assert_string_equal(digest_table_touch(&t, 5)->text, "SELECT 5");
	digest_table_clear(&t);
	assert_int_equal(t.n, 0);
	assert_int_equal(t.evicted, 0);
	assert_null(digest_table_touch(&t, 5));
	add(&t, 5);
	assert_int_equal(t.n, 1);
	digest_table_free(&t);
}

/* A long random run against a plain array kept in LRU order: same members,
 * same order, whatever the collisions in the bucket array. */
static void test_lru_model(void **state)
{
	enum { CAP = 37, KEYS = 200, STEPS = 20000 };
	struct digest_table t;
	assert_true(digest_table_init(&t, CAP));
	uint64_t model[CAP]; /* model[0] the most recent */
	size_t n = 0;
	srand(7);
	for (int step = 0; step < STEPS; step++) {
		/* Hashes that share low bits, as an adversary might choose. */
		uint64_t h = (uint64_t)(rand() % KEYS) << 40;
		size_t at = 0;
		while (at < n && model[at] != h)
			at++;
		struct digest_entry *e = digest_table_touch(&t, h);
		if (at < n) {
			assert_non_null(e);
			memmove(model + 1, model, at * sizeof(model[0]));
		} else {
			assert_null(e);
			add(&t, h);
			if (n < CAP)
				n++;
			memmove(model + 1, model, (n - 1) * sizeof(model[0]));
		}
		model[0] = h;
		assert_int_equal(t.n, n);
	}
	size_t i = 0;
	for (const struct digest_entry *e = t.newest; e; e = e->older, i++)
		assert_int_equal(e->hash, model[i]);
	assert_int_equal(i, n);
	digest_table_free(&t);
}

static int by_value(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* The reported p95 is within 1/16 of the sample of rank ceil(0.95 n). */
static void check_p95(uint64_t *v, size_t n)
{
	struct digest_stats st = {0};
	for (size_t i = 0; i < n; i++) {
		struct digest_sample s = ok_sample(v[i]);
		digest_stats_add(&st, &s);
	}
	qsort(v, n, sizeof(v[0]), by_value);
	uint64_t exact = v[(95 * n + 99) / 100 - 1];
	uint64_t got = digest_stats_p95(&st);
	uint64_t diff = got > exact ? got - exact : exact - got;
	if (diff * 16 > exact)
		fail_msg("p95 of %zu samples: %llu reported, %llu exact", n, (unsigned long long)got,
			 (unsigned long long)exact);
	assert_true(got <= st.max_usec);
	assert_int_equal(st.max_usec, v[n - 1]);
}

/* Spread over powers of two from 2^lo to 2^hi: a heavy tail. */
static uint64_t log_spread(unsigned lo, unsigned hi)
{
	unsigned k = lo + (unsigned)rand() % (hi - lo + 1);
	return ((uint64_t)1 << k) + (uint64_t)rand() % ((uint64_t)1 << k);
}

static void test_p95_bound(void **state)
{
	enum { N = 5000 };
	static uint64_t v[N];
	srand(11);
	for (int round = 0; round < 50; round++) {
		size_t n = 1 + (size_t)(rand() % N);
		for (size_t i = 0; i < n; i++) {
			switch (round % 5) {
			case 0: /* tiny: the exact buckets */
				v[i] = 1 + (uint64_t)(rand() % 20);
				break;
			case 1: /* uniform */
				v[i] = 200 + (uint64_t)(rand() % 5000);
				break;
			case 2: /* heavy tail */
				v[i] = log_spread(3, 23);
				break;
			case 3: /* a slow 5% */
				v[i] = i % 20 == 0 ? 5000000 + (uint64_t)rand() % 100 : 800;
				break;
			default: /* bucket edges */
				v[i] = ((uint64_t)1 << (rand() % 33)) + (uint64_t)(rand() % 3);
				break;
			}
		}
		check_p95(v, n);
	}
	/* Past the last bucket (71 minutes) p95 is the max. */
	struct digest_stats st = {0};
	struct digest_sample s = ok_sample((uint64_t)1 << 40);
	digest_stats_add(&st, &s);
	assert_int_equal(digest_stats_p95(&st), (uint64_t)1 << 40);
	struct digest_stats empty = {0};
	assert_int_equal(digest_stats_p95(&empty), 0);
}

/* A bucket about to overflow halves them all; the quantile survives. */
static void test_histogram_overflow(void **state)
{
	struct digest_stats st = {0};
	struct digest_sample fast = ok_sample(100), slow = ok_sample(100000);
	digest_stats_add(&st, &fast);
	digest_stats_add(&st, &slow);
	unsigned fast_b = 0;
	while (!st.hist[fast_b])
		fast_b++;
	st.hist[fast_b] = UINT32_MAX; /* as if it had run 4 billion times */
	digest_stats_add(&st, &fast);
	assert_int_equal(st.hist[fast_b], (UINT32_MAX / 2u) + 1u);
	unsigned slow_b = DIGEST_HIST_BUCKETS - 1;
	while (!st.hist[slow_b])
		slow_b--;
	assert_int_equal(st.hist[slow_b], 1); /* halved rounding up: kept */
	uint64_t p95 = digest_stats_p95(&st);
	assert_true(p95 >= 94 && p95 <= 106);
}

/* Merged statistics equal those of all the samples in one. */
static void test_stats_merge(void **state)
{
	struct digest_stats a = {0}, b = {0}, all = {0};
	srand(3);
	for (int i = 0; i < 3000; i++) {
		struct digest_sample s = {.latency_usec = log_spread(5, 20),
					  .rows_sent = (uint64_t)(i % 7),
					  .rows_affected = (uint64_t)(i % 3),
					  .now_usec = 1000000 + (uint64_t)i};
		if (i % 10 == 0)
			s.err_code = i % 20 == 0 ? 1213 : 1205;
		digest_stats_add(i % 3 ? &a : &b, &s);
		digest_stats_add(&all, &s);
	}
	digest_stats_merge(&a, &b);
	assert_int_equal(a.count, all.count);
	assert_int_equal(a.errors, all.errors);
	assert_int_equal(a.lock_waits, 300);
	assert_int_equal(a.total_usec, all.total_usec);
	assert_int_equal(a.max_usec, all.max_usec);
	assert_int_equal(a.rows_sent, all.rows_sent);
	assert_int_equal(a.rows_affected, all.rows_affected);
	assert_int_equal(a.first_seen_usec, 1000000);
	assert_int_equal(a.last_seen_usec, 1002999);
	assert_memory_equal(a.hist, all.hist, sizeof(a.hist));
	assert_int_equal(digest_stats_p95(&a), digest_stats_p95(&all));
	assert_int_equal(a.err[0].code, 1205);
	assert_int_equal(a.err[0].count, 150);
	assert_int_equal(a.err[1].code, 1213);
	assert_int_equal(a.err[1].count, 150);
	assert_int_equal(a.err[2].count, 0);
}

static void add_errors(struct digest_stats *st, uint16_t code, int n)
{
	for (int i = 0; i < n; i++) {
		struct digest_sample s = ok_sample(10);
		s.err_code = code;
		digest_stats_add(st, &s);
	}
}

/* Each side keeps its first DIGEST_ERR_CODES codes; merged, the most
 * frequent of both are kept and the rest counted as other. */
static void test_error_codes(void **state)
{
	struct digest_stats a = {0}, b = {0};
	add_errors(&a, 1062, 5);
	add_errors(&a, 1146, 1);
	add_errors(&a, 1064, 2);
	add_errors(&a, 1213, 3);
	add_errors(&a, 1205, 9); /* no slot left: other */
	assert_int_equal(a.err_other, 9);
	assert_int_equal(a.errors, 20);
	assert_int_equal(a.lock_waits, 12);
	add_errors(&b, 1146, 10);
	add_errors(&b, 1452, 4);
	digest_stats_merge(&a, &b);
	static const struct digest_err_count want[] = {{1146, 11}, {1062, 5}, {1452, 4}, {1213, 3}};
	for (unsigned i = 0; i < DIGEST_ERR_CODES; i++) {
		assert_int_equal(a.err[i].code, want[i].code);
		assert_int_equal(a.err[i].count, want[i].count);
	}
	assert_int_equal(a.err_other, 9 + 2);
	assert_int_equal(a.errors, 34);
}

/* Two workers' tables into one: shared digests summed, the rest added. */
static void test_table_merge(void **state)
{
	struct digest_table w0, w1, merged;
	assert_true(digest_table_init(&w0, 10));
	assert_true(digest_table_init(&w1, 10));
	for (uint64_t h = 1; h <= 4; h++) {
		struct digest_entry *e = add(&w0, h);
		for (uint64_t k = 0; k < h; k++) {
			struct digest_sample s = ok_sample(1000 * h);
			digest_stats_add(&e->st, &s);
		}
	}
	for (uint64_t h = 3; h <= 6; h++) {
		struct digest_entry *e = add(&w1, h);
		struct digest_sample s = ok_sample(1000);
		digest_stats_add(&e->st, &s);
	}
	assert_true(digest_table_init(&merged, 8));
	assert_true(digest_table_merge(&merged, &w0));
	assert_true(digest_table_merge(&merged, &w1));
	assert_int_equal(merged.n, 6);
	static const uint64_t counts[] = {0, 1, 2, 4, 5, 1, 1};
	for (uint64_t h = 1; h <= 6; h++) {
		struct digest_entry *e = digest_table_touch(&merged, h);
		assert_non_null(e);
		assert_int_equal(e->st.count, counts[h]);
	}
	assert_string_equal(digest_table_touch(&merged, 4)->text, "SELECT 4");
	/* A copy keeps the source's LRU order. */
	struct digest_table copy;
	assert_true(digest_table_init(&copy, w0.n));
	assert_true(digest_table_merge(&copy, &w0));
	const struct digest_entry *x = copy.newest, *y = w0.newest;
	for (; x && y; x = x->older, y = y->older)
		assert_int_equal(x->hash, y->hash);
	assert_true(!x && !y);
	digest_table_free(&copy);
	digest_table_free(&merged);
	digest_table_free(&w0);
	digest_table_free(&w1);
}

/* Ranking by each key, largest first; ties by count, then hash. */
static void test_rank(void **state)
{
	struct digest_table t;
	assert_true(digest_table_init(&t, 10));
	struct digest_entry *many_fast = add(&t, 10), *few_slow = add(&t, 20), *failing = add(&t, 30);
	for (int i = 0; i < 100; i++) {
		struct digest_sample s = ok_sample(100);
		s.rows_sent = 1;
		digest_stats_add(&many_fast->st, &s);
	}
	for (int i = 0; i < 3; i++) {
		struct digest_sample s = ok_sample(2000000);
		s.rows_affected = 1000;
		digest_stats_add(&few_slow->st, &s);
	}
	for (int i = 0; i < 3; i++) {
		struct digest_sample s = ok_sample(500);
		s.err_code = 1146;
		digest_stats_add(&failing->st, &s);
	}
	struct digest_ranked r[3];
	static const struct {
		enum digest_order order;
		uint64_t first, second, third;
	} want[] = {
		{DIGEST_ORDER_COUNT, 10, 20, 30}, {DIGEST_ORDER_TOTAL, 20, 10, 30}, {DIGEST_ORDER_MEAN, 20, 30, 10},
		{DIGEST_ORDER_P95, 20, 30, 10},	  {DIGEST_ORDER_MAX, 20, 30, 10},   {DIGEST_ORDER_ERRORS, 30, 10, 20},
		{DIGEST_ORDER_ROWS, 20, 10, 30},
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		digest_table_rank(&t, want[i].order, r);
		if (r[0].e->hash != want[i].first || r[1].e->hash != want[i].second || r[2].e->hash != want[i].third)
			fail_msg("ORDER BY %s: %llu %llu %llu", digest_order_name(want[i].order),
				 (unsigned long long)r[0].e->hash, (unsigned long long)r[1].e->hash,
				 (unsigned long long)r[2].e->hash);
	}
	digest_table_free(&t);
}

/* The text is copied and cut to DIGEST_TEXT_MAX - 1 bytes. */
static void test_text_cap(void **state)
{
	static char big[3 * DIGEST_TEXT_MAX];
	memset(big, 'x', sizeof(big));
	struct digest_table t;
	assert_true(digest_table_init(&t, 1));
	struct digest_entry *e = digest_table_add(&t, 1, big, sizeof(big));
	assert_non_null(e);
	assert_int_equal(strlen(e->text), DIGEST_TEXT_MAX - 1);
	digest_table_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lru_eviction),  cmocka_unit_test(test_lru_model),
		cmocka_unit_test(test_p95_bound),     cmocka_unit_test(test_histogram_overflow),
		cmocka_unit_test(test_stats_merge),   cmocka_unit_test(test_error_codes),
		cmocka_unit_test(test_table_merge),   cmocka_unit_test(test_rank),
		cmocka_unit_test(test_text_cap),
	};
	return cmocka_run_group_tests_name("digest_table", tests, NULL, NULL);
}
