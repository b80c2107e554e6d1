/*
 * test_admin_parse.c - the admin port's command parser (proxy/admin_parse.h):
 * what it takes (any case, spaces, trailing ';', the stock client's
 * startup query and its "help 'topic'"), and the exact ERR 1064 message of
 * each thing it refuses, naming what was expected.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "admin_parse.h"

static struct admin_command parsed;

static struct admin_command expect_verb(const char *text, enum admin_verb want)
{
	char err[300] = "";
	if (!admin_parse(text, strlen(text), &parsed, err, sizeof(err)))
		fail_msg("'%s' refused: %s", text, err);
	assert_int_equal(parsed.verb, want);
	return parsed;
}

static void expect_refusal(const char *text, const char *want)
{
	char err[300] = "";
	assert_false(admin_parse(text, strlen(text), &parsed, err, sizeof(err)));
	assert_string_equal(err, want);
}

static void test_refused(void **state)
{
	expect_refusal("", "expected a command (HELP lists them), got an empty query");
	expect_refusal(" ;; ", "expected a command (HELP lists them), got an empty query");
	expect_refusal("SHOW", "SHOW: expected STATUS, SESSIONS, SERVERS, JOURNAL, SNAPSHOTS, CONFIG, THROTTLE or QUERY DIGESTS "
			       "after SHOW, got nothing");
	expect_refusal("show stauts",
		       "SHOW: expected STATUS, SESSIONS, SERVERS, JOURNAL, SNAPSHOTS, CONFIG, THROTTLE or QUERY DIGESTS after SHOW, got 'stauts'");
	expect_refusal("SHOW STATUS LIKE 'x'", "SHOW STATUS takes nothing after it, got 'LIKE'");
	expect_refusal("RELOAD now", "RELOAD takes nothing after it, got 'now'");
	expect_refusal("HELP me please", "HELP [topic] takes nothing after it, got 'please'");
	expect_refusal("SHOW STATUS; SHOW SERVERS", "expected one command per query (nothing after ';')");
	expect_refusal("a b c d e f g h i j k", "expected a command of at most 10 words (HELP lists them)");
	expect_refusal("DROP DATABASE slurm_acct_db", "DROP: expected SNAPSHOT 'id' after DROP, got 'DATABASE'");
	expect_refusal("FLUSH TABLES",
		       "unknown command 'FLUSH': expected HELP, SHOW STATUS, SESSIONS, SERVERS, JOURNAL, SNAPSHOTS, CONFIG, THROTTLE or "
		       "QUERY DIGESTS, RESET QUERY DIGESTS, SNAPSHOT, VERIFY SNAPSHOT, DROP SNAPSHOT, RESTORE SNAPSHOT or "
		       "RELOAD");
	expect_refusal("SELECT 1", "SELECT: expected SELECT @@version_comment [LIMIT 1], the only SELECT the admin port "
				   "answers (HELP lists the commands)");
	expect_refusal("SELECT @@version_comment LIMIT 2",
		       "SELECT: expected SELECT @@version_comment [LIMIT 1], the only SELECT the admin port answers (HELP "
		       "lists the commands)");
	/* Control bytes and long words are quoted harmlessly. */
	expect_refusal("\x01\x1b[31m", "unknown command '??[31m': expected HELP, SHOW STATUS, SESSIONS, SERVERS, JOURNAL, "
				       "SNAPSHOTS, CONFIG, THROTTLE or QUERY DIGESTS, RESET QUERY DIGESTS, SNAPSHOT, VERIFY SNAPSHOT, DROP "
				       "SNAPSHOT, RESTORE SNAPSHOT or RELOAD");
	expect_refusal("SHOW XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
		       "SHOW: expected STATUS, SESSIONS, SERVERS, JOURNAL, SNAPSHOTS, CONFIG, THROTTLE or QUERY DIGESTS after SHOW, got "
		       "'XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX...'");
}

/* The snapshot commands' arguments: ids that stay inside [snapshot] dir,
 * the restore's end and target, each refusal naming what was expected. */
