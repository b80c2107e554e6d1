/*
 * test_ratelimit.c - [throttle] cluster_rate's buckets (proxy/ratelimit.h):
 * the burst at once, then one start per interval in arrival order; the
 * clusters apart; a wait beyond the limit refused without reserving; a
 * reservation given back; no saving up beyond the burst after a quiet spell.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>

#include "ratelimit.h"

#define S 1000000u /* a second, in microseconds */

static void test_burst_then_rate(void **state)
{
	(void)state;
	struct ratelimit *r = ratelimit_new(10, 3); /* 10 a second, 3 at once */
	uint64_t t0 = 50 * S;
	for (int i = 0; i < 3; i++)
		assert_int_equal(ratelimit_take(r, "a", t0, S), 0);
	/* The fourth waits one interval, the fifth two: arrival order. */
	assert_int_equal(ratelimit_take(r, "a", t0, S), 100000);
	assert_int_equal(ratelimit_take(r, "a", t0 + 10000, S), 190000);
	/* Another cluster has its own bucket. */
	assert_int_equal(ratelimit_take(r, "b", t0, S), 0);
	/* A wait over the limit is refused and reserves nothing. */
	assert_int_equal(ratelimit_take(r, "a", t0, 250000), RATELIMIT_REFUSED);
	assert_int_equal(ratelimit_take(r, "a", t0, S), 300000);
	struct admission_cluster_stats st;
	assert_true(ratelimit_cluster_at(r, 0, &st));
	assert_string_equal(st.name, "a");
	assert_int_equal(st.admitted, 6);
	assert_int_equal(st.waited, 4);
	assert_int_equal(st.timed_out, 1);
	assert_int_equal(st.waiting, 3);
	ratelimit_wait_over(r, "a", 100000, false);
	ratelimit_wait_over(r, "a", 190000, false);
	ratelimit_wait_over(r, "a", 300000, false);
	assert_true(ratelimit_cluster_at(r, 0, &st));
	assert_int_equal(st.waiting, 0);
	assert_int_equal(st.wait_ms_max, 300);
	assert_int_equal(st.wait_ms_total, 590);
	assert_true(ratelimit_cluster_at(r, 1, &st));
	assert_string_equal(st.name, "b");
	assert_false(ratelimit_cluster_at(r, 2, &st));
	struct admission_stats all;
	ratelimit_stats(r, &all);
	assert_int_equal(all.limit, 10);
	assert_int_equal(all.admitted, 7);
	assert_int_equal(all.nclusters, 2);
	ratelimit_free(r);
}

static void test_give_back_and_quiet_spell(void **state)
{
	(void)state;
	struct ratelimit *r = ratelimit_new(2, 0); /* burst 0 = the rate: 2 */
	uint64_t t0 = 10 * S;
	assert_int_equal(ratelimit_take(r, "a", t0, S), 0);
	assert_int_equal(ratelimit_take(r, "a", t0, S), 0);
	assert_int_equal(ratelimit_take(r, "a", t0, S), S / 2);
	/* Its session ended while it waited: the next one takes its place. */
	ratelimit_wait_over(r, "a", 0, true);
	assert_int_equal(ratelimit_take(r, "a", t0, S), S / 2);
	/* An hour of quiet saves up no more than the burst. */
	uint64_t t1 = t0 + 3600u * S;
	assert_int_equal(ratelimit_take(r, "a", t1, S), 0);
	assert_int_equal(ratelimit_take(r, "a", t1, S), 0);
	assert_int_equal(ratelimit_take(r, "a", t1, S), S / 2);
	ratelimit_free(r);
	assert_null(ratelimit_new(0, 5));
}

static void test_many_clusters_share_the_last(void **state)
{
	(void)state;
	struct ratelimit *r = ratelimit_new(1, 1);
	char name[32];
	for (int i = 0; i < ADMISSION_CLUSTERS_MAX; i++) {
		snprintf(name, sizeof(name), "c%d", i);
		assert_int_equal(ratelimit_take(r, name, S, 10 * S), 0);
	}
	/* One more cluster goes into the last bucket, which is used up. */
	assert_int_equal(ratelimit_take(r, "extra", S, 10 * S), S);
	ratelimit_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_then_rate),
		cmocka_unit_test(test_give_back_and_quiet_spell),
		cmocka_unit_test(test_many_clusters_share_the_last),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
