/*
 * test_redo.c - a deadlock or lock wait timeout run again (proxy/redo.c),
 * one session between a scripted client and a scripted server
 * (harness.h): what acctgate sends the server, byte for byte, and what the
 * client gets (nothing of the replay, or the original ERR).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

#define ER_LOCK_WAIT_TIMEOUT 1205
#define ER_LOCK_DEADLOCK 1213
#define IN_TRANS (SERVER_STATUS_AUTOCOMMIT | SERVER_STATUS_IN_TRANS)

static int setup(void **state)
{
	*state = harness_new(NULL);
	return 0;
}

static int setup_one_attempt(void **state)
{
	*state = harness_new("[throttle]\nreplay_attempts = 1\n");
	return 0;
}

static int teardown(void **state) { return harness_free(*state) ? 0 : -1; }

/* An OK with an insert id (the harness's OKs have none). */
static void buf_ok_insert(struct harness_buf *b, uint16_t status, uint8_t affected, uint8_t insert_id)
{
	uint8_t p[] = {0x00, affected, insert_id, (uint8_t)status, (uint8_t)(status >> 8), 0, 0};
	harness_buf_packet(b, p, sizeof(p));
}

static void buf_ok(struct harness *h, struct harness_buf *b, uint16_t status, uint64_t affected)
{
	harness_buf_init(b, 1);
	harness_buf_ok(b, h->caps, 0x00, status, affected, NULL);
}

static void buf_err(struct harness_buf *b, uint16_t code)
{
	harness_buf_init(b, 1);
	harness_buf_err(b, code, code == ER_LOCK_DEADLOCK ? "40001" : "HY000",
			code == ER_LOCK_DEADLOCK ? "Deadlock found when trying to get lock; try restarting transaction"
						 : "Lock wait timeout exceeded; try restarting transaction");
}

static void buf_one_value(struct harness *h, struct harness_buf *b, const char *v)
{
	static const char *const names[] = {"a"};
	harness_buf_init(b, 1);
	harness_buf_result_set(b, h->caps, 1, names, 1, &v, IN_TRANS);
}

/* The client's query; the server answers `r`, the client gets the same. */
static void query_relayed(struct harness *h, const char *sql, const struct harness_buf *r)
{
	harness_query(h, sql);
	harness_server_send(h, r->data, r->len);
	harness_client_expect_bytes(h, r->data, r->len);
}

/* The next command the server gets is COM_QUERY `prefix`... (and ends with
 * `suffix` when not NULL); it answers OK. */
static void expect_query_like(struct harness *h, const char *prefix, const char *suffix)
{
	uint8_t seq;
	size_t len;
	uint8_t *p = harness_server_read_packet(h, &seq, &len);
	assert_int_equal(seq, 0);
	assert_true(len > 1 && p[0] == 0x03);
	char text[256];
	snprintf(text, sizeof(text), "%.*s", (int)(len - 1), (const char *)p + 1);
	free(p);
	if (strncmp(text, prefix, strlen(prefix)) != 0)
		fail_msg("expected a query starting '%s', got '%s'", prefix, text);
	if (suffix && (strlen(text) < strlen(suffix) || strcmp(text + strlen(text) - strlen(suffix), suffix) != 0))
		fail_msg("expected a query ending '%s', got '%s'", suffix, text);
	struct harness_buf ok;
	harness_buf_init(&ok, 1);
	harness_buf_ok(&ok, h->caps, 0x00, IN_TRANS, 0, NULL);
	harness_server_send(h, ok.data, ok.len);
	harness_buf_free(&ok);
}

/* The server gets exactly this client command again and answers `r`. */
static void expect_again(struct harness *h, const char *sql, const struct harness_buf *r)
{
	char cmd[256];
	cmd[0] = 0x03;
	memcpy(cmd + 1, sql, strlen(sql));
	harness_server_expect_command(h, cmd, strlen(sql) + 1);
	harness_server_send(h, r->data, r->len);
}

struct txn_so_far {
	struct harness_buf begin, insert, select;
};