static void test_snapshot_commands(void **state)
{
	expect_verb("verify snapshot '20261202T031500Z'", ADMIN_VERIFY_SNAPSHOT);
	assert_string_equal(parsed.snapshot_id, "20261202T031500Z");
	expect_verb("DROP SNAPSHOT 20261202T031500Z;", ADMIN_DROP_SNAPSHOT);
	assert_string_equal(parsed.snapshot_id, "20261202T031500Z");
	expect_verb("RESTORE SNAPSHOT 'a' INTO DATABASE 'slurm_copy'", ADMIN_RESTORE_SNAPSHOT);
	assert_string_equal(parsed.into_database, "slurm_copy");
	assert_string_equal(parsed.until_time, "");
	assert_int_equal(parsed.until_seq, 0);
	expect_verb("restore snapshot \"a\" until '2026-12-02 03:00:00.5' into database x", ADMIN_RESTORE_SNAPSHOT);
	assert_string_equal(parsed.until_time, "2026-12-02 03:00:00.5");
	assert_string_equal(parsed.into_database, "x");
	expect_verb("RESTORE SNAPSHOT a UNTIL SEQUENCE 1234 INTO DATABASE y", ADMIN_RESTORE_SNAPSHOT);
	assert_int_equal(parsed.until_seq, 1234);
	assert_string_equal(parsed.until_time, "");

	expect_refusal("VERIFY", "VERIFY: expected SNAPSHOT 'id' after VERIFY, got nothing");
	expect_refusal("VERIFY SNAPSHOT",
		       "VERIFY SNAPSHOT: expected the snapshot's id (SHOW SNAPSHOTS lists them), got nothing");
	expect_refusal("DROP SNAPSHOT '../etc'",
		       "DROP SNAPSHOT: expected a snapshot id (letters, digits, '-', '_', '.'), got '../etc'");
	expect_refusal("DROP SNAPSHOT '.'", "DROP SNAPSHOT: expected a snapshot id (letters, digits, '-', '_', '.'), got '.'");
	expect_refusal("DROP SNAPSHOT 'a/b'",
		       "DROP SNAPSHOT: expected a snapshot id (letters, digits, '-', '_', '.'), got 'a/b'");
	expect_refusal("DROP SNAPSHOT a b", "DROP SNAPSHOT 'id' takes nothing after it, got 'b'");
	expect_refusal("DROP SNAPSHOT 'a", "expected a closing quote");
	/* Without INTO DATABASE: in place. */
	expect_verb("RESTORE SNAPSHOT a", ADMIN_RESTORE_SNAPSHOT);
	assert_string_equal(parsed.into_database, "");
	expect_verb("RESTORE SNAPSHOT a UNTIL SEQUENCE 7;", ADMIN_RESTORE_SNAPSHOT);
	assert_int_equal(parsed.until_seq, 7);
	assert_string_equal(parsed.into_database, "");
	expect_refusal("RESTORE SNAPSHOT a INTO DATABASE 'x;drop'",
		       "RESTORE SNAPSHOT 'id': expected UNTIL, INTO DATABASE 'name' (letters, digits, '_', '$') or the "
		       "end, got 'x;drop'");
	expect_refusal("RESTORE SNAPSHOT a INTO x",
		       "RESTORE SNAPSHOT 'id': expected UNTIL, INTO DATABASE 'name' (letters, digits, '_', '$') or the "
		       "end, got 'x'");
	expect_refusal("RESTORE SNAPSHOT a INTO DATABASE",
		       "RESTORE SNAPSHOT 'id': expected UNTIL, INTO DATABASE 'name' (letters, digits, '_', '$') or the "
		       "end, got nothing");
	expect_refusal("RESTORE SNAPSHOT a UNTIL SEQUENCE 0 INTO DATABASE x",
		       "RESTORE SNAPSHOT: expected a journal sequence number after UNTIL SEQUENCE");
	expect_refusal("RESTORE SNAPSHOT a UNTIL SEQUENCE 12x INTO DATABASE x",
		       "RESTORE SNAPSHOT: expected a journal sequence number after UNTIL SEQUENCE");
	expect_refusal("RESTORE SNAPSHOT a UNTIL INTO DATABASE x",
		       "RESTORE SNAPSHOT: expected UNTIL 'YYYY-MM-DD HH:MM:SS[.ffffff]' (UTC) or UNTIL SEQUENCE n");
	expect_refusal("RESTORE SNAPSHOT a INTO DATABASE x now",
		       "RESTORE SNAPSHOT 'id': expected UNTIL, INTO DATABASE or the end, got 'now'");
	/* A quoted keyword is a value, not the keyword. */
	expect_refusal("'SHOW' STATUS", "unknown command 'SHOW': expected HELP, SHOW STATUS, SESSIONS, SERVERS, JOURNAL, "
					"SNAPSHOTS, CONFIG, THROTTLE or QUERY DIGESTS, RESET QUERY DIGESTS, SNAPSHOT, VERIFY SNAPSHOT, "
					"DROP SNAPSHOT, RESTORE SNAPSHOT or RELOAD");
}

