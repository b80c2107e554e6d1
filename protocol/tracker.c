/*
 * tracker.c - follows the server's answer to one command, one logical
 * packet at a time, from the first bytes of each packet and its full length.
 *
 * What the server sends, per command (MariaDB's sql_parse.cc, protocol.cc,
 * sql_prepare.cc, sql_cursor.cc; "EOF" below is omitted entirely under
 * CLIENT_DEPRECATE_EOF, and "END" is an EOF packet, or under
 * CLIENT_DEPRECATE_EOF an OK packet with header 0xFE):
 *
 *   COM_QUERY, COM_STMT_EXECUTE, COM_PROCESS_INFO:
 *     result*, each one of
 *       OK | ERR
 *       0xFB filename (COM_QUERY: LOAD DATA LOCAL) -> client sends the file
 *            and an empty packet -> OK | ERR; under t->refuse_local_infile
 *            the caller sends the empty packet instead, and the client
 *            never sees the request
 *       column count, column definitions, EOF, rows, END | ERR
 *     a result ending in OK/END with SERVER_MORE_RESULTS_EXISTS is followed
 *     by another (multi-statements, CALL); ERR always ends the response.
 *     COM_STMT_EXECUTE with a cursor stops after the column definitions:
 *     their EOF carries SERVER_STATUS_CURSOR_EXISTS (under DEPRECATE_EOF it
 *     is an OK-as-EOF in the place where rows would start, which ends the
 *     result like any END does).
 *   COM_STMT_FETCH: binary rows, END | ERR.
 *   COM_STMT_PREPARE: ERR | prepare-OK, then num_params definitions + EOF,
 *     then num_columns definitions + EOF (a section is absent when its
 *     count is 0).
 *   COM_FIELD_LIST: column definitions, END | ERR.
 *   COM_CHANGE_USER: an authentication exchange (see TRK_AUTH).
 *   COM_STATISTICS: one string packet.
 *   every other command: one OK | ERR | END (COM_SET_OPTION, COM_DEBUG and
 *     COM_SHUTDOWN answer with END; unknown commands with ERR).
 *   COM_QUIT, COM_STMT_CLOSE, COM_STMT_SEND_LONG_DATA: nothing.
 *
 * Telling a row from an END: text rows begin with a length-encoded value,
 * so a row begins with 0xFE only when its first value is at least 16 MiB,
 * making the payload at least 0xFFFFFF bytes; binary rows begin with 0x00.
 * An END is 0xFE with a payload under 9 bytes (EOF) or, under
 * DEPRECATE_EOF, under 0xFFFFFF bytes (OK-as-EOF, which can carry session
 * state). Error code 0xFFFF is a MariaDB progress report, not an error: the
 * response goes on.
 *
 * MariaDB's extended capabilities are followed as far as they change the
 * answers above (t->mariadb_ext_caps): metadata caching adds a byte after
 * the column count and may leave the definitions out; extended metadata
 * only lengthens the definitions, which are counted, not parsed. Not
 * followed: COM_MULTI and bulk execute, and MySQL's
 * CLIENT_OPTIONAL_RESULTSET_METADATA; a column count packet with trailing
 * bytes is reported rather than misread.
 */
#include <string.h>

#include "proto_internal.h"

/* An OK prefix is at most 1 + 9 + 9 + 2 + 2 bytes. */
#define OK_PREFIX_MAX 23u
/* A text row that starts with 0xFE holds a value of 16 MiB or more. */
#define HUGE_ROW_MIN PROTO_MAX_CHUNK

static enum proto_tracker_event fail(struct proto_error *err, const char *what, size_t offset, uint64_t expected,
				     uint64_t actual)
{
	if (err)
		*err = (struct proto_error){what, offset, expected, actual, PROTO_ERR_FORMAT};
	return TRK_EV_MALFORMED;
}

static enum proto_tracker_event done(struct proto_tracker *t)
{
	t->state = TRK_IDLE;
	return TRK_EV_DONE;
}

