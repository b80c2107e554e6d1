/*
 * fuzz_response.c - the response parsers on one payload: OK, ERR, EOF,
 * prepare OK, column definition, text row.
 *
 * Input: u32 capabilities, u8 column count (for the text row), payload.
 * Oracles: a reason for every refusal; ERR, EOF and prepare OK write back
 * exactly; OK and column definitions (lenenc fields, possibly non-minimal)
 * reach a fixed point after one write; text row values lie inside the row.
 */
#include "fuzz_util.h"


static void ok_packet(const uint8_t *p, size_t len, uint32_t caps, uint8_t *out, size_t cap)
{
	struct proto_ok ok;
	struct proto_error err = {0};
	if (proto_parse_ok(p, len, caps, &ok, &err) != PROTO_OK) {
		fuzz_check_error(&err, len);
		return;
	}
	struct proto_writer w;
	proto_writer_init(&w, out, cap);
	FUZZ_CHECK(proto_write_ok(&w, caps, &ok));
	size_t n1 = w.len;
	FUZZ_CHECK(n1 <= len);
	struct proto_ok again;
	FUZZ_CHECK(proto_parse_ok(out, n1, caps, &again, &err) == PROTO_OK);
	FUZZ_CHECK(again.affected_rows == ok.affected_rows && again.last_insert_id == ok.last_insert_id &&
		   again.status_flags == ok.status_flags && again.warnings == ok.warnings &&
		   again.info.len == ok.info.len && again.session_state.len == ok.session_state.len);
}

/* The whole input as a session-state block: a schema found lies inside it. */
static void session_state(const uint8_t *p, size_t len)
{
	struct proto_slice schema = {0};
	struct proto_error err = {0};
	enum proto_status st = proto_session_state_schema((struct proto_slice){p, len}, &schema, &err);
	if (st == PROTO_MALFORMED) {
		fuzz_check_error(&err, len);
		return;
	}
	if (st == PROTO_OK)
		FUZZ_CHECK(schema.ptr >= p && schema.ptr + schema.len <= p + len);
}

static void err_packet(const uint8_t *p, size_t len, uint8_t *out, size_t cap)
{
	struct proto_err e;
	struct proto_error err = {0};
	if (proto_parse_err(p, len, &e, &err) != PROTO_OK) {
		fuzz_check_error(&err, len);
		return;
	}
	struct proto_writer w;
	proto_writer_init(&w, out, cap);
	FUZZ_CHECK(proto_write_err(&w, &e));
	FUZZ_CHECK(w.len == len && memcmp(out, p, len) == 0);
	FUZZ_CHECK(!e.has_sql_state || strlen(e.sql_state) <= 5);
}

static void eof_packet(const uint8_t *p, size_t len, uint8_t *out, size_t cap)
{
	struct proto_eof eof;
	struct proto_error err = {0};
	(void)proto_is_eof(p, len);
	if (proto_parse_eof(p, len, &eof, &err) != PROTO_OK) {
		fuzz_check_error(&err, len);
		return;
	}
	FUZZ_CHECK(proto_is_eof(p, len));
	struct proto_writer w;
	proto_writer_init(&w, out, cap);
	FUZZ_CHECK(proto_write_eof(&w, &eof));
	FUZZ_CHECK(w.len == len && memcmp(out, p, len) == 0);
}

static void prepare_ok(const uint8_t *p, size_t len, uint8_t *out, size_t cap)
{
	struct proto_stmt_prepare_ok ok;
	struct proto_error err = {0};
	if (proto_parse_stmt_prepare_ok(p, len, &ok, &err) != PROTO_OK) {
		fuzz_check_error(&err, len);
		return;
	}
	struct proto_writer w;
	proto_writer_init(&w, out, cap);
	FUZZ_CHECK(proto_write_stmt_prepare_ok(&w, &ok));
	FUZZ_CHECK(w.len == len && memcmp(out, p, len) == 0);
}

static void column_def(const uint8_t *p, size_t len, uint8_t *out, size_t cap)
{
	struct proto_column_def col;
	struct proto_error err = {0};
	if (proto_parse_column_def(p, len, &col, &err) != PROTO_OK) {
		fuzz_check_error(&err, len);
		return;
	}
	struct proto_writer w;
	proto_writer_init(&w, out, cap);
	FUZZ_CHECK(proto_write_column_def(&w, &col));
	FUZZ_CHECK(w.len <= len);
	struct proto_column_def again;
	FUZZ_CHECK(proto_parse_column_def(out, w.len, &again, &err) == PROTO_OK);
	FUZZ_CHECK(again.name.len == col.name.len && again.type == col.type && again.flags == col.flags &&
		   again.column_length == col.column_length);
}

static void text_row(const uint8_t *p, size_t len, uint8_t ncols)
{
	struct proto_slice values[256];
	bool nulls[256];
	struct proto_error err = {0};
	if (proto_parse_text_row(p, len, ncols, values, nulls, &err) != PROTO_OK) {
		fuzz_check_error(&err, len);
		return;
	}
	for (unsigned i = 0; i < ncols; i++) {
		if (nulls[i])
			continue;
		FUZZ_CHECK(values[i].len <= len);
		FUZZ_CHECK(values[i].len == 0 || (values[i].ptr >= p && values[i].ptr + values[i].len <= p + len));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 5)
		return 0;
	uint32_t caps = fuzz_u32(data);
	uint8_t ncols = data[4];
	size_t len = size - 5;
	uint8_t *p = malloc(len ? len : 1);
	size_t cap = fuzz_out_cap(len);
	uint8_t *out = malloc(cap);
	FUZZ_CHECK(p && out);
	memcpy(p, data + 5, len);
	ok_packet(p, len, caps, out, cap);
	err_packet(p, len, out, cap);
	eof_packet(p, len, out, cap);
	prepare_ok(p, len, out, cap);
	column_def(p, len, out, cap);
	text_row(p, len, ncols);
	session_state(p, len);
	free(out);
	free(p);
	return 0;
}