static void test_accepted(void **state)
{
	expect_verb("HELP", ADMIN_HELP);
	expect_verb("help 'admin'", ADMIN_HELP);
	expect_verb("  sHoW\t\n sTaTuS ;;  ", ADMIN_SHOW_STATUS);
	expect_verb("show sessions", ADMIN_SHOW_SESSIONS);
	expect_verb("SHOW SERVERS;", ADMIN_SHOW_SERVERS);
	expect_verb("SHOW JOURNAL", ADMIN_SHOW_JOURNAL);
	expect_verb("SHOW SNAPSHOTS", ADMIN_SHOW_SNAPSHOTS);
	expect_verb("SHOW CONFIG", ADMIN_SHOW_CONFIG);
	expect_verb("show throttle", ADMIN_SHOW_THROTTLE);
	expect_verb("reload;", ADMIN_RELOAD);
	expect_verb("select @@version_comment limit 1", ADMIN_VERSION_COMMENT);
	expect_verb("SELECT @@VERSION_COMMENT", ADMIN_VERSION_COMMENT);
}

/* The text is not NUL-terminated: nothing past len is read. */
static void test_length_bound(void **state)
{
	char err[300];
	const char text[] = "RELOADX";
	assert_true(admin_parse(text, 6, &parsed, err, sizeof(err)));
	assert_int_equal(parsed.verb, ADMIN_RELOAD);
	/* A LIMIT's digits end at len too. */
	const char limit[] = "SHOW QUERY DIGESTS LIMIT 12345";
	assert_true(admin_parse(limit, sizeof(limit) - 4, &parsed, err, sizeof(err)));
	assert_int_equal(parsed.limit, 12);
}

/* HELP lists every command the parser takes, each with a description:
 * each entry, its [optional parts] left out, parses. */
static void test_help_lists_commands(void **state)
{
	const char *command, *description;
	size_t n = 0;
	for (; admin_help_at(n, &command, &description); n++) {
		char bare[256], err[300];
		size_t k = 0;
		int depth = 0;
		for (const char *p = command; *p && k + 1 < sizeof(bare); p++) {
			depth += *p == '[';
			if (!depth)
				bare[k++] = *p;
			depth -= *p == ']';
		}
		bare[k] = '\0';
		if (!admin_parse(bare, k, &parsed, err, sizeof(err)))
			fail_msg("HELP's '%s' refused: %s", bare, err);
		assert_true(strlen(description) > 0);
	}
	assert_int_equal(n, 15);
}

/* SHOW QUERY DIGESTS [ORDER BY key] [LIMIT n] and RESET QUERY DIGESTS:
 * every key, the defaults, and the exact refusal of each malformed clause. */
