/*
 * response.c - generic server responses: OK, ERR, EOF, the COM_STMT_PREPARE
 * header, column definitions and text rows.
 *
 * OK (header 0x00, or 0xFE when it ends a result under CLIENT_DEPRECATE_EOF):
 *
 *   u8      header
 *   lenenc  affected rows
 *   lenenc  last insert id
 *   u16     status flags   (CLIENT_PROTOCOL_41, or CLIENT_TRANSACTIONS)
 *   u16     warnings       (CLIENT_PROTOCOL_41)
 *   lenenc  info           (when present: see below)
 *   lenenc  session state  (CLIENT_SESSION_TRACK and SERVER_SESSION_STATE_CHANGED)
 *
 * The protocol documentation calls info "the rest of the packet" without
 * CLIENT_SESSION_TRACK, but MariaDB's net_send_ok and MySQL's both store it
 * length-encoded in every case, and Connector/C reads it that way: info is
 * a lenenc string, present when the message is non-empty or (with
 * CLIENT_SESSION_TRACK) when the session state changed.
 *
 * ERR: 0xFF, u16 code, then (4.1 servers) '#' and a 5-character SQLSTATE,
 * then the message (rest). Error code 0xFFFF is not an error but a MariaDB
 * progress report; the tracker handles that.
 *
 * EOF: 0xFE, u16 warnings, u16 status flags (5 bytes; note the order is the
 * reverse of the OK packet's).
 */
#include <string.h>

#include "proto_internal.h"

/* ---- OK ------------------------------------------------------------------ */

enum proto_status proto_parse_ok(const uint8_t *p, size_t len, uint32_t caps, struct proto_ok *out,
				 struct proto_error *err)
{
	struct proto_reader r;
	proto_reader_init(&r, p, len);
	*out = (struct proto_ok){0};
	out->header = proto_read_u8(&r, "ok header");
	if (!r.failed && out->header != 0x00 && out->header != 0xFE) {
		r.pos = 0;
		proto_reader_fail(&r, "ok header", 0x00, out->header);
	}
	out->affected_rows = proto_read_lenenc(&r, NULL, "ok affected rows");
	out->last_insert_id = proto_read_lenenc(&r, NULL, "ok last insert id");
	if (caps & CLIENT_PROTOCOL_41) {
		out->status_flags = proto_read_u16(&r, "ok status flags");
		out->warnings = proto_read_u16(&r, "ok warnings");
	} else if (caps & CLIENT_TRANSACTIONS) {
		out->status_flags = proto_read_u16(&r, "ok status flags");
	}
	if (proto_reader_remaining(&r))
		out->info = proto_read_lenenc_str(&r, "ok info");
	if ((caps & CLIENT_SESSION_TRACK) && (out->status_flags & SERVER_SESSION_STATE_CHANGED))
		out->session_state = proto_read_lenenc_str(&r, "ok session state");
	proto_reader_expect_end(&r, "ok trailing bytes");
	return proto_reader_status(&r, err);
}

bool proto_write_ok(struct proto_writer *w, uint32_t caps, const struct proto_ok *ok)
{
	proto_write_u8(w, ok->header);
	proto_write_lenenc(w, ok->affected_rows);
	proto_write_lenenc(w, ok->last_insert_id);
	if (caps & CLIENT_PROTOCOL_41) {
		proto_write_u16(w, ok->status_flags);
		proto_write_u16(w, ok->warnings);
	} else if (caps & CLIENT_TRANSACTIONS) {
		proto_write_u16(w, ok->status_flags);
	}
	bool state_changed = (caps & CLIENT_SESSION_TRACK) && (ok->status_flags & SERVER_SESSION_STATE_CHANGED);
	if (state_changed || ok->info.len)
		proto_write_lenenc_str(w, ok->info.ptr, ok->info.len);
	if (state_changed)
		proto_write_lenenc_str(w, ok->session_state.ptr, ok->session_state.len);
	return !w->overflow;
}

/* ---- ERR ----------------------------------------------------------------- */

enum proto_status proto_parse_err(const uint8_t *p, size_t len, struct proto_err *out, struct proto_error *err)
{
	struct proto_reader r;
	proto_reader_init(&r, p, len);
	*out = (struct proto_err){0};
	uint8_t h = proto_read_u8(&r, "err header");
	if (!r.failed && h != 0xFF) {
		r.pos = 0;
		proto_reader_fail(&r, "err header", 0xFF, h);
	}
	out->code = proto_read_u16(&r, "err code");
	if (proto_reader_remaining(&r) && r.data[r.pos] == '#') {
		proto_skip(&r, 1, "err sqlstate marker");
		struct proto_slice st = proto_read_bytes(&r, 5, "err sqlstate");
		if (!r.failed) {
			out->has_sql_state = true;
			memcpy(out->sql_state, st.ptr, 5);
			out->sql_state[5] = '\0';
		}
	}
	out->message = proto_read_rest(&r);
	return proto_reader_status(&r, err);
}

