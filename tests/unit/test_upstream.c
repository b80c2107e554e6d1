/*
 * test_upstream.c - the upstream pool across reloads: a session keeps the
 * configuration generation it started with, so its reports and its try
 * order come with indexes into that generation, and must land on the
 * server of that name whatever the pool's current order.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "upstream.h"

/* A config with `n` servers 127.0.0.1:port[i]. */
static struct config servers(int n, const uint16_t *ports)
{
	struct config cfg;
	config_defaults(&cfg);
	cfg.nservers = n;
	for (int i = 0; i < n; i++)
		cfg.servers[i] = (struct config_endpoint){"127.0.0.1", ports[i]};
	return cfg;
}

static const struct upstream_server_state *state_of(const struct upstream_pool *p, const char *name)
{
	for (int i = 0; i < p->nservers; i++)
		if (strcmp(p->servers[i].name, name) == 0)
			return &p->servers[i];
	fail_msg("no pool entry %s", name);
	return NULL;
}

static void test_reorder_reports_by_name(void **state)
{
	struct upstream_pool pool;
	upstream_pool_init(&pool);
	struct config old = servers(2, (const uint16_t[]){1001, 1002}); /* A, B */
	struct config now = servers(2, (const uint16_t[]){1002, 1001}); /* B, A */
	upstream_pool_configure(&pool, &old);
	upstream_pool_configure(&pool, &now);

	/* A session of the old generation: its index 0 is A. */
	upstream_pool_report(&pool, &old, 0, "no greeting");
	assert_int_equal(state_of(&pool, "127.0.0.1:1001")->health, UPSTREAM_DOWN);
	assert_int_equal(state_of(&pool, "127.0.0.1:1002")->health, UPSTREAM_UNKNOWN);
	assert_string_equal(state_of(&pool, "127.0.0.1:1001")->last_error, "no greeting");
	upstream_pool_report(&pool, &old, 1, NULL);
	assert_int_equal(state_of(&pool, "127.0.0.1:1002")->health, UPSTREAM_UP);
	assert_int_equal(state_of(&pool, "127.0.0.1:1001")->health, UPSTREAM_DOWN);

	/* A backs off, in either generation's terms. */
	assert_false(upstream_pool_due(&pool, &now, 1));
	assert_false(upstream_pool_due(&pool, &old, 0));
	assert_true(upstream_pool_due(&pool, &now, 0));
	int order[CONFIG_MAX_SERVERS];
	upstream_pool_order(&pool, &old, order);
	assert_int_equal(order[0], 1); /* B first, A last */
	assert_int_equal(order[1], 0);
	upstream_pool_order(&pool, &now, order);
	assert_int_equal(order[0], 0);
	assert_int_equal(order[1], 1);
	upstream_pool_destroy(&pool);
}

/* An old generation with servers the pool no longer lists: their reports go
 * nowhere, and the order still covers every server of that generation. */
static void test_removed_server(void **state)
{
	struct upstream_pool pool;
	upstream_pool_init(&pool);
	struct config old = servers(3, (const uint16_t[]){1001, 1002, 1003});
	struct config now = servers(1, (const uint16_t[]){1003});
	upstream_pool_configure(&pool, &old);
	upstream_pool_report(&pool, &old, 2, "refused");
	upstream_pool_configure(&pool, &now);
	assert_int_equal(pool.nservers, 1);
	assert_int_equal(state_of(&pool, "127.0.0.1:1003")->health, UPSTREAM_DOWN); /* kept by name */

	upstream_pool_report(&pool, &old, 0, "refused"); /* 1001: gone */
	assert_int_equal(state_of(&pool, "127.0.0.1:1003")->failures, 1);
	upstream_pool_report(&pool, &old, 5, "out of range");
	upstream_pool_report(&pool, &old, -1, "out of range");
	assert_int_equal(state_of(&pool, "127.0.0.1:1003")->failures, 1);

	int order[CONFIG_MAX_SERVERS];
	memset(order, 0xff, sizeof(order));
	upstream_pool_order(&pool, &old, order);
	assert_int_equal(order[0], 0); /* unlisted: not backing off */
	assert_int_equal(order[1], 1);
	assert_int_equal(order[2], 2); /* 1003 backs off: last */
	assert_true(upstream_pool_due(&pool, &old, 0));
	assert_false(upstream_pool_due(&pool, &old, 3));
	upstream_pool_destroy(&pool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reorder_reports_by_name),
		cmocka_unit_test(test_removed_server),
	};
	return cmocka_run_group_tests_name("upstream", tests, NULL, NULL);
}