/* BEGIN; INSERT (insert id 7); SELECT a (7): what the client was told. */
static void start_transaction(struct harness *h, struct txn_so_far *t)
{
	harness_login(h, HARNESS_CLIENT_CAPS);
	buf_ok(h, &t->begin, IN_TRANS, 0);
	query_relayed(h, "BEGIN", &t->begin);
	harness_buf_init(&t->insert, 1);
	buf_ok_insert(&t->insert, IN_TRANS, 1, 7);
	query_relayed(h, "INSERT INTO t (b) VALUES (NOW())", &t->insert);
	buf_one_value(h, &t->select, "7");
	query_relayed(h, "SELECT a FROM t WHERE b > 0 FOR UPDATE", &t->select);
}

static void free_txn(struct txn_so_far *t)
{
	harness_buf_free(&t->begin);
	harness_buf_free(&t->insert);
	harness_buf_free(&t->select);
}

/* The replay's first two commands, as the client's went. */
static void expect_replay_start(struct harness *h, struct txn_so_far *t)
{
	expect_query_like(h, "SET timestamp=", NULL);
	expect_again(h, "BEGIN", &t->begin);
	expect_query_like(h, "SET timestamp=", ", insert_id=7");
	expect_again(h, "INSERT INTO t (b) VALUES (NOW())", &t->insert);
	expect_query_like(h, "SET timestamp=", NULL);
}

/* A deadlock: the transaction runs again with the results the client had,
 * the failed statement goes again, and the client gets only its OK. */
static void test_deadlock_replayed(void **state)
{
	struct harness *h = *state;
	struct txn_so_far t;
	start_transaction(h, &t);
	harness_query(h, "UPDATE t SET a = 8");
	struct harness_buf err, ok;
	buf_err(&err, ER_LOCK_DEADLOCK);
	harness_server_send(h, err.data, err.len);
	expect_replay_start(h, &t);
	expect_again(h, "SELECT a FROM t WHERE b > 0 FOR UPDATE", &t.select);
	expect_query_like(h, "SET timestamp=DEFAULT", NULL);
	buf_ok(h, &ok, IN_TRANS, 1);
	expect_again(h, "UPDATE t SET a = 8", &ok);
	harness_client_expect_bytes(h, ok.data, ok.len);
	assert_int_equal(atomic_load(&h->gate.replays), 1);
	harness_buf_free(&ok);
	buf_ok(h, &ok, SERVER_STATUS_AUTOCOMMIT, 0);
	query_relayed(h, "COMMIT", &ok);
	harness_buf_free(&ok);
	harness_buf_free(&err);
	free_txn(&t);
	harness_ping(h);
}

/* A read that comes out different: ROLLBACK, the clock back, and the
 * client gets the original ERR. */
static void test_deadlock_read_differs(void **state)
{
	struct harness *h = *state;
	struct txn_so_far t;
	start_transaction(h, &t);
	harness_query(h, "UPDATE t SET a = 8");
	struct harness_buf err, other;
	buf_err(&err, ER_LOCK_DEADLOCK);
	harness_server_send(h, err.data, err.len);
	expect_replay_start(h, &t);
	buf_one_value(h, &other, "8");
	expect_again(h, "SELECT a FROM t WHERE b > 0 FOR UPDATE", &other);
	harness_buf_free(&other);
	expect_query_like(h, "ROLLBACK", NULL);
	expect_query_like(h, "SET timestamp=DEFAULT", NULL);
	harness_client_expect_bytes(h, err.data, err.len);
	assert_int_equal(atomic_load(&h->gate.replays_failed), 1);
	assert_int_equal(atomic_load(&h->gate.replays), 0);
	harness_buf_free(&err);
	free_txn(&t);
	harness_ping(h);
}

/* replay_attempts = 1: the failed statement deadlocks again, and the
 * client gets that ERR. */