static bool deprecate_eof(const struct proto_tracker *t)
{
	return (t->caps & CLIENT_DEPRECATE_EOF) != 0;
}

/* Commands whose response can hold several results. */
static bool multi_result_command(uint8_t command)
{
	return command == COM_QUERY || command == COM_STMT_EXECUTE || command == COM_PROCESS_INFO;
}

/* ---- OK, ERR and EOF into t->last ---------------------------------------- */

/*
 * The OK fields the proxy needs sit at the start of the packet. With the
 * whole packet in hand it is parsed in full (so a desynchronised stream is
 * caught here); with only a prefix, the prefix is enough.
 */
static bool take_ok(struct proto_tracker *t, const uint8_t *p, size_t avail, uint64_t payload_len,
		    struct proto_error *err)
{
	struct proto_ok ok;
	if (avail == payload_len) {
		if (proto_parse_ok(p, avail, t->caps, &ok, err) != PROTO_OK)
			return false;
	} else {
		struct proto_reader r;
		proto_reader_init(&r, p, avail < OK_PREFIX_MAX ? avail : OK_PREFIX_MAX);
		ok = (struct proto_ok){.header = proto_read_u8(&r, "ok header")};
		ok.affected_rows = proto_read_lenenc(&r, NULL, "ok affected rows");
		ok.last_insert_id = proto_read_lenenc(&r, NULL, "ok last insert id");
		if (t->caps & CLIENT_PROTOCOL_41) {
			ok.status_flags = proto_read_u16(&r, "ok status flags");
			ok.warnings = proto_read_u16(&r, "ok warnings");
		} else if (t->caps & CLIENT_TRANSACTIONS) {
			ok.status_flags = proto_read_u16(&r, "ok status flags");
		}
		if (proto_reader_status(&r, err) != PROTO_OK)
			return false;
	}
	t->last = (struct proto_result_end){
		.kind = END_OK,
		.status_flags = (t->caps & (CLIENT_PROTOCOL_41 | CLIENT_TRANSACTIONS)) ? ok.status_flags
										     : t->last.status_flags,
		.affected_rows = ok.affected_rows,
		.last_insert_id = ok.last_insert_id,
		.warnings = ok.warnings,
	};
	return true;
}

/* An EOF is 5 bytes, or the lone 0xFE of pre-4.1 servers (no status). */
static bool take_eof(struct proto_tracker *t, const uint8_t *p, size_t avail, uint64_t payload_len,
		     struct proto_error *err)
{
	uint16_t status = t->last.status_flags;
	uint16_t warnings = 0;
	if (payload_len != 1) {
		struct proto_eof eof;
		if (avail != payload_len) {
			fail(err, "eof packet", avail, payload_len, avail);
			return false;
		}
		if (proto_parse_eof(p, avail, &eof, err) != PROTO_OK)
			return false;
		status = eof.status_flags;
		warnings = eof.warnings;
	}
	t->last = (struct proto_result_end){.kind = END_EOF, .status_flags = status, .warnings = warnings};
	return true;
}

/* The END of a result: the EOF layout, or the OK layout under DEPRECATE_EOF. */
static bool take_end(struct proto_tracker *t, const uint8_t *p, size_t avail, uint64_t payload_len,
		     struct proto_error *err)
{
	if (deprecate_eof(t))
		return take_ok(t, p, avail, payload_len, err);
	return take_eof(t, p, avail, payload_len, err);
}

/* Is this 0xFE packet an END (rather than a huge row or garbage)? */
static bool is_end(const struct proto_tracker *t, uint64_t payload_len)
{
	return payload_len < (deprecate_eof(t) ? PROTO_MAX_CHUNK : 9u);
}

/* Status flags are kept from before: an ERR carries none. */
static bool take_err(struct proto_tracker *t, const uint8_t *p, size_t avail, struct proto_error *err)
{
	struct proto_err e;
	if (proto_parse_err(p, avail, &e, err) != PROTO_OK)
		return false;
	t->last = (struct proto_result_end){.kind = END_ERR, .status_flags = t->last.status_flags, .err_code = e.code};
	if (e.has_sql_state)
		memcpy(t->last.sql_state, e.sql_state, sizeof(t->last.sql_state));
	return true;
}

