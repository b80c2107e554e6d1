/*
 * test_response.c - OK, ERR, EOF, the prepare header, column definitions
 * and text rows: round trips under each capability layout, and malformed
 * input reported field by field.
 */
#include "test_util.h"

#define CAPS41 (CLIENT_PROTOCOL_41 | CLIENT_TRANSACTIONS)

static void assert_slice(struct proto_slice s, const char *text)
{
	assert_int_equal(s.len, strlen(text));
	assert_memory_equal(s.ptr, text, s.len);
}

static void ok_round_trip(const uint8_t *p, size_t len, uint32_t caps)
{
	uint8_t *c = exact_copy(p, len);
	struct proto_ok ok;
	struct proto_error err = {0};
	if (proto_parse_ok(c, len, caps, &ok, &err) != PROTO_OK)
		fail_msg("%s at %zu", err.what, err.offset);
	uint8_t out[256];
	struct proto_writer w;
	proto_writer_init(&w, out, sizeof(out));
	assert_true(proto_write_ok(&w, caps, &ok));
	assert_int_equal(w.len, len);
	assert_memory_equal(out, p, len);
	/* Every shorter prefix fails, or is a shorter valid OK. */
	for (size_t cut = 0; cut < len; cut++) {
		struct proto_ok o2;
		if (proto_parse_ok(c, cut, caps, &o2, &err) != PROTO_OK)
			assert_error_sane(&err, cut);
	}
	free(c);
}

static void test_ok_plain(void **state)
{
	/* INSERT ... ON DUPLICATE KEY UPDATE from the capture: 2 rows, id 7. */
	uint8_t b[64];
	size_t n = hex_decode("00 02 07 03 00 00 00", b, sizeof(b));
	struct proto_ok ok;
	assert_int_equal(proto_parse_ok(b, n, CAPS41, &ok, NULL), PROTO_OK);
	assert_int_equal(ok.header, 0);
	assert_int_equal(ok.affected_rows, 2);
	assert_int_equal(ok.last_insert_id, 7);
	assert_int_equal(ok.status_flags, 3);
	assert_int_equal(ok.warnings, 0);
	assert_int_equal(ok.info.len, 0);
	ok_round_trip(b, n, CAPS41);
	ok_round_trip(b, n, CAPS41 | CLIENT_SESSION_TRACK);

	/* Big counts, 8-byte lenenc. */
	n = hex_decode("00 fe 00 00 00 00 01 00 00 00 fc 00 01 22 00 05 00", b, sizeof(b));
	assert_int_equal(proto_parse_ok(b, n, CAPS41, &ok, NULL), PROTO_OK);
	assert_true(ok.affected_rows == 0x100000000ull);
	assert_int_equal(ok.last_insert_id, 256);
	assert_int_equal(ok.warnings, 5);
	ok_round_trip(b, n, CAPS41);
}

/* info is a lenenc string with or without CLIENT_SESSION_TRACK (MariaDB's
 * net_send_ok; Connector/C's ma_read_ok_packet). */
static void test_ok_info(void **state)
{
	uint8_t b[128];
	const char *info = "Rows matched: 1  Changed: 1  Warnings: 0";
	size_t n = 0;
	b[n++] = 0x00;
	b[n++] = 0x01;
	b[n++] = 0x00;
	b[n++] = 0x22;
	b[n++] = 0x00;
	b[n++] = 0x00;
	b[n++] = 0x00;
	b[n++] = (uint8_t)strlen(info);
	memcpy(b + n, info, strlen(info));
	n += strlen(info);
	struct proto_ok ok;
	assert_int_equal(proto_parse_ok(b, n, CAPS41, &ok, NULL), PROTO_OK);
	assert_slice(ok.info, info);
	ok_round_trip(b, n, CAPS41);
	ok_round_trip(b, n, CAPS41 | CLIENT_SESSION_TRACK);
}