static void test_deadlock_attempts_run_out(void **state)
{
	struct harness *h = *state;
	harness_login(h, HARNESS_CLIENT_CAPS);
	struct harness_buf begin, err;
	buf_ok(h, &begin, IN_TRANS, 0);
	query_relayed(h, "BEGIN", &begin);
	harness_query(h, "UPDATE t SET a = 8");
	buf_err(&err, ER_LOCK_DEADLOCK);
	harness_server_send(h, err.data, err.len);
	expect_query_like(h, "SET timestamp=", NULL);
	expect_again(h, "BEGIN", &begin);
	expect_query_like(h, "SET timestamp=DEFAULT", NULL);
	expect_again(h, "UPDATE t SET a = 8", &err);
	harness_client_expect_bytes(h, err.data, err.len);
	assert_int_equal(atomic_load(&h->gate.replays), 1);
	assert_int_equal(atomic_load(&h->gate.replays_failed), 1);
	harness_buf_free(&begin);
	harness_buf_free(&err);
	harness_ping(h);
}

/* A lock wait timeout with the transaction still open: the statement
 * alone goes again, no replay, and the client gets its OK. */
static void test_lock_wait_retried(void **state)
{
	struct harness *h = *state;
	harness_login(h, HARNESS_CLIENT_CAPS);
	struct harness_buf begin, err, yes, ok;
	buf_ok(h, &begin, IN_TRANS, 0);
	query_relayed(h, "BEGIN", &begin);
	harness_query(h, "UPDATE t SET a = 8");
	buf_err(&err, ER_LOCK_WAIT_TIMEOUT);
	harness_server_send(h, err.data, err.len);
	buf_one_value(h, &yes, "1");
	expect_again(h, "SELECT @@in_transaction", &yes);
	buf_ok(h, &ok, IN_TRANS, 1);
	expect_again(h, "UPDATE t SET a = 8", &ok);
	harness_client_expect_bytes(h, ok.data, ok.len);
	assert_int_equal(atomic_load(&h->gate.replay_retries), 1);
	assert_int_equal(atomic_load(&h->gate.replays), 0);
	harness_buf_free(&begin);
	harness_buf_free(&err);
	harness_buf_free(&yes);
	harness_buf_free(&ok);
	harness_ping(h);
}

/* An autocommit statement's deadlock goes to the client at once: it was
 * the whole transaction, and the client's retry is complete. */
static void test_autocommit_deadlock_relayed(void **state)
{
	struct harness *h = *state;
	harness_login(h, HARNESS_CLIENT_CAPS);
	struct harness_buf err;
	buf_err(&err, ER_LOCK_DEADLOCK);
	query_relayed(h, "UPDATE t SET a = 8", &err);
	assert_int_equal(atomic_load(&h->gate.replays_refused), 1);
	harness_buf_free(&err);
	harness_ping(h);
}

/* A deadlock after a multi-statement query's first result reached the
 * client: that result cannot be taken back, so the ERR goes through. */
static void test_deadlock_mid_response_relayed(void **state)
{
	struct harness *h = *state;
	harness_login(h, HARNESS_CLIENT_CAPS);
	struct harness_buf begin, r;
	buf_ok(h, &begin, IN_TRANS, 0);
	query_relayed(h, "BEGIN", &begin);
	harness_buf_init(&r, 1);
	harness_buf_ok(&r, h->caps, 0x00, IN_TRANS | SERVER_MORE_RESULTS_EXISTS, 1, NULL);
	harness_buf_err(&r, ER_LOCK_DEADLOCK, "40001", "Deadlock found when trying to get lock; try restarting transaction");
	query_relayed(h, "INSERT INTO t VALUES (1); UPDATE t SET a = 8", &r);
	assert_int_equal(atomic_load(&h->gate.replays), 0);
	harness_buf_free(&begin);
	harness_buf_free(&r);
	harness_ping(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_deadlock_replayed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deadlock_read_differs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deadlock_attempts_run_out, setup_one_attempt, teardown),
		cmocka_unit_test_setup_teardown(test_lock_wait_retried, setup, teardown),
		cmocka_unit_test_setup_teardown(test_autocommit_deadlock_relayed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deadlock_mid_response_relayed, setup, teardown),
	};
	return cmocka_run_group_tests_name("redo", tests, NULL, NULL);
}