/* ERR ends the response; a progress report (code 0xFFFF) does not. */
static enum proto_tracker_event on_err(struct proto_tracker *t, const uint8_t *p, size_t avail,
				       struct proto_error *err)
{
	if (avail >= 3 && p[1] == 0xFF && p[2] == 0xFF)
		return TRK_EV_CONTINUE;
	if (!take_err(t, p, avail, err))
		return TRK_EV_MALFORMED;
	return done(t);
}

/* After the OK or END of one result: another follows, or the response ends. */
static enum proto_tracker_event result_end(struct proto_tracker *t)
{
	if (multi_result_command(t->command) && (t->last.status_flags & SERVER_MORE_RESULTS_EXISTS)) {
		t->state = TRK_FIRST;
		t->rows = 0;
		t->columns_left = 0;
		return TRK_EV_RESULT_END;
	}
	return done(t);
}

/* ---- per-state handlers -------------------------------------------------- */

static enum proto_tracker_event on_prepare_ok(struct proto_tracker *t, const uint8_t *p, size_t avail,
					      struct proto_error *err)
{
	struct proto_reader r;
	proto_reader_init(&r, p, avail);
	proto_skip(&r, 5, "prepare ok statement id");
	uint16_t columns = proto_read_u16(&r, "prepare ok columns");
	uint16_t params = proto_read_u16(&r, "prepare ok params");
	proto_skip(&r, 1, "prepare ok filler");
	uint16_t warnings = proto_read_u16(&r, "prepare ok warnings");
	if (proto_reader_status(&r, err) != PROTO_OK)
		return TRK_EV_MALFORMED;
	t->last = (struct proto_result_end){.kind = END_OK, .status_flags = t->last.status_flags, .warnings = warnings};
	t->prepare_columns = columns;
	if (params) {
		t->state = TRK_PREPARE_PARAMS;
		t->columns_left = params;
		return TRK_EV_CONTINUE;
	}
	if (columns) {
		t->state = TRK_PREPARE_COLUMNS;
		t->columns_left = columns;
		return TRK_EV_CONTINUE;
	}
	return done(t);
}

/*
 * The column count that opens a result set: a lenenc integer > 0, followed
 * under MariaDB's MARIADB_CAP_CACHE_METADATA by a "metadata follows" byte;
 * when that byte is 0 the column definitions are left out (the client has
 * them cached) and the EOF, if any, comes next.
 */
static enum proto_tracker_event on_column_count(struct proto_tracker *t, const uint8_t *p, size_t avail,
						uint64_t payload_len, struct proto_error *err)
{
	struct proto_reader r;
	proto_reader_init(&r, p, avail);
	uint64_t n = proto_read_lenenc(&r, NULL, "column count");
	bool metadata = true;
	if (t->mariadb_ext_caps & MARIADB_CAP_CACHE_METADATA) {
		size_t at = r.pos;
		uint8_t follows = proto_read_u8(&r, "column count metadata flag");
		if (!r.failed && follows > 1) {
			r.pos = at;
			proto_reader_fail(&r, "column count metadata flag", 1, follows);
		}
		metadata = follows == 1;
	}
	if (proto_reader_status(&r, err) != PROTO_OK)
		return TRK_EV_MALFORMED;
	if (payload_len != r.pos)
		return fail(err, "column count trailing bytes", r.pos, r.pos, payload_len);
	t->rows = 0;
	if (metadata) {
		t->columns_left = n;
		t->state = TRK_COLUMNS;
	} else {
		t->columns_left = 0;
		t->state = deprecate_eof(t) ? TRK_ROWS : TRK_COLUMNS_EOF;
	}
	return TRK_EV_CONTINUE;
}

