/*
 * test_hooks.c - the session layer's verdicts (hooks.h), each with a hook
 * written for the test, on one session driven by the harness: a command
 * held and released, a COMMIT's OK held while another session of the same
 * worker keeps working, a result swallowed, a command answered locally,
 * and the transaction boundaries with their statements in order, a
 * deadlock's ERR included; statements of acctgate's own pipelined ahead of
 * a command, a held command answered with an ERR after them, and an ERR
 * in place of a final packet.
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
#include "hooks.h"
#include "worker.h"

#define ER_LOCK_DEADLOCK 1213

/* What the test hook does, and what it saw. */
struct probe_hook {
	const char *hold_command;     /* hold the COM_QUERY with this text */
	const char *answer_command;   /* answer this one with ERR 1290 */
	const char *hold_result_of;   /* hold the final packet of this query's response */
	const char *swallow_result_of;
	const char *answer_result_of; /* replace its final packet with ERR 1180 */
	const char *inject_before;    /* inject two statements ahead of this query */
	const char *pause_result_of;  /* pause this query's response at its first result end */
	int pauses_asked, pauses_granted;
	int injected_done;
	uint16_t injected_last_code;  /* the last injected statement's ERR code, 0 for OK */
	char injected_row[64];        /* the first value of the injected SELECT's row */
	char last_query[128];
	struct session *held;
	int held_count;
	int results;                  /* on_result_end calls */
	int txn_begins, txn_ends;
	enum txn_end last_end;
	size_t last_nstmts;
	char last_stmts[8][64];
	bool last_wrote;
};

static bool query_is(const struct hook_command *cmd, const char *text)
{
	return text && cmd->code == COM_QUERY && cmd->args && cmd->args_len == strlen(text) &&
	       memcmp(cmd->args, text, cmd->args_len) == 0;
}

static void injected_row(void *arg, struct session *s, const struct proto_slice *values, const bool *nulls,
			 size_t ncols)
{
	(void)s;
	(void)nulls;
	struct probe_hook *p = arg;
	assert_int_equal(ncols, 2);
	snprintf(p->injected_row, sizeof(p->injected_row), "%.*s", (int)values[0].len, (const char *)values[0].ptr);
}

static void injected_done(void *arg, struct session *s, const struct proto_result_end *end)
{
	(void)s;
	struct probe_hook *p = arg;
	p->injected_done++;
	p->injected_last_code = end->kind == END_ERR ? end->err_code : 0;
}

static const struct session_inject_ops probe_inject_ops = {.on_row = injected_row, .on_done = injected_done};

static enum hook_verdict before_command(void *arg, struct session *s, const struct hook_command *cmd,
					struct hook_answer *answer)
{
	struct probe_hook *p = arg;
	if (query_is(cmd, p->inject_before)) {
		assert_true(session_inject(s, "SET timestamp=1", 15, &probe_inject_ops, p));
		assert_true(session_inject(s, "SELECT @@sql_mode, 2", 20, &probe_inject_ops, p));
	}
	/* Any other command (a ping) is no query the test names. */
	p->last_query[0] = '\0';
	if (cmd->code == COM_QUERY && cmd->args)
		snprintf(p->last_query, sizeof(p->last_query), "%.*s", (int)cmd->args_len, (const char *)cmd->args);
	if (query_is(cmd, p->answer_command)) {
		answer->code = 1290;
		snprintf(answer->sql_state, sizeof(answer->sql_state), "HY000");
		snprintf(answer->message, sizeof(answer->message), "test hook: refused");
		return HOOK_ANSWER;
	}
	if (query_is(cmd, p->hold_command) && p->held != s) {
		p->held = s;
		p->held_count++;
		return HOOK_HOLD;
	}
	return HOOK_FORWARD;
}

