/*
 * test_log.c - log_escape, through which text from the network (a user name
 * before authentication, a server's ERR message) reaches the log: nothing
 * it writes can end a log line, move the terminal's cursor or pass for an
 * escape the input did not have, and it never overruns its buffer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "log.h"

/* Escape `len` bytes of `in` into a buffer of `outlen` bytes, with guard
 * bytes after it, and compare with `want`. */
static void expect_escape(const char *in, size_t len, size_t outlen, const char *want)
{
	char buf[256];
	assert_true(outlen + 8 <= sizeof(buf));
	memset(buf, '#', sizeof(buf));
	log_escape(in, len, buf, outlen);
	assert_string_equal(buf, want);
	for (size_t i = outlen; i < outlen + 8; i++)
		assert_int_equal(buf[i], '#');
}

static void test_printable_unchanged(void **state)
{
	const char *s = "Access denied for user 'slurm'@'10.0.0.1' (using password: YES)";
	expect_escape(s, strlen(s), 200, s);
	expect_escape("", 0, 1, "");
	expect_escape(NULL, 0, 4, "");
}

static void test_control_bytes(void **state)
{
	/* A forged log line after CR LF, an ANSI "clear screen", a NUL. */
	const char in[] = "denied\r\n2026-01-01T00:00:00.000Z notice  forged\x1b[2J\t\0end";
	expect_escape(in, sizeof(in) - 1, 200,
		      "denied\\x0d\\x0a2026-01-01T00:00:00.000Z notice  forged\\x1b[2J\\x09\\x00end");
	expect_escape("\x7f", 1, 8, "\\x7f");
	expect_escape("\x01\x1f", 2, 16, "\\x01\\x1f");
}

/* Bytes above 0x7e (UTF-8 included) and the backslash itself are escaped:
 * "\x41" in the log then always means the byte 0x41 was escaped, never that
 * the peer wrote those four characters. */
static void test_backslash_and_high_bytes(void **state)
{
	expect_escape("a\\x41", 5, 32, "a\\x5cx41");
	expect_escape("caf\xc3\xa9", 5, 32, "caf\\xc3\\xa9");
	expect_escape("\xff", 1, 8, "\\xff");
}

/* Truncation keeps the NUL and never splits an escape. */
static void test_truncation(void **state)
{
	expect_escape("abcdef", 6, 4, "abc");
	expect_escape("abc", 3, 4, "abc");
	expect_escape("abc", 3, 1, "");
	expect_escape("a\nb", 3, 5, "a");       /* "\x0a" needs 4 + the NUL */
	expect_escape("a\nb", 3, 6, "a\\x0a");
	expect_escape("a\nb", 3, 7, "a\\x0ab");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_printable_unchanged),
		cmocka_unit_test(test_control_bytes),
		cmocka_unit_test(test_backslash_and_high_bytes),
		cmocka_unit_test(test_truncation),
	};
	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