bool proto_write_err(struct proto_writer *w, const struct proto_err *e)
{
	proto_write_u8(w, 0xFF);
	proto_write_u16(w, e->code);
	if (e->has_sql_state) {
		proto_write_u8(w, '#');
		proto_write_bytes(w, e->sql_state, 5);
	}
	proto_write_bytes(w, e->message.ptr, e->message.len);
	return !w->overflow;
}

/* sql_state NULL writes no SQLSTATE (as servers do before 4.1); otherwise
 * it must be exactly 5 characters. */
bool proto_write_err_msg(struct proto_writer *w, uint16_t code, const char *sql_state, const char *msg)
{
	struct proto_err e = {.code = code};
	if (sql_state) {
		if (strlen(sql_state) != 5)
			return false;
		e.has_sql_state = true;
		memcpy(e.sql_state, sql_state, 6);
	}
	e.message = (struct proto_slice){(const uint8_t *)msg, msg ? strlen(msg) : 0};
	return proto_write_err(w, &e);
}

/* Session-state block (inside an OK): entries of
 *   u8 type | lenenc-str data
 * where the data of SESSION_TRACK_SCHEMA (type 1) is itself a lenenc-str. */
#define SESSION_TRACK_SCHEMA 1

enum proto_status proto_session_state_schema(struct proto_slice state, struct proto_slice *schema,
					     struct proto_error *err)
{
	struct proto_reader r;
	proto_reader_init(&r, state.ptr, state.len);
	enum proto_status found = PROTO_NEED_MORE;
	while (!r.failed && proto_reader_remaining(&r) > 0) {
		uint8_t type = proto_read_u8(&r, "session state entry type");
		struct proto_slice data = proto_read_lenenc_str(&r, "session state entry");
		if (r.failed || type != SESSION_TRACK_SCHEMA)
			continue;
		struct proto_reader d;
		proto_reader_init(&d, data.ptr, data.len);
		struct proto_slice name = proto_read_lenenc_str(&d, "session state schema");
		if (proto_reader_status(&d, err) != PROTO_OK)
			return PROTO_MALFORMED;
		*schema = name;
		found = PROTO_OK;
	}
	if (proto_reader_status(&r, err) != PROTO_OK)
		return PROTO_MALFORMED;
	return found;
}

/* ---- EOF ----------------------------------------------------------------- */

enum proto_status proto_parse_eof(const uint8_t *p, size_t len, struct proto_eof *out, struct proto_error *err)
{
	struct proto_reader r;
	proto_reader_init(&r, p, len);
	*out = (struct proto_eof){0};
	uint8_t h = proto_read_u8(&r, "eof header");
	if (!r.failed && h != 0xFE) {
		r.pos = 0;
		proto_reader_fail(&r, "eof header", 0xFE, h);
	}
	out->warnings = proto_read_u16(&r, "eof warnings");
	out->status_flags = proto_read_u16(&r, "eof status flags");
	proto_reader_expect_end(&r, "eof trailing bytes");
	return proto_reader_status(&r, err);
}

bool proto_write_eof(struct proto_writer *w, const struct proto_eof *eof)
{
	proto_write_u8(w, 0xFE);
	proto_write_u16(w, eof->warnings);
	proto_write_u16(w, eof->status_flags);
	return !w->overflow;
}

/*
 * len is the full logical payload length. Both forms are accepted because
 * they never overlap a row: a text row can start with 0xFE only when its
 * first value is at least 16 MiB (payload >= 0x1000008 bytes), and binary
 * rows start with 0x00. Which of the two forms it is (EOF fields or OK
 * fields) depends on CLIENT_DEPRECATE_EOF; see the tracker.
 */
bool proto_is_eof(const uint8_t *p, size_t len)
{
	return len >= 1 && len < PROTO_MAX_CHUNK && p[0] == 0xFE;
}

/* ---- COM_STMT_PREPARE OK -------------------------------------------------- */

/* 0x00, u32 statement id, u16 columns, u16 params, u8 filler, u16 warnings. */
enum proto_status proto_parse_stmt_prepare_ok(const uint8_t *p, size_t len, struct proto_stmt_prepare_ok *out,
					      struct proto_error *err)
{
	struct proto_reader r;
	proto_reader_init(&r, p, len);
	*out = (struct proto_stmt_prepare_ok){0};
	uint8_t h = proto_read_u8(&r, "prepare ok header");
	if (!r.failed && h != 0x00) {
		r.pos = 0;
		proto_reader_fail(&r, "prepare ok header", 0x00, h);
	}
	out->statement_id = proto_read_u32(&r, "prepare ok statement id");
	out->num_columns = proto_read_u16(&r, "prepare ok columns");
	out->num_params = proto_read_u16(&r, "prepare ok params");
	uint8_t filler = proto_read_u8(&r, "prepare ok filler");
	if (!r.failed && filler) {
		r.pos--;
		proto_reader_fail(&r, "prepare ok filler", 0, filler);
	}
	out->warnings = proto_read_u16(&r, "prepare ok warnings");
	proto_reader_expect_end(&r, "prepare ok trailing bytes");
	return proto_reader_status(&r, err);
}