static enum hook_verdict before_result_end(void *arg, struct session *s, const struct proto_result_end *end,
					   const uint8_t *packet, size_t len, struct hook_answer *answer)
{
	(void)end;
	(void)packet;
	(void)len;
	(void)answer;
	struct probe_hook *p = arg;
	if (p->hold_result_of && strcmp(p->last_query, p->hold_result_of) == 0 && p->held != s) {
		p->held = s;
		p->held_count++;
		return HOOK_HOLD;
	}
	if (p->swallow_result_of && strcmp(p->last_query, p->swallow_result_of) == 0)
		return HOOK_SWALLOW;
	if (p->answer_result_of && strcmp(p->last_query, p->answer_result_of) == 0) {
		answer->code = 1180;
		snprintf(answer->message, sizeof(answer->message), "test hook: not recorded");
		return HOOK_ANSWER;
	}
	return HOOK_FORWARD;
}

static void on_result_end(void *arg, struct session *s, const struct proto_result_end *end)
{
	(void)end;
	struct probe_hook *p = arg;
	p->results++;
	if (p->pause_result_of && strcmp(p->last_query, p->pause_result_of) == 0) {
		p->pauses_asked++;
		if (session_pause_response(s)) {
			p->pauses_granted++;
			p->held = s;
		}
	}
}

static void on_txn_begin(void *arg, struct session *s, const struct txn *t)
{
	(void)s;
	(void)t;
	((struct probe_hook *)arg)->txn_begins++;
}

static void on_txn_end(void *arg, struct session *s, const struct txn *t, enum txn_end how)
{
	(void)s;
	struct probe_hook *p = arg;
	p->txn_ends++;
	p->last_end = how;
	p->last_wrote = t->wrote;
	p->last_nstmts = t->nstmts;
	for (size_t i = 0; i < t->nstmts && i < 8; i++)
		snprintf(p->last_stmts[i], sizeof(p->last_stmts[i]), "%.*s", (int)t->stmts[i].args_len,
			 (const char *)t->stmts[i].args);
}

struct fixture {
	struct harness *h;
	struct probe_hook probe;
	struct session_hooks hooks;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	f->h = harness_new(NULL);
	f->hooks = (struct session_hooks){
		.name = "test",
		.arg = &f->probe,
		.before_command = before_command,
		.before_result_end = before_result_end,
		.on_result_end = on_result_end,
		.on_txn_begin = on_txn_begin,
		.on_txn_end = on_txn_end,
	};
	assert_true(gate_add_hooks(&f->h->gate, &f->hooks));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	bool ok = harness_free(f->h);
	free(f);
	return ok ? 0 : -1;
}

/* The server answers OK with these flags; the client gets it unchanged. */
static void ok_relayed(struct harness *h, uint16_t status, uint64_t affected)
{
	struct harness_buf r;
	harness_buf_init(&r, 1);
	harness_buf_ok(&r, h->caps, 0x00, status, affected, NULL);
	harness_server_send(h, r.data, r.len);
	harness_client_expect_bytes(h, r.data, r.len);
	harness_buf_free(&r);
}

#define IN_TRANS (SERVER_STATUS_AUTOCOMMIT | SERVER_STATUS_IN_TRANS)

/* HOOK_HOLD before a command: it stays with acctgate until released, then
 * reaches the server as sent, and its answer the client. */
static void test_command_held_and_released(void **state)
{
	struct fixture *f = *state;
	struct harness *h = f->h;
	f->probe.hold_command = "UPDATE t SET a = 1";
	harness_login(h, HARNESS_CLIENT_CAPS);
	static const char cmd[] = "\x03UPDATE t SET a = 1";
	harness_client_send_packet(h, 0, cmd, sizeof(cmd) - 1);
	harness_expect_quiet(h, 300);
	assert_int_equal(f->probe.held_count, 1);
	assert_non_null(f->probe.held);
	session_release(f->probe.held);
	harness_server_expect_command(h, cmd, sizeof(cmd) - 1);
	ok_relayed(h, SERVER_STATUS_AUTOCOMMIT, 1);
	harness_ping(h);
}

/* HOOK_HOLD before the final packet: a COMMIT's OK waits (as for a journal
 * fsync) while a second session of the same worker logs in and works;
 * released, the OK reaches the first client byte for byte. */