static enum proto_tracker_event on_first(struct proto_tracker *t, const uint8_t *p, size_t avail,
					 uint64_t payload_len, struct proto_error *err)
{
	bool multi = multi_result_command(t->command);
	switch (p[0]) {
	case 0x00:
		if (t->command == COM_STMT_PREPARE)
			return on_prepare_ok(t, p, avail, err);
		if (!take_ok(t, p, avail, payload_len, err))
			return TRK_EV_MALFORMED;
		return result_end(t);
	case 0xFF:
		return on_err(t, p, avail, err);
	case 0xFE:
		/* No column count begins with 0xFE (that would be >= 2^24
		 * columns), so here it can only be an END: the answer of
		 * COM_SET_OPTION, COM_DEBUG, COM_SHUTDOWN. */
		if (t->command == COM_STMT_PREPARE || !is_end(t, payload_len))
			return fail(err, "response header", 0, 0x00, p[0]);
		if (!take_end(t, p, avail, payload_len, err))
			return TRK_EV_MALFORMED;
		return result_end(t);
	case 0xFB:
		if (t->command != COM_QUERY)
			return fail(err, "response header", 0, 0x00, p[0]);
		t->state = TRK_LOCAL_INFILE;
		/* Not advertising CLIENT_LOCAL_FILES is not enough: a server (or
		 * an impostor) may ask for a file anyway, and a client library
		 * that honours the request would send it. */
		return t->refuse_local_infile ? TRK_EV_INFILE_REFUSED : TRK_EV_CLIENT_TURN;
	default:
		if (!multi)
			return fail(err, "response header", 0, 0x00, p[0]);
		return on_column_count(t, p, avail, payload_len, err);
	}
}

/*
 * Every ColumnDefinition41 opens with its catalog, always the lenenc
 * string "def". Checking it is what catches a server whose stream went out
 * of step (an OK or a row where a definition belongs) before the client
 * is handed a corrupt result.
 */
static bool is_column_definition(const uint8_t *p, size_t avail)
{
	return avail >= 4 && memcmp(p, "\x03" "def", 4) == 0;
}

/* One column (or parameter) definition; moves on after the last one. */
static enum proto_tracker_event on_definition(struct proto_tracker *t, const uint8_t *p, size_t avail,
					      struct proto_error *err)
{
	if (p[0] == 0xFF)
		return on_err(t, p, avail, err);
	if (!is_column_definition(p, avail))
		return fail(err, "column definition catalog", 0, 0x03, p[0]);
	if (--t->columns_left)
		return TRK_EV_CONTINUE;
	bool eof = !deprecate_eof(t);
	switch (t->state) {
	case TRK_COLUMNS:
		t->state = eof ? TRK_COLUMNS_EOF : TRK_ROWS;
		return TRK_EV_CONTINUE;
	case TRK_PREPARE_PARAMS:
		if (eof) {
			t->state = TRK_PREPARE_PARAMS_EOF;
			return TRK_EV_CONTINUE;
		}
		if (t->prepare_columns) {
			t->state = TRK_PREPARE_COLUMNS;
			t->columns_left = t->prepare_columns;
			return TRK_EV_CONTINUE;
		}
		return done(t);
	default: /* TRK_PREPARE_COLUMNS */
		if (eof) {
			t->state = TRK_PREPARE_COLUMNS_EOF;
			return TRK_EV_CONTINUE;
		}
		return done(t);
	}
}

/* The EOF after a block of definitions (only without DEPRECATE_EOF). */
static enum proto_tracker_event on_definitions_eof(struct proto_tracker *t, const uint8_t *p, size_t avail,
						   uint64_t payload_len, struct proto_error *err)
{
	if (p[0] == 0xFF)
		return on_err(t, p, avail, err);
	if (p[0] != 0xFE || !is_end(t, payload_len))
		return fail(err, "eof after definitions", 0, 0xFE, p[0]);
	if (!take_eof(t, p, avail, payload_len, err))
		return TRK_EV_MALFORMED;
	switch (t->state) {
	case TRK_COLUMNS_EOF:
		if (t->command == COM_STMT_EXECUTE && (t->last.status_flags & SERVER_STATUS_CURSOR_EXISTS))
			return done(t); /* rows come through COM_STMT_FETCH */
		t->state = TRK_ROWS;
		return TRK_EV_CONTINUE;
	case TRK_PREPARE_PARAMS_EOF:
		if (t->prepare_columns) {
			t->state = TRK_PREPARE_COLUMNS;
			t->columns_left = t->prepare_columns;
			return TRK_EV_CONTINUE;
		}
		return done(t);
	default: /* TRK_PREPARE_COLUMNS_EOF */
		return done(t);
	}
}

