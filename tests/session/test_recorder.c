/*
 * test_recorder.c - the journal's recorder (proxy/recorder.c) on one
 * session driven by the harness, against a scripted server, with a real
 * journal in a temporary directory: what reaches the server and in what
 * order (the session variables read once, SET timestamp ahead of each
 * write, the command held until its PREPARE is written, an autocommit
 * write run as BEGIN ... COMMIT by acctgate), that the client
 * sees its own answers byte for byte and nothing of acctgate's, and what
 * the journal then holds (journal_walk).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "journal_walk.h"
#include "recorder.h"

static const char context_query[] =
	"\x03SELECT @@session.sql_mode, @@session.time_zone, @@session.character_set_client, "
	"@@session.collation_connection, @@session.collation_server, @@session.lc_time_names, "
	"@@session.foreign_key_checks, @@session.unique_checks, @@session.auto_increment_increment, "
	"@@session.auto_increment_offset, DATABASE(), LAST_INSERT_ID()";

#define IN_TRANS (SERVER_STATUS_AUTOCOMMIT | SERVER_STATUS_IN_TRANS)

struct fixture {
	struct harness *h;
	struct recorder *rec;
	char dir[64];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	f->h = harness_new(NULL);
	strcpy(f->dir, "/tmp/acctgate-recorder-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	struct config cfg = f->h->cfg;
	snprintf(cfg.journal_dir, sizeof(cfg.journal_dir), "%s/journal", f->dir);
	cfg.journal_segment_size = 1u << 20;
	char err[512];
	f->rec = recorder_new(&f->h->gate, &cfg, err, sizeof(err));
	if (!f->rec)
		fail_msg("recorder_new: %s", err);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	bool ok = harness_free(f->h);
	recorder_free(f->rec);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return ok ? 0 : -1;
}

/* An OK with an insert id (harness_buf_ok has none). */
static void buf_ok_id(struct harness_buf *b, uint16_t status, uint8_t affected, uint8_t insert_id)
{
	uint8_t p[] = {0x00, affected, insert_id, (uint8_t)status, (uint8_t)(status >> 8), 0, 0};
	harness_buf_packet(b, p, sizeof(p));
}

static void server_ok(struct harness *h, uint16_t status)
{
	struct harness_buf r;
	harness_buf_init(&r, 1);
	harness_buf_ok(&r, h->caps, 0x00, status, 0, NULL);
	harness_server_send(h, r.data, r.len);
	harness_buf_free(&r);
}