bool proto_write_stmt_prepare_ok(struct proto_writer *w, const struct proto_stmt_prepare_ok *ok)
{
	proto_write_u8(w, 0x00);
	proto_write_u32(w, ok->statement_id);
	proto_write_u16(w, ok->num_columns);
	proto_write_u16(w, ok->num_params);
	proto_write_u8(w, 0);
	proto_write_u16(w, ok->warnings);
	return !w->overflow;
}

/* ---- column definition ---------------------------------------------------- */

/*
 * ColumnDefinition41: six lenenc strings (catalog "def", schema, table,
 * org_table, name, org_name), lenenc 0x0C (length of the fixed fields),
 * u16 charset, u32 column length, u8 type, u16 flags, u8 decimals, u16
 * filler (0). Not covered: the default value COM_FIELD_LIST appends, and
 * MariaDB's extended type info (MARIADB_CLIENT_EXTENDED_METADATA, a lenenc
 * block before the fixed fields); both need capabilities acctgate does not
 * relay, and are refused here as trailing or misplaced bytes.
 */
#define COLUMN_FIXED_LEN 0x0Cu

enum proto_status proto_parse_column_def(const uint8_t *p, size_t len, struct proto_column_def *out,
					 struct proto_error *err)
{
	struct proto_reader r;
	proto_reader_init(&r, p, len);
	*out = (struct proto_column_def){0};
	out->catalog = proto_read_lenenc_str(&r, "column catalog");
	out->schema = proto_read_lenenc_str(&r, "column schema");
	out->table = proto_read_lenenc_str(&r, "column table");
	out->org_table = proto_read_lenenc_str(&r, "column org_table");
	out->name = proto_read_lenenc_str(&r, "column name");
	out->org_name = proto_read_lenenc_str(&r, "column org_name");
	size_t at = r.pos;
	uint64_t fixed = proto_read_lenenc(&r, NULL, "column fixed fields length");
	if (!r.failed && fixed != COLUMN_FIXED_LEN) {
		r.pos = at;
		proto_reader_fail(&r, "column fixed fields length", COLUMN_FIXED_LEN, fixed);
	}
	out->charset = proto_read_u16(&r, "column charset");
	out->column_length = proto_read_u32(&r, "column length");
	out->type = proto_read_u8(&r, "column type");
	out->flags = proto_read_u16(&r, "column flags");
	out->decimals = proto_read_u8(&r, "column decimals");
	uint16_t filler = proto_read_u16(&r, "column filler");
	if (!r.failed && filler) {
		r.pos -= 2;
		proto_reader_fail(&r, "column filler", 0, filler);
	}
	proto_reader_expect_end(&r, "column trailing bytes");
	return proto_reader_status(&r, err);
}

bool proto_write_column_def(struct proto_writer *w, const struct proto_column_def *col)
{
	const struct proto_slice *strs[] = {&col->catalog, &col->schema, &col->table,
					    &col->org_table, &col->name, &col->org_name};
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		proto_write_lenenc_str(w, strs[i]->ptr, strs[i]->len);
	proto_write_lenenc(w, COLUMN_FIXED_LEN);
	proto_write_u16(w, col->charset);
	proto_write_u32(w, col->column_length);
	proto_write_u8(w, col->type);
	proto_write_u16(w, col->flags);
	proto_write_u8(w, col->decimals);
	proto_write_u16(w, 0);
	return !w->overflow;
}

/* ---- text row ------------------------------------------------------------- */

/* values and nulls (ncols entries each) may both be NULL to only validate,
 * which is what a caller with a very wide row wants. */
enum proto_status proto_parse_text_row(const uint8_t *p, size_t len, uint64_t ncols, struct proto_slice *values,
				       bool *nulls, struct proto_error *err)
{
	struct proto_reader r;
	proto_reader_init(&r, p, len);
	for (uint64_t i = 0; i < ncols && !r.failed; i++) {
		bool is_null;
		uint64_t n = proto_read_lenenc(&r, &is_null, "text row value length");
		struct proto_slice v = {0};
		if (!is_null)
			v = proto_read_bytes(&r, (size_t)n, "text row value");
		if (values)
			values[i] = v;
		if (nulls)
			nulls[i] = is_null;
	}
	proto_reader_expect_end(&r, "text row trailing bytes");
	return proto_reader_status(&r, err);
}