static void test_commit_ok_held_while_another_session_works(void **state)
{
	struct fixture *f = *state;
	struct harness *h = f->h;
	f->probe.hold_result_of = "COMMIT";
	harness_login(h, HARNESS_CLIENT_CAPS);
	harness_query(h, "BEGIN");
	ok_relayed(h, IN_TRANS, 0);
	harness_query(h, "INSERT INTO t VALUES (1)");
	ok_relayed(h, IN_TRANS, 1);
	harness_query(h, "COMMIT");
	struct harness_buf commit_ok;
	harness_buf_init(&commit_ok, 1);
	harness_buf_ok(&commit_ok, h->caps, 0x00, SERVER_STATUS_AUTOCOMMIT, 0, NULL);
	harness_server_send(h, commit_ok.data, commit_ok.len);
	harness_expect_quiet(h, 300);
	assert_int_equal(f->probe.held_count, 1);
	struct session *first = f->probe.held;

	struct harness_peer client1 = {.name = "client", .fd = -1}, server1 = {.name = "server", .fd = -1};
	harness_swap_peers(h, &client1, &server1);
	harness_login(h, HARNESS_CLIENT_CAPS);
	harness_ping(h);
	harness_query(h, "SELECT 1");
	ok_relayed(h, SERVER_STATUS_AUTOCOMMIT, 0);
	assert_int_equal(harness_nsessions(h), 2);
	harness_swap_peers(h, &client1, &server1); /* back to the first session */
	harness_peer_free(&client1);
	harness_peer_free(&server1);

	session_release(first);
	harness_client_expect_bytes(h, commit_ok.data, commit_ok.len);
	harness_buf_free(&commit_ok);
	assert_int_equal(f->probe.last_end, TXN_END_SERVER);
	harness_ping(h);
}

/* HOOK_SWALLOW: the final packet never reaches the client, and the session
 * is idle again (the next command goes through). */
static void test_result_swallowed(void **state)
{
	struct fixture *f = *state;
	struct harness *h = f->h;
	f->probe.swallow_result_of = "DO 1";
	harness_login(h, HARNESS_CLIENT_CAPS);
	harness_query(h, "DO 1");
	struct harness_buf r;
	harness_buf_init(&r, 1);
	harness_buf_ok(&r, h->caps, 0x00, SERVER_STATUS_AUTOCOMMIT, 0, NULL);
	harness_server_send(h, r.data, r.len);
	harness_buf_free(&r);
	harness_expect_quiet(h, 300);
	harness_ping(h);
}

/* HOOK_ANSWER: the client gets the hook's ERR at its sequence id, the
 * server nothing; the session goes on. */
static void test_command_answered_locally(void **state)
{
	struct fixture *f = *state;
	struct harness *h = f->h;
	f->probe.answer_command = "DROP TABLE job_table";
	harness_login(h, HARNESS_CLIENT_CAPS);
	static const char cmd[] = "\x03" "DROP TABLE job_table";
	harness_client_send_packet(h, 0, cmd, sizeof(cmd) - 1);
	char msg[100];
	harness_client_expect_err(h, 1, 1290, msg, sizeof(msg));
	assert_string_equal(msg, "test hook: refused");
	harness_ping(h);
}

/* Injected statements reach the server first, pipelined with the client's
 * command; their responses (an OK, a result set) go to the hook, and the
 * client sees only its own command's answer. */
static void test_injected_statements_precede_command(void **state)
{
	struct fixture *f = *state;
	struct harness *h = f->h;
	f->probe.inject_before = "INSERT INTO t VALUES (1)";
	harness_login(h, HARNESS_CLIENT_CAPS);
	harness_client_send_packet(h, 0, "\x03INSERT INTO t VALUES (1)", 25);
	harness_server_expect_command(h, "\x03SET timestamp=1", 16);
	harness_server_expect_command(h, "\x03SELECT @@sql_mode, 2", 21);
	harness_server_expect_command(h, "\x03INSERT INTO t VALUES (1)", 25);
	struct harness_buf r;
	harness_buf_init(&r, 1);
	harness_buf_ok(&r, h->caps, 0x00, SERVER_STATUS_AUTOCOMMIT, 0, NULL);
	static const char *const names[] = {"@@sql_mode", "2"};
	static const char *const values[] = {"ANSI_QUOTES", "2"};
	struct harness_buf rs;
	harness_buf_init(&rs, 1);
	harness_buf_result_set(&rs, h->caps, 2, names, 1, values, SERVER_STATUS_AUTOCOMMIT);
	harness_server_send(h, r.data, r.len);
	harness_server_send(h, rs.data, rs.len);
	harness_buf_free(&rs);
	harness_buf_free(&r);
	ok_relayed(h, SERVER_STATUS_AUTOCOMMIT, 1);
	assert_int_equal(f->probe.injected_done, 2);
	assert_int_equal(f->probe.injected_last_code, 0);
	assert_string_equal(f->probe.injected_row, "ANSI_QUOTES");
	harness_ping(h);
}