static void test_ok_session_state(void **state)
{
	/* SET autocommit=0 with session tracking: status has
	 * SERVER_SESSION_STATE_CHANGED, empty info, then the state block. */
	uint8_t b[64];
	size_t n = hex_decode("00 00 00 00 40 00 00 00 11 00 0f 0a 61 75 74 6f 63 6f 6d 6d 69 74 03 4f 46 46", b,
			      sizeof(b));
	uint32_t caps = CAPS41 | CLIENT_SESSION_TRACK;
	struct proto_ok ok;
	struct proto_error err;
	assert_int_equal(proto_parse_ok(b, n, caps, &ok, &err), PROTO_OK);
	assert_int_equal(ok.status_flags, SERVER_SESSION_STATE_CHANGED);
	assert_int_equal(ok.info.len, 0);
	assert_int_equal(ok.session_state.len, 17);
	ok_round_trip(b, n, caps);

	/* Without CLIENT_SESSION_TRACK the flag means nothing: the block would
	 * be trailing bytes. */
	assert_int_equal(proto_parse_ok(b, n, CAPS41, &ok, &err), PROTO_MALFORMED);
	assert_string_equal(err.what, "ok trailing bytes");
	assert_int_equal(err.offset, 8);
}

static void test_ok_as_eof(void **state)
{
	uint8_t b[16];
	size_t n = hex_decode("fe 00 00 02 00 00 00", b, sizeof(b));
	struct proto_ok ok;
	assert_int_equal(proto_parse_ok(b, n, CAPS41 | CLIENT_DEPRECATE_EOF, &ok, NULL), PROTO_OK);
	assert_int_equal(ok.header, 0xFE);
	ok_round_trip(b, n, CAPS41 | CLIENT_DEPRECATE_EOF);
	assert_true(proto_is_eof(b, n));
}

static void test_ok_pre41(void **state)
{
	uint8_t b[16];
	size_t n = hex_decode("00 01 00 02 00", b, sizeof(b));
	ok_round_trip(b, n, CLIENT_TRANSACTIONS);
	n = hex_decode("00 01 00", b, sizeof(b));
	ok_round_trip(b, n, 0);
}

static void test_ok_malformed(void **state)
{
	struct proto_ok ok;
	struct proto_error err;
	const uint8_t hdr[] = {0x01, 0, 0, 0, 0, 0, 0};
	assert_int_equal(proto_parse_ok(hdr, sizeof(hdr), CAPS41, &ok, &err), PROTO_MALFORMED);
	assert_string_equal(err.what, "ok header");
	assert_int_equal(err.actual, 1);
	const uint8_t ff[] = {0x00, 0xFF, 0, 0, 0, 0, 0};
	assert_int_equal(proto_parse_ok(ff, sizeof(ff), CAPS41, &ok, &err), PROTO_MALFORMED);
	assert_string_equal(err.what, "ok affected rows");
	assert_int_equal(err.offset, 1);
	assert_int_equal(err.actual, 0xFF);
	const uint8_t nul[] = {0x00, 0x00, 0xFB, 0, 0, 0, 0};
	assert_int_equal(proto_parse_ok(nul, sizeof(nul), CAPS41, &ok, &err), PROTO_MALFORMED);
	assert_string_equal(err.what, "ok last insert id");
	const uint8_t shortst[] = {0x00, 0x00, 0x00, 0x02};
	assert_int_equal(proto_parse_ok(shortst, sizeof(shortst), CAPS41, &ok, &err), PROTO_MALFORMED);
	assert_string_equal(err.what, "ok status flags");
	assert_int_equal(err.offset, 3);
	assert_int_equal(err.expected, 2);
	assert_int_equal(err.actual, 1);
	const uint8_t info[] = {0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x05, 'a'};
	assert_int_equal(proto_parse_ok(info, sizeof(info), CAPS41, &ok, &err), PROTO_MALFORMED);
	assert_string_equal(err.what, "ok info");
	assert_int_equal(err.expected, 5);
	assert_int_equal(err.actual, 1);
}

/* ---- ERR ----------------------------------------------------------------- */

static void err_round_trip(const uint8_t *p, size_t len)
{
	struct proto_err e;
	assert_int_equal(proto_parse_err(p, len, &e, NULL), PROTO_OK);
	uint8_t out[256];
	struct proto_writer w;
	proto_writer_init(&w, out, sizeof(out));
	assert_true(proto_write_err(&w, &e));
	assert_int_equal(w.len, len);
	assert_memory_equal(out, p, len);
}

