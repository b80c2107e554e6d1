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
#include <string.h>

#include <cmocka.h>

#include "admin_parse.h"

static void expect_verb(const char *text, enum admin_verb want)
{
	enum admin_verb verb;
	char err[300] = "";
	if (!admin_parse(text, strlen(text), &verb, err, sizeof(err)))
		fail_msg("'%s' refused: %s", text, err);
	assert_int_equal(verb, want);
}

static void expect_refusal(const char *text, const char *want)
{
	enum admin_verb verb;
	char err[300] = "";
	assert_false(admin_parse(text, strlen(text), &verb, err, sizeof(err)));
	assert_string_equal(err, want);
}

static void test_refused(void **state)
{
	expect_refusal("", "expected a command (HELP lists them), got an empty query");
	expect_refusal(" ;; ", "expected a command (HELP lists them), got an empty query");
	expect_refusal("SHOW", "SHOW: expected STATUS, SESSIONS, SERVERS, JOURNAL, SNAPSHOTS or CONFIG after SHOW, got nothing");
	expect_refusal("show stauts",
		       "SHOW: expected STATUS, SESSIONS, SERVERS, JOURNAL, SNAPSHOTS or CONFIG after SHOW, got 'stauts'");
	expect_refusal("SHOW STATUS LIKE 'x'", "SHOW STATUS takes nothing after it, got 'LIKE'");
	expect_refusal("RELOAD now", "RELOAD takes nothing after it, got 'now'");
	expect_refusal("HELP me please", "HELP [topic] takes nothing after it, got 'please'");
	expect_refusal("SHOW STATUS; SHOW SERVERS", "expected one command per query (nothing after ';')");
	expect_refusal("a b c d e f g", "expected a command of at most 6 words (HELP lists them)");
	expect_refusal("DROP DATABASE slurm_acct_db",
		       "unknown command 'DROP': expected HELP, SHOW STATUS, SESSIONS, SERVERS, JOURNAL, SNAPSHOTS or "
		       "CONFIG, SNAPSHOT or RELOAD");
	expect_refusal("SELECT 1", "SELECT: expected SELECT @@version_comment [LIMIT 1], the only SELECT the admin port "
				   "answers (HELP lists the commands)");
	expect_refusal("SELECT @@version_comment LIMIT 2",
		       "SELECT: expected SELECT @@version_comment [LIMIT 1], the only SELECT the admin port answers (HELP "
		       "lists the commands)");
	/* Control bytes and long words are quoted harmlessly. */
	expect_refusal("\x01\x1b[31m", "unknown command '??[31m': expected HELP, SHOW STATUS, SESSIONS, SERVERS, JOURNAL, "
				       "SNAPSHOTS or CONFIG, SNAPSHOT or RELOAD");
	expect_refusal("SHOW XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
		       "SHOW: expected STATUS, SESSIONS, SERVERS, JOURNAL, SNAPSHOTS or CONFIG after SHOW, got "
		       "'XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX...'");
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
	expect_verb("reload;", ADMIN_RELOAD);
	expect_verb("select @@version_comment limit 1", ADMIN_VERSION_COMMENT);
	expect_verb("SELECT @@VERSION_COMMENT", ADMIN_VERSION_COMMENT);
}

/* The text is not NUL-terminated: nothing past len is read. */
static void test_length_bound(void **state)
{
	enum admin_verb verb;
	char err[300];
	const char text[] = "RELOADX";
	assert_true(admin_parse(text, 6, &verb, err, sizeof(err)));
	assert_int_equal(verb, ADMIN_RELOAD);
}

/* HELP lists every command the parser takes, each with a description. */
static void test_help_lists_commands(void **state)
{
	const char *command, *description;
	size_t n = 0;
	for (; admin_help_at(n, &command, &description); n++) {
		enum admin_verb verb;
		char err[300];
		assert_true(admin_parse(command, strlen(command), &verb, err, sizeof(err)));
		assert_true(strlen(description) > 0);
	}
	assert_int_equal(n, 9);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_accepted),
		cmocka_unit_test(test_length_bound),
		cmocka_unit_test(test_help_lists_commands),
	};
	return cmocka_run_group_tests_name("admin_parse", tests, NULL, NULL);
}
