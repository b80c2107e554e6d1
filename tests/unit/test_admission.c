/*
 * test_admission.c - the throttle's admission queue (proxy/admission.h):
 * the slot limit, FIFO within a cluster, round robin between clusters, no
 * newcomer passing a waiter, timeouts, a limit changed by a reload.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>

#include "admission.h"

static struct admission_waiter out[8];

static void test_limit_and_fifo(void **state)
{
	struct admission *a = admission_new(1);
	assert_int_equal(admission_request(a, "x", 1, NULL, 0), ADMISSION_ADMITTED);
	assert_int_equal(admission_request(a, "x", 2, NULL, 10), ADMISSION_QUEUED);
	assert_int_equal(admission_request(a, "x", 3, NULL, 20), ADMISSION_QUEUED);
	assert_true(admission_holds(a, 1));
	assert_false(admission_holds(a, 2));
	assert_int_equal(admission_leave(a, 1, false, 100, out, 8), 1);
	assert_int_equal(out[0].id, 2);
	assert_true(admission_holds(a, 2));
	assert_int_equal(admission_leave(a, 2, false, 150, out, 8), 1);
	assert_int_equal(out[0].id, 3);
	assert_int_equal(admission_leave(a, 3, false, 160, out, 8), 0);
	struct admission_stats st;
	admission_stats(a, &st);
	assert_int_equal(st.holding, 0);
	assert_int_equal(st.waiting, 0);
	assert_int_equal(st.admitted, 3);
	assert_int_equal(st.waited, 2);
	assert_int_equal(st.wait_ms_max, 130);
	admission_free(a);
}

/* x's burst (x2, x3) queued before y's one: y1 goes second, not last. */
static void test_round_robin(void **state)
{
	struct admission *a = admission_new(1);
	assert_int_equal(admission_request(a, "x", 1, NULL, 0), ADMISSION_ADMITTED);
	assert_int_equal(admission_request(a, "x", 2, NULL, 1), ADMISSION_QUEUED);
	assert_int_equal(admission_request(a, "x", 3, NULL, 2), ADMISSION_QUEUED);
	assert_int_equal(admission_request(a, "y", 11, (void *)&out, 3), ADMISSION_QUEUED);
	uint64_t order[3];
	uint64_t prev = 1;
	for (int i = 0; i < 3; i++) {
		assert_int_equal(admission_leave(a, prev, false, 10 + (uint64_t)i, out, 8), 1);
		order[i] = prev = out[0].id;
	}
	assert_int_equal(order[0], 2);
	assert_int_equal(order[1], 11);
	assert_int_equal(order[2], 3);
	/* The owner comes back with the admitted waiter. */
	struct admission_cluster_stats cs;
	assert_true(admission_cluster_at(a, 1, &cs));
	assert_string_equal(cs.name, "y");
	assert_int_equal(cs.admitted, 1);
	assert_false(admission_cluster_at(a, 2, &cs));
	admission_free(a);
}

/* A free slot is not taken by a newcomer while others wait for it (after
 * a reload lowered then raised the limit, say). */
static void test_no_overtaking(void **state)
{
	struct admission *a = admission_new(1);
	assert_int_equal(admission_request(a, "x", 1, NULL, 0), ADMISSION_ADMITTED);
	assert_int_equal(admission_request(a, "y", 2, NULL, 0), ADMISSION_QUEUED);
	admission_set_limit(a, 2);
	assert_int_equal(admission_request(a, "z", 3, NULL, 0), ADMISSION_QUEUED);
	assert_int_equal(admission_fill(a, 5, out, 8), 1);
	assert_int_equal(out[0].id, 2);
	assert_int_equal(admission_leave(a, 1, false, 6, out, 8), 1);
	assert_int_equal(out[0].id, 3);
	admission_free(a);
}

static void test_timeout(void **state)
{
	struct admission *a = admission_new(1);
	assert_int_equal(admission_request(a, "x", 1, NULL, 0), ADMISSION_ADMITTED);
	assert_int_equal(admission_request(a, "y", 2, NULL, 100), ADMISSION_QUEUED);
	assert_int_equal(admission_request(a, "x", 3, NULL, 50), ADMISSION_QUEUED);
	struct admission_waiter w;
	assert_false(admission_oldest_before(a, 49, &w));
	assert_true(admission_oldest_before(a, 100, &w));
	assert_int_equal(w.id, 3);
	assert_int_equal(admission_leave(a, 3, true, 200, out, 8), 0);
	assert_true(admission_oldest_before(a, 100, &w));
	assert_int_equal(w.id, 2);
	assert_int_equal(admission_leave(a, 2, true, 200, out, 8), 0);
	assert_false(admission_oldest_before(a, 1000, &w));
	struct admission_stats st;
	admission_stats(a, &st);
	assert_int_equal(st.timed_out, 2);
	assert_int_equal(st.waiting, 0);
	/* Unknown ids change nothing. */
	assert_int_equal(admission_leave(a, 99, false, 300, out, 8), 0);
	assert_true(admission_holds(a, 1));
	admission_free(a);
}

/* More clusters than kept apart share the last queue. */
static void test_many_clusters(void **state)
{
	struct admission *a = admission_new(0);
	char name[32];
	for (uint64_t i = 0; i < ADMISSION_CLUSTERS_MAX + 10; i++) {
		snprintf(name, sizeof(name), "c%llu", (unsigned long long)i);
		assert_int_equal(admission_request(a, name, i + 1, NULL, i), ADMISSION_QUEUED);
	}
	struct admission_stats st;
	admission_stats(a, &st);
	assert_int_equal(st.nclusters, ADMISSION_CLUSTERS_MAX);
	assert_int_equal(st.waiting, ADMISSION_CLUSTERS_MAX + 10);
	struct admission_cluster_stats cs;
	assert_true(admission_cluster_at(a, ADMISSION_CLUSTERS_MAX - 1, &cs));
	assert_string_equal(cs.name, "(others)");
	assert_int_equal(cs.waiting, 11);
	admission_set_limit(a, 1000);
	assert_int_equal(admission_fill(a, 100, out, 8), 8);
	admission_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_limit_and_fifo), cmocka_unit_test(test_round_robin),
		cmocka_unit_test(test_no_overtaking),  cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_many_clusters),
	};
	return cmocka_run_group_tests_name("admission", tests, NULL, NULL);
}