/* A held command released with an ERR: the statement injected while it
 * was held (a ROLLBACK) still goes, the command itself never does, and the
 * client gets the ERR once the server answered the injected one. */
static void test_held_command_released_with_error(void **state)
{
	struct fixture *f = *state;
	struct harness *h = f->h;
	f->probe.hold_command = "COMMIT";
	harness_login(h, HARNESS_CLIENT_CAPS);
	harness_client_send_packet(h, 0, "\x03" "COMMIT", 7);
	harness_expect_quiet(h, 200);
	assert_non_null(f->probe.held);
	assert_true(session_inject(f->probe.held, "ROLLBACK", 8, &probe_inject_ops, &f->probe));
	struct hook_answer ans = {.code = 1180, .sql_state = "HY000", .message = "test hook: rolled back"};
	session_release_error(f->probe.held, &ans);
	harness_server_expect_command(h, "\x03ROLLBACK", 9);
	struct harness_buf r;
	harness_buf_init(&r, 1);
	harness_buf_ok(&r, h->caps, 0x00, SERVER_STATUS_AUTOCOMMIT, 0, NULL);
	harness_server_send(h, r.data, r.len);
	harness_buf_free(&r);
	char msg[100];
	harness_client_expect_err(h, 1, 1180, msg, sizeof(msg));
	assert_string_equal(msg, "test hook: rolled back");
	assert_int_equal(f->probe.injected_done, 1);
	harness_ping(h);
}

/* HOOK_ANSWER before the final packet: the client gets the hook's ERR in
 * its place, at its sequence id. */
static void test_final_packet_answered(void **state)
{
	struct fixture *f = *state;
	struct harness *h = f->h;
	f->probe.answer_result_of = "COMMIT";
	harness_login(h, HARNESS_CLIENT_CAPS);
	harness_query(h, "COMMIT");
	struct harness_buf r;
	harness_buf_init(&r, 1);
	harness_buf_ok(&r, h->caps, 0x00, SERVER_STATUS_AUTOCOMMIT, 0, NULL);
	harness_server_send(h, r.data, r.len);
	harness_buf_free(&r);
	char msg[100];
	harness_client_expect_err(h, 1, 1180, msg, sizeof(msg));
	assert_string_equal(msg, "test hook: not recorded");
	harness_ping(h);
}

/* One transaction from BEGIN to COMMIT with its statements in order, then
 * an autocommit statement as a transaction of its own. */
static void test_transaction_statements_in_order(void **state)
{
	struct fixture *f = *state;
	struct harness *h = f->h;
	harness_login(h, HARNESS_CLIENT_CAPS);
	int begins = f->probe.txn_begins, ends = f->probe.txn_ends;
	harness_query(h, "BEGIN");
	ok_relayed(h, IN_TRANS, 0);
	harness_query(h, "INSERT INTO t VALUES (1)");
	ok_relayed(h, IN_TRANS, 1);
	harness_query(h, "UPDATE t SET a = 2");
	ok_relayed(h, IN_TRANS, 1);
	assert_int_equal(f->probe.txn_ends, ends);
	harness_query(h, "COMMIT");
	ok_relayed(h, SERVER_STATUS_AUTOCOMMIT, 0);
	assert_int_equal(f->probe.txn_begins, begins + 1);
	assert_int_equal(f->probe.txn_ends, ends + 1);
	assert_int_equal(f->probe.last_end, TXN_END_SERVER);
	assert_true(f->probe.last_wrote);
	assert_int_equal(f->probe.last_nstmts, 4);
	assert_string_equal(f->probe.last_stmts[0], "BEGIN");
	assert_string_equal(f->probe.last_stmts[1], "INSERT INTO t VALUES (1)");
	assert_string_equal(f->probe.last_stmts[2], "UPDATE t SET a = 2");
	assert_string_equal(f->probe.last_stmts[3], "COMMIT");

	harness_query(h, "DELETE FROM t");
	ok_relayed(h, SERVER_STATUS_AUTOCOMMIT, 3);
	assert_int_equal(f->probe.txn_ends, ends + 2);
	assert_int_equal(f->probe.last_nstmts, 1);
	assert_string_equal(f->probe.last_stmts[0], "DELETE FROM t");
	assert_true(f->probe.last_wrote);
}