static enum proto_tracker_event on_row(struct proto_tracker *t, const uint8_t *p, size_t avail, uint64_t payload_len,
				       struct proto_error *err)
{
	if (p[0] == 0xFF) {
		enum proto_tracker_event ev = on_err(t, p, avail, err);
		if (ev == TRK_EV_DONE)
			t->last.rows = t->rows; /* the client got them before the error */
		return ev;
	}
	if (p[0] == 0xFE && is_end(t, payload_len)) {
		if (!take_end(t, p, avail, payload_len, err))
			return TRK_EV_MALFORMED;
		t->last.result_set = true;
		t->last.rows = t->rows;
		if (t->command == COM_STMT_FETCH)
			return done(t);
		return result_end(t);
	}
	if (t->binary_rows) {
		if (p[0] != 0x00)
			return fail(err, "binary row header", 0, 0x00, p[0]);
	} else if (p[0] == 0xFE && payload_len < HUGE_ROW_MIN) {
		return fail(err, "text row beginning 0xFE", 0, HUGE_ROW_MIN, payload_len);
	}
	t->rows++;
	return TRK_EV_CONTINUE;
}

static enum proto_tracker_event on_field_list(struct proto_tracker *t, const uint8_t *p, size_t avail,
					      uint64_t payload_len, struct proto_error *err)
{
	if (p[0] == 0xFF)
		return on_err(t, p, avail, err);
	if (p[0] == 0xFE) {
		if (!is_end(t, payload_len))
			return fail(err, "field list end", 0, 9, payload_len);
		if (!take_end(t, p, avail, payload_len, err))
			return TRK_EV_MALFORMED;
		return done(t);
	}
	if (!is_column_definition(p, avail))
		return fail(err, "column definition catalog", 0, 0x03, p[0]);
	return TRK_EV_CONTINUE;
}

/* Authentication: OK and ERR end it; 0xFE (AuthSwitchRequest) and 0x01
 * (AuthMoreData) hand the turn to the client and the exchange goes on. */
static enum proto_tracker_event on_auth(struct proto_tracker *t, const uint8_t *p, size_t avail, uint64_t payload_len,
					struct proto_error *err)
{
	switch (p[0]) {
	case 0x00:
		if (!take_ok(t, p, avail, payload_len, err))
			return TRK_EV_MALFORMED;
		return done(t);
	case 0xFF:
		if (!take_err(t, p, avail, err))
			return TRK_EV_MALFORMED;
		return done(t);
	case 0xFE:
	case 0x01:
		return TRK_EV_CONTINUE;
	default:
		return fail(err, "auth packet header", 0, 0x00, p[0]);
	}
}

/* ---- interface ------------------------------------------------------------ */

bool proto_tracker_begin(struct proto_tracker *t, uint8_t command, uint32_t caps)
{
	t->command = command;
	t->caps = caps;
	t->binary_rows = false;
	t->columns_left = 0;
	t->prepare_columns = 0;
	t->rows = 0;
	t->last.kind = END_NONE;
	switch (command) {
	case COM_QUIT:
	case COM_STMT_CLOSE:
	case COM_STMT_SEND_LONG_DATA:
		t->state = TRK_IDLE;
		return false;
	case COM_CHANGE_USER:
		proto_tracker_begin_auth(t, caps);
		t->command = command;
		return true;
	case COM_STATISTICS:
		t->state = TRK_SINGLE;
		return true;
	case COM_FIELD_LIST:
		t->state = TRK_FIELD_LIST;
		return true;
	case COM_STMT_EXECUTE:
		t->binary_rows = true;
		t->state = TRK_FIRST;
		return true;
	case COM_STMT_FETCH:
		t->binary_rows = true;
		t->state = TRK_ROWS;
		return true;
	default:
		t->state = TRK_FIRST;
		return true;
	}
}