static void test_digests(void **state)
{
	struct admin_command r = expect_verb("SHOW QUERY DIGESTS", ADMIN_SHOW_DIGESTS);
	assert_int_equal(r.order, DIGEST_ORDER_COUNT);
	assert_true(r.limit == SIZE_MAX);
	static const struct {
		const char *word;
		enum digest_order order;
	} keys[] = {{"count", DIGEST_ORDER_COUNT}, {"TOTAL", DIGEST_ORDER_TOTAL}, {"Mean", DIGEST_ORDER_MEAN},
		    {"p95", DIGEST_ORDER_P95},	   {"max", DIGEST_ORDER_MAX},	  {"errors", DIGEST_ORDER_ERRORS},
		    {"rows", DIGEST_ORDER_ROWS}};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		char text[96];
		snprintf(text, sizeof(text), "show query digests order by %s;", keys[i].word);
		r = expect_verb(text, ADMIN_SHOW_DIGESTS);
		assert_int_equal(r.order, keys[i].order);
		assert_true(r.limit == SIZE_MAX);
	}
	r = expect_verb("SHOW QUERY DIGESTS ORDER BY p95 LIMIT 10", ADMIN_SHOW_DIGESTS);
	assert_int_equal(r.order, DIGEST_ORDER_P95);
	assert_int_equal(r.limit, 10);
	r = expect_verb("SHOW QUERY DIGESTS LIMIT 0", ADMIN_SHOW_DIGESTS);
	assert_int_equal(r.order, DIGEST_ORDER_COUNT);
	assert_int_equal(r.limit, 0);
	r = expect_verb("SHOW QUERY DIGESTS LIMIT 1000000000", ADMIN_SHOW_DIGESTS);
	assert_int_equal(r.limit, 1000000000);
	expect_verb("reset query digests ;", ADMIN_RESET_DIGESTS);

	expect_refusal("SHOW QUERY", "SHOW QUERY: expected DIGESTS after SHOW QUERY, got nothing");
	expect_refusal("SHOW QUERY DIGEST", "SHOW QUERY: expected DIGESTS after SHOW QUERY, got 'DIGEST'");
	expect_refusal("SHOW QUERY DIGESTS ORDER", "SHOW QUERY DIGESTS: expected BY after ORDER, got nothing");
	expect_refusal("SHOW QUERY DIGESTS ORDER count",
		       "SHOW QUERY DIGESTS: expected BY after ORDER, got 'count'");
	expect_refusal("SHOW QUERY DIGESTS ORDER BY",
		       "SHOW QUERY DIGESTS: expected count, total, mean, p95, max, errors or rows after ORDER BY, got "
		       "nothing");
	expect_refusal("SHOW QUERY DIGESTS ORDER BY latency",
		       "SHOW QUERY DIGESTS: expected count, total, mean, p95, max, errors or rows after ORDER BY, got "
		       "'latency'");
	expect_refusal("SHOW QUERY DIGESTS LIMIT",
		       "SHOW QUERY DIGESTS: expected a number of rows (0 to 1000000000) after LIMIT, got nothing");
	expect_refusal("SHOW QUERY DIGESTS LIMIT -1",
		       "SHOW QUERY DIGESTS: expected a number of rows (0 to 1000000000) after LIMIT, got '-1'");
	expect_refusal("SHOW QUERY DIGESTS LIMIT 1000000001",
		       "SHOW QUERY DIGESTS: expected a number of rows (0 to 1000000000) after LIMIT, got '1000000001'");
	expect_refusal("SHOW QUERY DIGESTS LIMIT 99999999999",
		       "SHOW QUERY DIGESTS: expected a number of rows (0 to 1000000000) after LIMIT, got '99999999999'");
	expect_refusal("SHOW QUERY DIGESTS LIMIT 1e3",
		       "SHOW QUERY DIGESTS: expected a number of rows (0 to 1000000000) after LIMIT, got '1e3'");
	/* The clauses come in SQL's order, once each. */
	expect_refusal("SHOW QUERY DIGESTS LIMIT 5 ORDER BY max",
		       "SHOW QUERY DIGESTS: expected [ORDER BY count, total, mean, p95, max, errors or rows] [LIMIT n], "
		       "got 'ORDER'");
	expect_refusal("SHOW QUERY DIGESTS ORDER BY max DESC",
		       "SHOW QUERY DIGESTS: expected [ORDER BY count, total, mean, p95, max, errors or rows] [LIMIT n], "
		       "got 'DESC'");
	expect_refusal("SHOW QUERY DIGESTS LIMIT 1 LIMIT 2",
		       "SHOW QUERY DIGESTS: expected [ORDER BY count, total, mean, p95, max, errors or rows] [LIMIT n], "
		       "got 'LIMIT'");
	expect_refusal("RESET", "RESET: expected QUERY DIGESTS after RESET, got nothing");
	expect_refusal("RESET STATUS", "RESET: expected QUERY DIGESTS after RESET, got 'STATUS'");
	expect_refusal("RESET QUERY DIGESTS now", "RESET QUERY DIGESTS takes nothing after it, got 'now'");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_accepted),
		cmocka_unit_test(test_snapshot_commands),
		cmocka_unit_test(test_length_bound),
		cmocka_unit_test(test_digests),
		cmocka_unit_test(test_help_lists_commands),
	};
	return cmocka_run_group_tests_name("admin_parse", tests, NULL, NULL);
}