static void test_err(void **state)
{
	const uint8_t b[] = "\xff\x19\x04#42000Unknown database 'slurm_acct_db'";
	size_t n = sizeof(b) - 1;
	struct proto_err e;
	assert_int_equal(proto_parse_err(b, n, &e, NULL), PROTO_OK);
	assert_int_equal(e.code, 1049);
	assert_true(e.has_sql_state);
	assert_string_equal(e.sql_state, "42000");
	assert_slice(e.message, "Unknown database 'slurm_acct_db'");
	err_round_trip(b, n);

	/* Before 4.1 (and "Too many connections" before the handshake). */
	const uint8_t old[] = "\xff\x10\x04Too many connections";
	assert_int_equal(proto_parse_err(old, sizeof(old) - 1, &e, NULL), PROTO_OK);
	assert_false(e.has_sql_state);
	err_round_trip(old, sizeof(old) - 1);

	uint8_t out[128];
	struct proto_writer w;
	proto_writer_init(&w, out, sizeof(out));
	assert_true(proto_write_err_msg(&w, 1213, "40001", "Deadlock found"));
	assert_int_equal(proto_parse_err(out, w.len, &e, NULL), PROTO_OK);
	assert_int_equal(e.code, 1213);
	assert_string_equal(e.sql_state, "40001");
	assert_slice(e.message, "Deadlock found");
	proto_writer_init(&w, out, sizeof(out));
	assert_false(proto_write_err_msg(&w, 1, "4000", "bad state"));
	proto_writer_init(&w, out, sizeof(out));
	assert_true(proto_write_err_msg(&w, 1, NULL, "no state"));
	assert_int_equal(w.len, 11);
}

static void test_err_malformed(void **state)
{
	struct proto_err e;
	struct proto_error err;
	const uint8_t trunc[] = {0xFF, 0x01};
	assert_int_equal(proto_parse_err(trunc, sizeof(trunc), &e, &err), PROTO_MALFORMED);
	assert_string_equal(err.what, "err code");
	const uint8_t st[] = {0xFF, 0x01, 0x00, '#', '4', '2'};
	assert_int_equal(proto_parse_err(st, sizeof(st), &e, &err), PROTO_MALFORMED);
	assert_string_equal(err.what, "err sqlstate");
	assert_int_equal(err.offset, 4);
	assert_int_equal(err.expected, 5);
	assert_int_equal(err.actual, 2);
	const uint8_t hdr[] = {0x00, 0x01, 0x00};
	assert_int_equal(proto_parse_err(hdr, sizeof(hdr), &e, &err), PROTO_MALFORMED);
	assert_string_equal(err.what, "err header");
}

/* ---- EOF ----------------------------------------------------------------- */

static void test_eof(void **state)
{
	const uint8_t b[] = {0xFE, 0x01, 0x00, 0x0a, 0x00};
	struct proto_eof eof;
	assert_int_equal(proto_parse_eof(b, sizeof(b), &eof, NULL), PROTO_OK);
	assert_int_equal(eof.warnings, 1);
	assert_int_equal(eof.status_flags, SERVER_MORE_RESULTS_EXISTS | SERVER_STATUS_AUTOCOMMIT);
	uint8_t out[8];
	struct proto_writer w;
	proto_writer_init(&w, out, sizeof(out));
	assert_true(proto_write_eof(&w, &eof));
	assert_int_equal(w.len, 5);
	assert_memory_equal(out, b, 5);
	assert_true(proto_is_eof(b, sizeof(b)));

	struct proto_error err;
	for (size_t cut = 0; cut < sizeof(b); cut++) {
		assert_int_equal(proto_parse_eof(b, cut, &eof, &err), PROTO_MALFORMED);
		assert_error_sane(&err, cut);
	}
	const uint8_t longer[] = {0xFE, 0, 0, 0, 0, 0};
	assert_int_equal(proto_parse_eof(longer, sizeof(longer), &eof, &err), PROTO_MALFORMED);
	assert_string_equal(err.what, "eof trailing bytes");
	const uint8_t notfe[] = {0x00, 0, 0, 0, 0};
	assert_int_equal(proto_parse_eof(notfe, sizeof(notfe), &eof, &err), PROTO_MALFORMED);
	assert_string_equal(err.what, "eof header");
}

/* 0xFE leads an END only below 0xFFFFFF bytes: a text row whose first value
 * is 16 MiB or more also starts with 0xFE, and is at least that long. */