/* The command byte is left at COM_SLEEP (0), which no command phase uses,
 * when this is the connection's initial authentication. */
void proto_tracker_begin_auth(struct proto_tracker *t, uint32_t caps)
{
	t->command = COM_SLEEP;
	t->caps = caps;
	t->binary_rows = false;
	t->columns_left = 0;
	t->prepare_columns = 0;
	t->rows = 0;
	t->last.kind = END_NONE;
	t->state = TRK_AUTH;
}

enum proto_tracker_event proto_tracker_feed(struct proto_tracker *t, const uint8_t *p, size_t avail,
					    uint64_t payload_len, struct proto_error *err)
{
	if (avail > payload_len)
		return fail(err, "tracker input longer than the packet", 0, payload_len, avail);
	if (t->state == TRK_SINGLE) {
		if (avail && p[0] == 0xFF && !take_err(t, p, avail, err))
			return TRK_EV_MALFORMED;
		return done(t);
	}
	if (payload_len == 0)
		return fail(err, "empty server packet", 0, 1, 0);
	if (avail == 0)
		return fail(err, "tracker input", 0, 1, 0);
	switch (t->state) {
	case TRK_IDLE:
		return fail(err, "server packet with no command in flight", 0, 0, p[0]);
	case TRK_FIRST:
		return on_first(t, p, avail, payload_len, err);
	case TRK_COLUMNS:
	case TRK_PREPARE_PARAMS:
	case TRK_PREPARE_COLUMNS:
		return on_definition(t, p, avail, err);
	case TRK_COLUMNS_EOF:
	case TRK_PREPARE_PARAMS_EOF:
	case TRK_PREPARE_COLUMNS_EOF:
		return on_definitions_eof(t, p, avail, payload_len, err);
	case TRK_ROWS:
		return on_row(t, p, avail, payload_len, err);
	case TRK_FIELD_LIST:
		return on_field_list(t, p, avail, payload_len, err);
	case TRK_AUTH:
		return on_auth(t, p, avail, payload_len, err);
	case TRK_LOCAL_INFILE:
		/* The server answers after the client's empty packet; only an
		 * error (the statement was killed) can come earlier. */
		if (p[0] == 0xFF)
			return on_err(t, p, avail, err);
		return fail(err, "server packet during LOCAL INFILE", 0, 0xFF, p[0]);
	case TRK_SINGLE:
		break;
	}
	return fail(err, "tracker state", 0, 0, t->state);
}

void proto_tracker_client_done(struct proto_tracker *t)
{
	if (t->state == TRK_LOCAL_INFILE)
		t->state = TRK_FIRST;
}

const char *proto_tracker_state_name(enum proto_tracker_state s)
{
	switch (s) {
	case TRK_IDLE:
		return "idle";
	case TRK_FIRST:
		return "first";
	case TRK_COLUMNS:
		return "columns";
	case TRK_COLUMNS_EOF:
		return "columns-eof";
	case TRK_ROWS:
		return "rows";
	case TRK_PREPARE_PARAMS:
		return "prepare-params";
	case TRK_PREPARE_PARAMS_EOF:
		return "prepare-params-eof";
	case TRK_PREPARE_COLUMNS:
		return "prepare-columns";
	case TRK_PREPARE_COLUMNS_EOF:
		return "prepare-columns-eof";
	case TRK_FIELD_LIST:
		return "field-list";
	case TRK_AUTH:
		return "auth";
	case TRK_LOCAL_INFILE:
		return "local-infile";
	case TRK_SINGLE:
		return "single";
	}
	return "unknown";
}