/* An ERR 1213 (deadlock) rolls the whole transaction back: it ends there,
 * as rolled back, and the session is no longer in a transaction. (The
 * user variable, read before the transaction assigns it, makes it one
 * acctgate does not run again: redo.c.) */
static void test_deadlock_ends_transaction(void **state)
{
	struct fixture *f = *state;
	struct harness *h = f->h;
	harness_login(h, HARNESS_CLIENT_CAPS);
	harness_query(h, "BEGIN");
	ok_relayed(h, IN_TRANS, 0);
	harness_query(h, "SET @n = @n + 1");
	ok_relayed(h, IN_TRANS, 0);
	harness_query(h, "INSERT INTO t VALUES (1)");
	ok_relayed(h, IN_TRANS, 1);
	int ends = f->probe.txn_ends;
	harness_query(h, "UPDATE t SET a = 2");
	struct harness_buf r;
	harness_buf_init(&r, 1);
	harness_buf_err(&r, ER_LOCK_DEADLOCK, "40001", "Deadlock found when trying to get lock; try restarting transaction");
	harness_server_send(h, r.data, r.len);
	harness_client_expect_bytes(h, r.data, r.len);
	harness_buf_free(&r);
	assert_int_equal(f->probe.txn_ends, ends + 1);
	assert_int_equal(f->probe.last_end, TXN_END_ROLLED_BACK);
	assert_int_equal(f->probe.last_nstmts, 4);
	assert_false(session_in_transaction(h->worker->sessions));
	harness_ping(h);
}

/* session_pause_response at a mid-query result end (a COMMIT's OK in a
 * multi-statement query): that OK and what follows wait until released,
 * then arrive in order; at the last result end there is nothing to pause. */
static void test_response_paused_mid_query(void **state)
{
	struct fixture *f = *state;
	struct harness *h = f->h;
	f->probe.pause_result_of = "COMMIT; INSERT INTO t VALUES (2)";
	harness_login(h, HARNESS_CLIENT_CAPS);
	harness_query(h, "BEGIN");
	ok_relayed(h, IN_TRANS, 0);
	harness_query(h, "COMMIT; INSERT INTO t VALUES (2)");
	struct harness_buf r;
	harness_buf_init(&r, 1);
	harness_buf_ok(&r, h->caps, 0x00, SERVER_STATUS_AUTOCOMMIT | SERVER_MORE_RESULTS_EXISTS, 0, NULL);
	harness_buf_ok(&r, h->caps, 0x00, SERVER_STATUS_AUTOCOMMIT, 1, NULL);
	harness_server_send(h, r.data, r.len);
	harness_expect_quiet(h, 300);
	assert_int_equal(f->probe.pauses_asked, 1);
	assert_int_equal(f->probe.pauses_granted, 1);
	session_release(f->probe.held);
	harness_client_expect_bytes(h, r.data, r.len);
	harness_buf_free(&r);
	/* Asked again at the final result end: refused, nothing held. */
	assert_int_equal(f->probe.pauses_asked, 2);
	assert_int_equal(f->probe.pauses_granted, 1);
	harness_ping(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_command_held_and_released, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commit_ok_held_while_another_session_works, setup, teardown),
		cmocka_unit_test_setup_teardown(test_result_swallowed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_command_answered_locally, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transaction_statements_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deadlock_ends_transaction, setup, teardown),
		cmocka_unit_test_setup_teardown(test_injected_statements_precede_command, setup, teardown),
		cmocka_unit_test_setup_teardown(test_held_command_released_with_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_final_packet_answered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_response_paused_mid_query, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