static void test_is_eof_bounds(void **state)
{
	const uint8_t fe[] = {0xFE};
	const uint8_t zero[] = {0x00};
	assert_true(proto_is_eof(fe, 1));
	assert_true(proto_is_eof(fe, 8));
	assert_true(proto_is_eof(fe, PROTO_MAX_CHUNK - 1));
	assert_false(proto_is_eof(fe, PROTO_MAX_CHUNK));
	assert_false(proto_is_eof(fe, 0));
	assert_false(proto_is_eof(zero, 5));
}

/* ---- prepare OK ----------------------------------------------------------- */

static void test_prepare_ok(void **state)
{
	uint8_t b[16];
	size_t n = hex_decode("00 07 00 00 00 02 00 03 00 00 01 00", b, sizeof(b));
	struct proto_stmt_prepare_ok ok;
	assert_int_equal(proto_parse_stmt_prepare_ok(b, n, &ok, NULL), PROTO_OK);
	assert_int_equal(ok.statement_id, 7);
	assert_int_equal(ok.num_columns, 2);
	assert_int_equal(ok.num_params, 3);
	assert_int_equal(ok.warnings, 1);
	uint8_t out[16];
	struct proto_writer w;
	proto_writer_init(&w, out, sizeof(out));
	assert_true(proto_write_stmt_prepare_ok(&w, &ok));
	assert_int_equal(w.len, n);
	assert_memory_equal(out, b, n);

	struct proto_error err;
	for (size_t cut = 0; cut < n; cut++) {
		assert_int_equal(proto_parse_stmt_prepare_ok(b, cut, &ok, &err), PROTO_MALFORMED);
		assert_error_sane(&err, cut);
	}
	b[9] = 1;
	assert_int_equal(proto_parse_stmt_prepare_ok(b, n, &ok, &err), PROTO_MALFORMED);
	assert_string_equal(err.what, "prepare ok filler");
	assert_int_equal(err.offset, 9);
}

/* ---- column definition ---------------------------------------------------- */

static size_t sample_column(uint8_t *b, size_t cap)
{
	/* def / slurm_acct_db / t / user_table / name / name / 0x0c /
	 * charset 45, length 512, VARCHAR(253), flags NOT_NULL|PRI, 0 dec */
	return hex_decode("03646566 0d736c75726d5f616363745f6462 0174 0a757365725f7461626c65 046e616d65 046e616d65"
			  "0c 2d00 00020000 fd 0340 00 0000",
			  b, cap);
}

static void test_column_def(void **state)
{
	uint8_t b[128];
	size_t n = sample_column(b, sizeof(b));
	struct proto_column_def col;
	struct proto_error err = {0};
	assert_int_equal(proto_parse_column_def(b, n, &col, &err), PROTO_OK);
	assert_slice(col.catalog, "def");
	assert_slice(col.schema, "slurm_acct_db");
	assert_slice(col.table, "t");
	assert_slice(col.org_table, "user_table");
	assert_slice(col.name, "name");
	assert_int_equal(col.charset, 45);
	assert_int_equal(col.column_length, 512);
	assert_int_equal(col.type, 0xFD);
	assert_int_equal(col.flags, 0x4003);
	uint8_t out[128];
	struct proto_writer w;
	proto_writer_init(&w, out, sizeof(out));
	assert_true(proto_write_column_def(&w, &col));
	assert_int_equal(w.len, n);
	assert_memory_equal(out, b, n);
	for (size_t cut = 0; cut < n; cut++) {
		uint8_t *c = exact_copy(b, cut);
		assert_int_equal(proto_parse_column_def(c, cut, &col, &err), PROTO_MALFORMED);
		assert_error_sane(&err, cut);
		free(c);
	}
}

static void test_column_def_malformed(void **state)
{
	uint8_t b[128];
	size_t n = sample_column(b, sizeof(b));
	struct proto_column_def col;
	struct proto_error err;
	size_t fixed = n - 13;
	b[fixed] = 0x0D;
	assert_int_equal(proto_parse_column_def(b, n, &col, &err), PROTO_MALFORMED);
	assert_string_equal(err.what, "column fixed fields length");
	assert_int_equal(err.offset, fixed);
	assert_int_equal(err.expected, 0x0C);
	assert_int_equal(err.actual, 0x0D);
	b[fixed] = 0x0C;
	b[n - 1] = 1;
	assert_int_equal(proto_parse_column_def(b, n, &col, &err), PROTO_MALFORMED);
	assert_string_equal(err.what, "column filler");
	b[n - 1] = 0;
	/* COM_FIELD_LIST's default value is not this parser's layout. */
	b[n] = 0xFB;
	assert_int_equal(proto_parse_column_def(b, n + 1, &col, &err), PROTO_MALFORMED);
	assert_string_equal(err.what, "column trailing bytes");
	b[0] = 0xFF;
	assert_int_equal(proto_parse_column_def(b, n, &col, &err), PROTO_MALFORMED);
	assert_string_equal(err.what, "column catalog");
	assert_int_equal(err.actual, 0xFF);
}

