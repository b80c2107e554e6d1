/*
 * test_stmt_params.c - prepared statements' executions as replayable
 * text (stmt_params.h): every parameter type libmariadb sends, NULLs, long
 * data, types remembered from an earlier execute, placeholders inside
 * quotes and comments left alone, escaping with and without backslashes,
 * and refusals (too few values, types never bound).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "stmt_params.h"

/* An execute payload: id 7, no cursor, 1 iteration, then `params`. */
static size_t execute(uint8_t *buf, const uint8_t *params, size_t n)
{
	static const uint8_t head[] = {7, 0, 0, 0, 0, 1, 0, 0, 0};
	memcpy(buf, head, sizeof(head));
	memcpy(buf + sizeof(head), params, n);
	return sizeof(head) + n;
}

static const char *render(const char *text, const uint8_t *params, size_t n, uint16_t nparams, uint8_t *types,
			  bool *known, const struct proto_long_data *ld, bool escapes, enum proto_status *st)
{
	static char out[512];
	uint8_t buf[256];
	size_t len = execute(buf, params, n);
	struct proto_stmt_execute ex;
	assert_int_equal(proto_parse_stmt_execute(buf, len, &ex, NULL), PROTO_OK);
	assert_int_equal(ex.stmt_id, 7);
	size_t olen = 0;
	struct proto_error err = {0};
	*st = proto_stmt_execute_to_sql(text, strlen(text), &ex, nparams, types, known, ld, escapes, out, sizeof(out),
					&olen, &err);
	return *st == PROTO_OK ? out : err.what;
}

static void test_types(void **state)
{
	/* bitmap 0, bound, types: LONGLONG, LONG unsigned, STRING, DOUBLE,
	 * DATETIME, TINY, DATE, TIME, NEWDECIMAL */
	static const uint8_t p[] = {
		0x00, 0x00, 1,
		PT_LONGLONG, 0, PT_LONG, 0x80, PT_STRING, 0, PT_DOUBLE, 0, PT_DATETIME, 0, PT_TINY, 0, PT_DATE, 0,
		PT_TIME, 0, PT_NEWDECIMAL, 0,
		0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,  /* -2 */
		0xff, 0xff, 0xff, 0xff,                          /* 4294967295 */
		3, 'a', '\'', 'b',                               /* a'b */
		0, 0, 0, 0, 0, 0, 0xf8, 0x3f,                    /* 1.5 */
		11, 0xea, 0x07, 12, 2, 1, 2, 3, 0x40, 0xe2, 0x01, 0, /* 2026-12-02 01:02:03.123456 */
		0x80,                                            /* -128 */
		4, 0xea, 0x07, 12, 31,                           /* 2026-12-31 */
		8, 1, 2, 0, 0, 0, 3, 4, 5,                       /* -2 03:04:05 */
		5, '1', '2', '.', '5', '0',
	};
	uint8_t types[18];
	bool known = false;
	enum proto_status st;
	const char *sql = render("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", p, sizeof(p), 9, types, &known, NULL,
				 true, &st);
	assert_int_equal(st, PROTO_OK);
	assert_string_equal(sql, "INSERT INTO t VALUES (-2, 4294967295, 'a''b', 1.50000000000000000e+00, "
				 "'2026-12-02 01:02:03.123456', -128, '2026-12-31', '-2 03:04:05.000000', 12.50)");
	assert_true(known);
}

/* NULLs by bitmap; types kept from the execute that bound them. */
static void test_nulls_and_remembered_types(void **state)
{
	static const uint8_t bound[] = {0x02, 1, PT_LONG, 0, PT_STRING, 0, 5, 0, 0, 0};
	static const uint8_t again[] = {0x00, 0, 6, 0, 0, 0, 2, 'h', 'i'};
	uint8_t types[4];
	bool known = false;
	enum proto_status st;
	assert_string_equal(render("UPDATE t SET a = ?, b = ?", bound, sizeof(bound), 2, types, &known, NULL, true, &st),
			    "UPDATE t SET a = 5, b = NULL");
	assert_string_equal(render("UPDATE t SET a = ?, b = ?", again, sizeof(again), 2, types, &known, NULL, true, &st),
			    "UPDATE t SET a = 6, b = 'hi'");
}

/* A '?' in a string, an identifier or a comment is no placeholder. */
static void test_placeholders_outside_quotes(void **state)
{
	const char *text = "SELECT '?', `a?`, \"?\" /* ? */ , ? -- ?\n, ? # ?\n";
	assert_int_equal(proto_sql_count_placeholders(text, strlen(text)), 2);
	static const uint8_t p[] = {0x00, 1, PT_TINY, 0, PT_TINY, 0, 1, 2};
	uint8_t types[4];
	bool known = false;
	enum proto_status st;
	assert_string_equal(render(text, p, sizeof(p), 2, types, &known, NULL, true, &st),
			    "SELECT '?', `a?`, \"?\" /* ? */ , 1 -- ?\n, 2 # ?\n");
}

/* Long data wins over the null bit; blobs keep their bytes binary;
 * backslashes doubled only when the session escapes with them. */
static void test_long_data_and_escaping(void **state)
{
	static const uint8_t p[] = {0x01, 1, PT_BLOB, 0, PT_STRING, 0, 2, 'c', '\\'};
	struct proto_long_data ld[2] = {{.sent = true, .data = (const uint8_t *)"x\\y", .len = 3}, {0}};
	uint8_t types[4];
	bool known = false;
	enum proto_status st;
	assert_string_equal(render("VALUES (?, ?)", p, sizeof(p), 2, types, &known, ld, true, &st),
			    "VALUES (_binary'x\\\\y', 'c\\\\')");
	known = false;
	assert_string_equal(render("VALUES (?, ?)", p, sizeof(p), 2, types, &known, ld, false, &st),
			    "VALUES (_binary'x\\y', 'c\\')");
}

static void test_refusals(void **state)
{
	uint8_t types[4];
	bool known = false;
	enum proto_status st;
	static const uint8_t unbound[] = {0x00, 0};
	assert_string_equal(render("DO ?", unbound, sizeof(unbound), 1, types, &known, NULL, true, &st),
			    "parameter types never bound");
	assert_int_equal(st, PROTO_MALFORMED);
	static const uint8_t short_value[] = {0x00, 1, PT_LONG, 0, 1, 2};
	assert_int_equal(render("DO ?", short_value, sizeof(short_value), 1, types, &known, NULL, true, &st)[0] != 0,
			 1);
	assert_int_equal(st, PROTO_MALFORMED);
	static const uint8_t one[] = {0x00, 1, PT_TINY, 0, 1};
	known = false;
	assert_string_equal(render("DO ?, ?", one, sizeof(one), 1, types, &known, NULL, true, &st),
			    "more placeholders than parameters");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_types),
		cmocka_unit_test(test_nulls_and_remembered_types),
		cmocka_unit_test(test_placeholders_outside_quotes),
		cmocka_unit_test(test_long_data_and_escaping),
		cmocka_unit_test(test_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