/* The server's answer to the session-variable read. */
static void server_context(struct harness *h)
{
	static const char *const names[12] = {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"};
	static const char *const values[12] = {"ANSI_QUOTES,NO_ENGINE_SUBSTITUTION", "+00:00", "utf8mb4",
					       "utf8mb4_general_ci", "latin1_swedish_ci", "en_US", "1", "1", "1", "1",
					       "slurm_acct_db", "0"};
	struct harness_buf r;
	harness_buf_init(&r, 1);
	harness_buf_result_set(&r, h->caps, 12, names, 1, values, SERVER_STATUS_AUTOCOMMIT);
	harness_server_send(h, r.data, r.len);
	harness_buf_free(&r);
}

/* The next server packet is "SET timestamp=<sec>.<usec>": the µs. */
static uint64_t expect_set_timestamp(struct harness *h)
{
	uint8_t seq;
	size_t len;
	uint8_t *p = harness_server_read_packet(h, &seq, &len);
	assert_int_equal(seq, 0);
	static const char prefix[] = "\x03SET timestamp=";
	assert_true(len > sizeof(prefix) - 1 && memcmp(p, prefix, sizeof(prefix) - 1) == 0);
	char text[64];
	snprintf(text, sizeof(text), "%.*s", (int)(len - (sizeof(prefix) - 1)), (const char *)p + sizeof(prefix) - 1);
	free(p);
	unsigned long long sec, usec;
	assert_int_equal(sscanf(text, "%llu.%6llu", &sec, &usec), 2);
	return sec * 1000000u + usec;
}

struct seen {
	size_t n;
	struct jtxn t[4];
	char text[4][8][128];
};

static bool keep(void *arg, const struct journal_record *rec, const struct jtxn *t)
{
	(void)rec;
	struct seen *s = arg;
	if (s->n < 4) {
		s->t[s->n] = *t;
		for (size_t i = 0; i < t->nstmts && i < 8; i++)
			snprintf(s->text[s->n][i], sizeof(s->text[0][0]), "%.*s", (int)t->stmts[i].len, t->stmts[i].text);
		s->t[s->n].stmts = NULL; /* freed by the walk */
		s->n++;
	}
	return true;
}

/* The journal as the offline tools see it, once the writer caught up. */
static void read_journal(struct fixture *f, struct seen *s, struct journal_walk_summary *sum)
{
	char dir[96], why[256];
	snprintf(dir, sizeof(dir), "%s/journal", f->dir);
	memset(s, 0, sizeof(*s));
	assert_int_equal(journal_walk(dir, NULL, keep, s, sum, why, sizeof(why)), 0);
}

/* An autocommit insert: the variables read, the time fixed, the insert
 * held until its PREPARE is written, then all three pipelined; the
 * client gets the insert's OK alone; the journal has it with its id. */
static void test_autocommit_insert(void **state)
{
	struct fixture *f = *state;
	struct harness *h = f->h;
	harness_login(h, HARNESS_CLIENT_CAPS);
	static const char insert[] = "\x03INSERT INTO t (a) VALUES (1)";
	harness_client_send_packet(h, 0, insert, sizeof(insert) - 1);
	harness_server_expect_command(h, context_query, sizeof(context_query) - 1);
	uint64_t ts = expect_set_timestamp(h);
	harness_server_expect_command(h, "\x03" "BEGIN", 6);
	harness_server_expect_command(h, insert, sizeof(insert) - 1);
	server_context(h);
	server_ok(h, SERVER_STATUS_AUTOCOMMIT);
	server_ok(h, IN_TRANS);
	/* The insert's OK says "in transaction": acctgate commits it, and the
	 * client gets the OK as autocommit would have given it. */
	struct harness_buf ok;
	harness_buf_init(&ok, 1);
	buf_ok_id(&ok, IN_TRANS, 1, 7);
	harness_server_send(h, ok.data, ok.len);
	harness_buf_free(&ok);
	harness_server_expect_command(h, "\x03" "COMMIT", 7);
	server_ok(h, SERVER_STATUS_AUTOCOMMIT);
	harness_buf_init(&ok, 1);
	buf_ok_id(&ok, SERVER_STATUS_AUTOCOMMIT, 1, 7);
	harness_client_expect_bytes(h, ok.data, ok.len);
	harness_buf_free(&ok);
	harness_ping(h);

	struct seen s;
	struct journal_walk_summary sum;
	read_journal(f, &s, &sum);
	assert_int_equal(sum.commits, 1);
	assert_int_equal(sum.prepares, 1);
	assert_int_equal(sum.nin_doubt, 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.t[0].nstmts, 1);
	assert_string_equal(s.text[0][0], "INSERT INTO t (a) VALUES (1)");
	assert_true(s.t[0].ctx.known);
	assert_string_equal(s.t[0].ctx.sql_mode, "ANSI_QUOTES,NO_ENGINE_SUBSTITUTION");
	assert_string_equal(s.t[0].ctx.database, "slurm_acct_db");
	journal_walk_summary_free(&sum);
	(void)ts;
}

/* BEGIN, an update, COMMIT: the variables were read already, so only the
 * time goes ahead of the update; the COMMIT's OK reaches the client once
 * its record is written; a ROLLBACK'd transaction leaves nothing. */
static void test_transaction_and_rollback(void **state)
{
	struct fixture *f = *state;
	struct harness *h = f->h;
	harness_login(h, HARNESS_CLIENT_CAPS);
	harness_query(h, "BEGIN");
	server_ok(h, IN_TRANS);
	struct harness_buf r;
	harness_buf_init(&r, 1);
	harness_buf_ok(&r, h->caps, 0x00, IN_TRANS, 0, NULL);
	harness_client_expect_bytes(h, r.data, r.len);
	harness_buf_free(&r);

	static const char update[] = "\x03UPDATE t SET a = UNIX_TIMESTAMP()";
	harness_client_send_packet(h, 0, update, sizeof(update) - 1);
	harness_server_expect_command(h, context_query, sizeof(context_query) - 1);
	uint64_t ts = expect_set_timestamp(h);
	harness_server_expect_command(h, update, sizeof(update) - 1);
	server_context(h);
	server_ok(h, IN_TRANS);
	struct harness_buf ok;
	harness_buf_init(&ok, 1);
	buf_ok_id(&ok, IN_TRANS, 3, 0);
	harness_server_send(h, ok.data, ok.len);
	harness_client_expect_bytes(h, ok.data, ok.len);
	harness_buf_free(&ok);

	harness_client_send_packet(h, 0, "\x03" "COMMIT", 7);
	harness_server_expect_command(h, "\x03" "COMMIT", 7);
	harness_buf_init(&ok, 1);
	harness_buf_ok(&ok, h->caps, 0x00, SERVER_STATUS_AUTOCOMMIT, 0, NULL);
	harness_server_send(h, ok.data, ok.len);
	harness_client_expect_bytes(h, ok.data, ok.len);
	harness_buf_free(&ok);

	/* A read of the clock after the write: the time runs again first. */
	static const char now[] = "\x03SELECT NOW(6)";
	harness_client_send_packet(h, 0, now, sizeof(now) - 1);
	harness_server_expect_command(h, "\x03SET timestamp=DEFAULT", 22);
	harness_server_expect_command(h, now, sizeof(now) - 1);
	server_ok(h, SERVER_STATUS_AUTOCOMMIT);
	static const char *const cols[] = {"NOW(6)"};
	static const char *const vals[] = {"2026-12-02 01:02:03.000004"};
	harness_buf_init(&r, 1);
	harness_buf_result_set(&r, h->caps, 1, cols, 1, vals, SERVER_STATUS_AUTOCOMMIT);
	harness_server_send(h, r.data, r.len);
	harness_client_expect_bytes(h, r.data, r.len);
	harness_buf_free(&r);

	/* Rolled back: nothing recorded. */
	harness_query(h, "BEGIN");
	server_ok(h, IN_TRANS);
	harness_buf_init(&r, 1);
	harness_buf_ok(&r, h->caps, 0x00, IN_TRANS, 0, NULL);
	harness_client_expect_bytes(h, r.data, r.len);
	harness_buf_free(&r);
	static const char del[] = "\x03" "DELETE FROM t";
	harness_client_send_packet(h, 0, del, sizeof(del) - 1);
	expect_set_timestamp(h);
	harness_server_expect_command(h, del, sizeof(del) - 1);
	server_ok(h, SERVER_STATUS_AUTOCOMMIT);
	harness_buf_init(&ok, 1);
	buf_ok_id(&ok, IN_TRANS, 5, 0);
	harness_server_send(h, ok.data, ok.len);
	harness_client_expect_bytes(h, ok.data, ok.len);
	harness_buf_free(&ok);
	harness_query(h, "ROLLBACK");
	server_ok(h, SERVER_STATUS_AUTOCOMMIT);
	harness_buf_init(&r, 1);
	harness_buf_ok(&r, h->caps, 0x00, SERVER_STATUS_AUTOCOMMIT, 0, NULL);
	harness_client_expect_bytes(h, r.data, r.len);
	harness_buf_free(&r);
	harness_ping(h);

	struct seen s;
	struct journal_walk_summary sum;
	read_journal(f, &s, &sum);
	assert_int_equal(sum.commits, 1);
	assert_int_equal(s.t[0].nstmts, 1);
	assert_string_equal(s.text[0][0], "UPDATE t SET a = UNIX_TIMESTAMP()");
	journal_walk_summary_free(&sum);
	(void)ts;
}

/* A server that will not tell the session's variables: the client never
 * knows, and the transaction is journaled without them. */
static void test_context_refused(void **state)
{
	struct fixture *f = *state;
	struct harness *h = f->h;
	harness_login(h, HARNESS_CLIENT_CAPS);
	static const char insert[] = "\x03INSERT INTO t (a) VALUES (2)";
	harness_client_send_packet(h, 0, insert, sizeof(insert) - 1);
	harness_server_expect_command(h, context_query, sizeof(context_query) - 1);
	expect_set_timestamp(h);
	harness_server_expect_command(h, "\x03" "BEGIN", 6);
	harness_server_expect_command(h, insert, sizeof(insert) - 1);
	struct harness_buf r;
	harness_buf_init(&r, 1);
	harness_buf_err(&r, 1142, "42000", "SELECT command denied");
	harness_server_send(h, r.data, r.len);
	harness_buf_free(&r);
	server_ok(h, SERVER_STATUS_AUTOCOMMIT);
	server_ok(h, IN_TRANS);
	struct harness_buf ok;
	harness_buf_init(&ok, 1);
	buf_ok_id(&ok, IN_TRANS, 1, 9);
	harness_server_send(h, ok.data, ok.len);
	harness_buf_free(&ok);
	harness_server_expect_command(h, "\x03" "COMMIT", 7);
	server_ok(h, SERVER_STATUS_AUTOCOMMIT);
	harness_buf_init(&ok, 1);
	buf_ok_id(&ok, SERVER_STATUS_AUTOCOMMIT, 1, 9);
	harness_client_expect_bytes(h, ok.data, ok.len);
	harness_buf_free(&ok);
	harness_ping(h);
	struct seen s;
	struct journal_walk_summary sum;
	read_journal(f, &s, &sum);
	assert_int_equal(sum.commits, 1);
	assert_false(s.t[0].ctx.known);
	journal_walk_summary_free(&sum);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_autocommit_insert, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transaction_and_rollback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_context_refused, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