/* ---- text row ---------------------------------------------------------------- */

static void test_text_row(void **state)
{
	const uint8_t b[] = {0x01, '7', 0xFB, 0x00, 0x03, 'a', 'b', 'c'};
	struct proto_slice v[8];
	bool nulls[8];
	struct proto_error err;
	assert_int_equal(proto_parse_text_row(b, sizeof(b), 4, v, nulls, &err), PROTO_OK);
	assert_slice(v[0], "7");
	assert_true(nulls[1]);
	assert_false(nulls[2]);
	assert_int_equal(v[2].len, 0);
	assert_slice(v[3], "abc");
	assert_int_equal(proto_parse_text_row(b, sizeof(b), 4, NULL, NULL, &err), PROTO_OK);

	assert_int_equal(proto_parse_text_row(b, sizeof(b), 3, v, nulls, &err), PROTO_MALFORMED);
	assert_string_equal(err.what, "text row trailing bytes");
	assert_int_equal(err.offset, 4);
	assert_int_equal(proto_parse_text_row(b, sizeof(b), 5, v, nulls, &err), PROTO_MALFORMED);
	assert_string_equal(err.what, "text row value length");
	assert_int_equal(err.offset, 8);
	assert_int_equal(proto_parse_text_row(b, sizeof(b) - 1, 4, v, nulls, &err), PROTO_MALFORMED);
	assert_string_equal(err.what, "text row value");
	assert_int_equal(err.expected, 3);
	assert_int_equal(err.actual, 2);
	const uint8_t bad[] = {0xFF};
	assert_int_equal(proto_parse_text_row(bad, 1, 1, v, nulls, &err), PROTO_MALFORMED);
	assert_string_equal(err.what, "text row value length");
}

/* Session-state blocks: a schema change (type 1) among other entries, none,
 * and a truncated block. */
static void test_session_state_schema(void **state)
{
	/* type 0 (system variable) "autocommit"="ON", then type 1 schema "slurm_acct_db" */
	static const uint8_t block[] = {0x00, 0x0e, 0x0a, 'a', 'u', 't', 'o', 'c', 'o', 'm', 'm', 'i', 't', 0x02, 'O', 'N',
					0x01, 0x0e, 0x0d, 's', 'l', 'u', 'r', 'm', '_', 'a', 'c', 'c', 't', '_', 'd', 'b'};
	struct proto_slice schema = {0};
	struct proto_error err = {0};
	assert_int_equal(proto_session_state_schema((struct proto_slice){block, sizeof(block)}, &schema, &err), PROTO_OK);
	assert_int_equal(schema.len, 13);
	assert_memory_equal(schema.ptr, "slurm_acct_db", 13);

	assert_int_equal(proto_session_state_schema((struct proto_slice){block, 16}, &schema, &err), PROTO_NEED_MORE);

	for (size_t cut = 17; cut < sizeof(block); cut++) {
		memset(&err, 0, sizeof(err));
		assert_int_equal(proto_session_state_schema((struct proto_slice){block, cut}, &schema, &err),
				 PROTO_MALFORMED);
		assert_non_null(err.what);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_session_state_schema),
		cmocka_unit_test(test_ok_plain),	 cmocka_unit_test(test_ok_info),
		cmocka_unit_test(test_ok_session_state), cmocka_unit_test(test_ok_as_eof),
		cmocka_unit_test(test_ok_pre41),	 cmocka_unit_test(test_ok_malformed),
		cmocka_unit_test(test_err),		 cmocka_unit_test(test_err_malformed),
		cmocka_unit_test(test_eof),		 cmocka_unit_test(test_is_eof_bounds),
		cmocka_unit_test(test_prepare_ok),	 cmocka_unit_test(test_column_def),
		cmocka_unit_test(test_column_def_malformed), cmocka_unit_test(test_text_row),
	};
	return cmocka_run_group_tests_name("response", tests, NULL, NULL);
}
