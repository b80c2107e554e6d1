/*
 * test_tracker.c - the response tracker over every command kind: results
 * with and without CLIENT_DEPRECATE_EOF, multi-result CALL, rows that start
 * with 0xFE, LOCAL INFILE, cursors and COM_STMT_FETCH, prepare, field list,
 * change user, single-packet commands, and what it refuses.
 */
#include "test_util.h"

#define CAPS (CLIENT_PROTOCOL_41 | CLIENT_TRANSACTIONS | CLIENT_SECURE_CONNECTION | CLIENT_MULTI_RESULTS)
#define DEPR (CAPS | CLIENT_DEPRECATE_EOF)

/* Packets used throughout (payloads). */
#define OK_PLAIN "00 00 00 02 00 00 00"        /* autocommit */
#define OK_MORE "00 00 00 0a 00 00 00"         /* + more results */
#define EOF_PLAIN "fe 00 00 02 00"
#define EOF_MORE "fe 00 00 0a 00"
#define OKEOF_PLAIN "fe 00 00 02 00 00 00"     /* OK-as-EOF */
#define OKEOF_MORE "fe 00 00 0a 00 00 00"
#define COLDEF "03646566 00 00 00 0161 00 0c 3f00 0b000000 08 0000 00 0000"
#define ROW "01 31"
#define ERR_DEADLOCK "ff bd04 2334303030314465616460"

static struct proto_error last_err;

/* Feed one whole packet given in hex. */
static enum proto_tracker_event feed_hex(struct proto_tracker *t, const char *hex)
{
	uint8_t b[512];
	size_t n = hex_decode(hex, b, sizeof(b));
	uint8_t *c = exact_copy(b, n);
	last_err = (struct proto_error){0};
	enum proto_tracker_event ev = proto_tracker_feed(t, c, n, n, &last_err);
	if (ev == TRK_EV_MALFORMED)
		assert_error_sane(&last_err, n);
	free(c);
	return ev;
}

/* Feed only the start of a large packet, as the proxy does (64 KiB). */
static enum proto_tracker_event feed_big(struct proto_tracker *t, uint8_t first, uint64_t payload_len)
{
	size_t avail = payload_len < 65536 ? (size_t)payload_len : 65536;
	uint8_t *c = calloc(1, avail);
	assert_non_null(c);
	c[0] = first;
	last_err = (struct proto_error){0};
	enum proto_tracker_event ev = proto_tracker_feed(t, c, avail, payload_len, &last_err);
	free(c);
	return ev;
}

static struct proto_tracker fresh(void)
{
	struct proto_tracker t;
	memset(&t, 0, sizeof(t));
	return t;
}

/* column count n, n definitions, and (without DEPRECATE_EOF) their EOF */
static void feed_metadata(struct proto_tracker *t, unsigned n, bool with_eof)
{
	char count[8];
	snprintf(count, sizeof(count), "%02x", n);
	assert_int_equal(feed_hex(t, count), TRK_EV_CONTINUE);
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(feed_hex(t, COLDEF), TRK_EV_CONTINUE);
	if (with_eof) {
		assert_int_equal(t->state, TRK_COLUMNS_EOF);
		assert_int_equal(feed_hex(t, EOF_PLAIN), TRK_EV_CONTINUE);
	}
	assert_int_equal(t->state, TRK_ROWS);
}

/* ---- COM_QUERY ----------------------------------------------------------- */

static void test_query_ok_and_err(void **state)
{
	struct proto_tracker t = fresh();
	assert_true(proto_tracker_begin(&t, COM_QUERY, CAPS));
	assert_int_equal(t.state, TRK_FIRST);
	assert_int_equal(feed_hex(&t, "00 02 07 03 00 01 00"), TRK_EV_DONE);
	assert_int_equal(t.state, TRK_IDLE);
	assert_int_equal(t.last.kind, END_OK);
	assert_int_equal(t.last.affected_rows, 2);
	assert_int_equal(t.last.last_insert_id, 7);
	assert_int_equal(t.last.status_flags, 3);
	assert_int_equal(t.last.warnings, 1);

	/* ERR keeps the status flags from before and records the error. */
	assert_true(proto_tracker_begin(&t, COM_QUERY, CAPS));
	assert_int_equal(t.last.kind, END_NONE);
	assert_int_equal(feed_hex(&t, ERR_DEADLOCK), TRK_EV_DONE);
	assert_int_equal(t.last.kind, END_ERR);
	assert_int_equal(t.last.err_code, 1213);
	assert_string_equal(t.last.sql_state, "40001");
	assert_int_equal(t.last.status_flags, 3);
	assert_int_equal(t.last.affected_rows, 0);

	/* Nothing is expected once the response is over. */
	assert_int_equal(feed_hex(&t, OK_PLAIN), TRK_EV_MALFORMED);
	assert_string_equal(last_err.what, "server packet with no command in flight");
}

static void test_result_set_eof(void **state)
{
	struct proto_tracker t = fresh();
	assert_true(proto_tracker_begin(&t, COM_QUERY, CAPS));
	feed_metadata(&t, 2, true);
	assert_int_equal(t.last.kind, END_EOF);
	for (int i = 0; i < 3; i++)
		assert_int_equal(feed_hex(&t, "01 31 fb"), TRK_EV_CONTINUE);
	assert_int_equal(t.rows, 3);
	assert_int_equal(feed_hex(&t, "fe 01 00 22 00"), TRK_EV_DONE);
	assert_int_equal(t.last.kind, END_EOF);
	assert_int_equal(t.last.warnings, 1);
	assert_int_equal(t.last.rows, 3);
	assert_int_equal(t.last.status_flags, 0x22);
}

static void test_result_set_deprecate_eof(void **state)
{
	struct proto_tracker t = fresh();
	assert_true(proto_tracker_begin(&t, COM_QUERY, DEPR));
	feed_metadata(&t, 2, false);
	assert_int_equal(feed_hex(&t, ROW), TRK_EV_CONTINUE);
	/* OK-as-EOF: OK layout (status before warnings). */
	assert_int_equal(feed_hex(&t, "fe 00 00 03 00 02 00"), TRK_EV_DONE);
	assert_int_equal(t.last.kind, END_OK);
	assert_int_equal(t.last.status_flags, 3);
	assert_int_equal(t.last.warnings, 2);

	/* An empty result: the OK-as-EOF right after the definitions. */
	assert_true(proto_tracker_begin(&t, COM_QUERY, DEPR));
	feed_metadata(&t, 1, false);
	assert_int_equal(feed_hex(&t, OKEOF_PLAIN), TRK_EV_DONE);
	assert_int_equal(t.rows, 0);
}

/* The OK-as-EOF can carry session state and so be longer than 9 bytes. */
static void test_deprecate_eof_long_end(void **state)
{
	struct proto_tracker t = fresh();
	uint32_t caps = DEPR | CLIENT_SESSION_TRACK;
	assert_true(proto_tracker_begin(&t, COM_QUERY, caps));
	feed_metadata(&t, 1, false);
	assert_int_equal(feed_hex(&t, "fe 00 00 02 40 00 00 00 05 01 03 02 64 62"), TRK_EV_DONE);
	assert_int_equal(t.last.status_flags, 0x4002);
}

/* CALL: a result set per SELECT in the procedure, then the CALL's own OK. */
static void test_call_multi_result(void **state)
{
	struct proto_tracker t = fresh();
	assert_true(proto_tracker_begin(&t, COM_QUERY, CAPS));
	feed_metadata(&t, 1, true);
	assert_int_equal(feed_hex(&t, ROW), TRK_EV_CONTINUE);
	assert_int_equal(feed_hex(&t, EOF_MORE), TRK_EV_RESULT_END);
	assert_int_equal(t.state, TRK_FIRST);
	assert_int_equal(t.rows, 0);
	feed_metadata(&t, 3, true);
	assert_int_equal(feed_hex(&t, EOF_MORE), TRK_EV_RESULT_END);
	assert_int_equal(feed_hex(&t, OK_PLAIN), TRK_EV_DONE);

	/* The same under DEPRECATE_EOF. */
	assert_true(proto_tracker_begin(&t, COM_QUERY, DEPR));
	feed_metadata(&t, 1, false);
	assert_int_equal(feed_hex(&t, ROW), TRK_EV_CONTINUE);
	assert_int_equal(feed_hex(&t, OKEOF_MORE), TRK_EV_RESULT_END);
	assert_int_equal(t.last.rows, 1); /* each result's own, kept past the reset for the next */
	feed_metadata(&t, 1, false);
	assert_int_equal(feed_hex(&t, OKEOF_MORE), TRK_EV_RESULT_END);
	assert_int_equal(t.last.rows, 0);
	assert_int_equal(feed_hex(&t, OK_PLAIN), TRK_EV_DONE);
}

/* "UPDATE ...; UPDATE ...; SELECT ..." and an error midway, which ends it. */
static void test_multi_statement(void **state)
{
	struct proto_tracker t = fresh();
	assert_true(proto_tracker_begin(&t, COM_QUERY, CAPS));
	assert_int_equal(feed_hex(&t, "00 01 00 0a 00 00 00"), TRK_EV_RESULT_END);
	assert_int_equal(t.last.affected_rows, 1);
	assert_int_equal(feed_hex(&t, OK_MORE), TRK_EV_RESULT_END);
	feed_metadata(&t, 1, true);
	assert_int_equal(feed_hex(&t, EOF_PLAIN), TRK_EV_DONE);

	assert_true(proto_tracker_begin(&t, COM_QUERY, CAPS));
	assert_int_equal(feed_hex(&t, OK_MORE), TRK_EV_RESULT_END);
	assert_int_equal(feed_hex(&t, ERR_DEADLOCK), TRK_EV_DONE);
	assert_int_equal(t.last.status_flags, 0x0a); /* kept from the OK */
}

static void test_err_mid_result(void **state)
{
	struct proto_tracker t = fresh();
	assert_true(proto_tracker_begin(&t, COM_QUERY, CAPS));
	feed_metadata(&t, 1, true);
	assert_int_equal(feed_hex(&t, ROW), TRK_EV_CONTINUE);
	assert_int_equal(feed_hex(&t, ERR_DEADLOCK), TRK_EV_DONE);
	assert_int_equal(t.last.kind, END_ERR);
	assert_int_equal(t.last.rows, 1); /* sent before the error */

	/* Even inside the column definitions. */
	assert_true(proto_tracker_begin(&t, COM_QUERY, CAPS));
	assert_int_equal(feed_hex(&t, "02"), TRK_EV_CONTINUE);
	assert_int_equal(feed_hex(&t, COLDEF), TRK_EV_CONTINUE);
	assert_int_equal(feed_hex(&t, ERR_DEADLOCK), TRK_EV_DONE);
}

/* A text row may begin with 0xFE only when its first value is >= 16 MiB:
 * such a packet is at least 0xFFFFFF long and is a row, not an END. */
static void test_huge_row_leading_fe(void **state)
{
	for (int d = 0; d < 2; d++) {
		struct proto_tracker t = fresh();
		assert_true(proto_tracker_begin(&t, COM_QUERY, d ? DEPR : CAPS));
		feed_metadata(&t, 1, !d);
		assert_int_equal(feed_big(&t, 0xFE, 1 + 8 + 0x1000000), TRK_EV_CONTINUE);
		assert_int_equal(feed_big(&t, 0xFE, PROTO_MAX_CHUNK), TRK_EV_CONTINUE);
		assert_int_equal(t.rows, 2);
		/* A large row not starting with 0xFE. */
		assert_int_equal(feed_big(&t, 0xFD, PROTO_MAX_CHUNK), TRK_EV_CONTINUE);
		assert_int_equal(feed_hex(&t, d ? OKEOF_PLAIN : EOF_PLAIN), TRK_EV_DONE);
	}
	/* Without DEPRECATE_EOF a 0xFE packet of 9 bytes up to 16 MiB is
	 * neither an EOF nor a possible row. */
	struct proto_tracker t = fresh();
	assert_true(proto_tracker_begin(&t, COM_QUERY, CAPS));
	feed_metadata(&t, 1, true);
	assert_int_equal(feed_hex(&t, "fe 00 00 02 00 00 00 00 00"), TRK_EV_MALFORMED);
	assert_string_equal(last_err.what, "text row beginning 0xFE");
	assert_int_equal(last_err.expected, PROTO_MAX_CHUNK);
	assert_int_equal(last_err.actual, 9);
	/* With it, anything 0xFE under 0xFFFFFF is the END. */
	assert_true(proto_tracker_begin(&t, COM_QUERY, DEPR));
	feed_metadata(&t, 1, false);
	assert_int_equal(feed_big(&t, 0xFE, PROTO_MAX_CHUNK - 1), TRK_EV_DONE);
}

static void test_local_infile(void **state)
{
	struct proto_tracker t = fresh();
	assert_true(proto_tracker_begin(&t, COM_QUERY, CAPS | CLIENT_LOCAL_FILES));
	assert_int_equal(feed_hex(&t, "fb 2f746d702f782e637376"), TRK_EV_CLIENT_TURN);
	assert_int_equal(t.state, TRK_LOCAL_INFILE);
	/* The server speaks only after the client's empty packet... */
	assert_int_equal(feed_hex(&t, OK_PLAIN), TRK_EV_MALFORMED);
	assert_string_equal(last_err.what, "server packet during LOCAL INFILE");
	assert_true(proto_tracker_begin(&t, COM_QUERY, CAPS | CLIENT_LOCAL_FILES));
	assert_int_equal(feed_hex(&t, "fb 78"), TRK_EV_CLIENT_TURN);
	proto_tracker_client_done(&t);
	assert_int_equal(t.state, TRK_FIRST);
	assert_int_equal(feed_hex(&t, "00 03 00 02 00 00 00"), TRK_EV_DONE);
	assert_int_equal(t.last.affected_rows, 3);

	/* ...unless it is an error (killed), which ends the command. */
	assert_true(proto_tracker_begin(&t, COM_QUERY, CAPS | CLIENT_LOCAL_FILES));
	assert_int_equal(feed_hex(&t, "fb 78"), TRK_EV_CLIENT_TURN);
	assert_int_equal(feed_hex(&t, ERR_DEADLOCK), TRK_EV_DONE);

	/* LOAD DATA LOCAL inside a multi-statement, followed by a SELECT. */
	assert_true(proto_tracker_begin(&t, COM_QUERY, CAPS | CLIENT_LOCAL_FILES));
	assert_int_equal(feed_hex(&t, "fb 78"), TRK_EV_CLIENT_TURN);
	proto_tracker_client_done(&t);
	assert_int_equal(feed_hex(&t, OK_MORE), TRK_EV_RESULT_END);
	feed_metadata(&t, 1, true);
	assert_int_equal(feed_hex(&t, EOF_PLAIN), TRK_EV_DONE);

	/* client_done outside LOCAL INFILE changes nothing. */
	assert_true(proto_tracker_begin(&t, COM_QUERY, CAPS));
	proto_tracker_client_done(&t);
	assert_int_equal(t.state, TRK_FIRST);
}

/*
 * local_infile = off: not advertising CLIENT_LOCAL_FILES does not stop a
 * server (or an impostor) from asking for a file, so the session tells the
 * tracker, and the request is an event of its own, never the client's turn.
 * The session answers it with an empty packet; the statement then ends as
 * any LOAD DATA LOCAL does.
 */
static void test_local_infile_refused(void **state)
{
	struct proto_tracker t = fresh();
	t.refuse_local_infile = true;
	assert_true(proto_tracker_begin(&t, COM_QUERY, CAPS));
	assert_true(t.refuse_local_infile); /* begin leaves it alone */
	assert_int_equal(feed_hex(&t, "fb 2f6574632f706173737764"), TRK_EV_INFILE_REFUSED); /* /etc/passwd */
	assert_int_equal(t.state, TRK_LOCAL_INFILE);
	proto_tracker_client_done(&t); /* the empty packet went in the client's place */
	assert_int_equal(t.state, TRK_FIRST);
	assert_int_equal(feed_hex(&t, "00 00 00 02 00 00 00"), TRK_EV_DONE);
	assert_int_equal(t.last.affected_rows, 0);

	/* Refused whatever the capabilities say: a client that did negotiate
	 * CLIENT_LOCAL_FILES still gets no request when the flag is set. */
	assert_true(proto_tracker_begin(&t, COM_QUERY, CAPS | CLIENT_LOCAL_FILES));
	assert_int_equal(feed_hex(&t, "fb 78"), TRK_EV_INFILE_REFUSED);
	/* The server may still end the statement with an ERR first. */
	assert_int_equal(feed_hex(&t, ERR_DEADLOCK), TRK_EV_DONE);

	/* A request inside a multi-statement: the results after it go on. */
	assert_true(proto_tracker_begin(&t, COM_QUERY, CAPS));
	assert_int_equal(feed_hex(&t, OK_MORE), TRK_EV_RESULT_END);
	assert_int_equal(feed_hex(&t, "fb 78"), TRK_EV_INFILE_REFUSED);
	proto_tracker_client_done(&t);
	assert_int_equal(feed_hex(&t, OK_MORE), TRK_EV_RESULT_END);
	feed_metadata(&t, 1, true);
	assert_int_equal(feed_hex(&t, EOF_PLAIN), TRK_EV_DONE);

	/* Outside COM_QUERY a 0xFB stays what it was: malformed. */
	assert_true(proto_tracker_begin(&t, COM_STMT_EXECUTE, CAPS));
	assert_int_equal(feed_hex(&t, "fb 78"), TRK_EV_MALFORMED);
	assert_string_equal(last_err.what, "response header");

	/* Without the flag the tracker leaves the decision to the caller. */
	t.refuse_local_infile = false;
	assert_true(proto_tracker_begin(&t, COM_QUERY, CAPS | CLIENT_LOCAL_FILES));
	assert_int_equal(feed_hex(&t, "fb 78"), TRK_EV_CLIENT_TURN);
}

/* ---- prepared statements ---------------------------------------------------- */

static void test_prepare(void **state)
{
	struct proto_tracker t = fresh();
	/* 2 params, 1 column, with EOFs. */
	assert_true(proto_tracker_begin(&t, COM_STMT_PREPARE, CAPS));
	assert_int_equal(feed_hex(&t, "00 01000000 0100 0200 00 0000"), TRK_EV_CONTINUE);
	assert_int_equal(t.state, TRK_PREPARE_PARAMS);
	assert_int_equal(feed_hex(&t, COLDEF), TRK_EV_CONTINUE);
	assert_int_equal(feed_hex(&t, COLDEF), TRK_EV_CONTINUE);
	assert_int_equal(t.state, TRK_PREPARE_PARAMS_EOF);
	assert_int_equal(feed_hex(&t, EOF_PLAIN), TRK_EV_CONTINUE);
	assert_int_equal(t.state, TRK_PREPARE_COLUMNS);
	assert_int_equal(feed_hex(&t, COLDEF), TRK_EV_CONTINUE);
	assert_int_equal(t.state, TRK_PREPARE_COLUMNS_EOF);
	assert_int_equal(feed_hex(&t, EOF_PLAIN), TRK_EV_DONE);

	/* The same without EOFs. */
	assert_true(proto_tracker_begin(&t, COM_STMT_PREPARE, DEPR));
	assert_int_equal(feed_hex(&t, "00 01000000 0100 0200 00 0000"), TRK_EV_CONTINUE);
	assert_int_equal(feed_hex(&t, COLDEF), TRK_EV_CONTINUE);
	assert_int_equal(feed_hex(&t, COLDEF), TRK_EV_CONTINUE);
	assert_int_equal(t.state, TRK_PREPARE_COLUMNS);
	assert_int_equal(feed_hex(&t, COLDEF), TRK_EV_DONE);

	/* Empty sections are skipped, EOF and all. */
	assert_true(proto_tracker_begin(&t, COM_STMT_PREPARE, CAPS));
	assert_int_equal(feed_hex(&t, "00 02000000 0000 0000 00 0000"), TRK_EV_DONE);
	assert_int_equal(t.last.kind, END_OK);
	assert_true(proto_tracker_begin(&t, COM_STMT_PREPARE, CAPS));
	assert_int_equal(feed_hex(&t, "00 03000000 0200 0000 00 0000"), TRK_EV_CONTINUE);
	assert_int_equal(t.state, TRK_PREPARE_COLUMNS);
	assert_int_equal(feed_hex(&t, COLDEF), TRK_EV_CONTINUE);
	assert_int_equal(feed_hex(&t, COLDEF), TRK_EV_CONTINUE);
	assert_int_equal(feed_hex(&t, EOF_PLAIN), TRK_EV_DONE);
	assert_true(proto_tracker_begin(&t, COM_STMT_PREPARE, CAPS));
	assert_int_equal(feed_hex(&t, "00 04000000 0000 0100 00 0000"), TRK_EV_CONTINUE);
	assert_int_equal(feed_hex(&t, COLDEF), TRK_EV_CONTINUE);
	assert_int_equal(feed_hex(&t, EOF_PLAIN), TRK_EV_DONE);
	assert_true(proto_tracker_begin(&t, COM_STMT_PREPARE, DEPR));
	assert_int_equal(feed_hex(&t, "00 04000000 0000 0100 00 0000"), TRK_EV_CONTINUE);
	assert_int_equal(feed_hex(&t, COLDEF), TRK_EV_DONE);

	/* Errors. */
	assert_true(proto_tracker_begin(&t, COM_STMT_PREPARE, CAPS));
	assert_int_equal(feed_hex(&t, "ff 2804 23343230303073796e746178"), TRK_EV_DONE);
	assert_int_equal(t.last.err_code, 1064);
	assert_true(proto_tracker_begin(&t, COM_STMT_PREPARE, CAPS));
	assert_int_equal(feed_hex(&t, "00 01000000 01"), TRK_EV_MALFORMED);
	assert_string_equal(last_err.what, "prepare ok columns");
	assert_true(proto_tracker_begin(&t, COM_STMT_PREPARE, CAPS));
	assert_int_equal(feed_hex(&t, "01"), TRK_EV_MALFORMED);
	assert_string_equal(last_err.what, "response header");
	assert_true(proto_tracker_begin(&t, COM_STMT_PREPARE, CAPS));
	assert_int_equal(feed_hex(&t, EOF_PLAIN), TRK_EV_MALFORMED);
}

static void test_execute_binary_rows(void **state)
{
	struct proto_tracker t = fresh();
	assert_true(proto_tracker_begin(&t, COM_STMT_EXECUTE, CAPS));
	assert_true(t.binary_rows);
	feed_metadata(&t, 2, true);
	assert_int_equal(feed_hex(&t, "00 00 01 31 02 3432"), TRK_EV_CONTINUE);
	assert_int_equal(feed_hex(&t, "00 0c"), TRK_EV_CONTINUE);
	assert_int_equal(feed_hex(&t, EOF_PLAIN), TRK_EV_DONE);
	assert_int_equal(t.rows, 2);

	/* A binary row must start with 0x00. */
	assert_true(proto_tracker_begin(&t, COM_STMT_EXECUTE, CAPS));
	feed_metadata(&t, 1, true);
	assert_int_equal(feed_hex(&t, "01 31"), TRK_EV_MALFORMED);
	assert_string_equal(last_err.what, "binary row header");
	assert_true(proto_tracker_begin(&t, COM_STMT_EXECUTE, DEPR));
	feed_metadata(&t, 1, false);
	assert_int_equal(feed_big(&t, 0xFE, PROTO_MAX_CHUNK), TRK_EV_MALFORMED);

	/* Statements without a result answer OK; LOCAL INFILE is COM_QUERY's. */
	assert_true(proto_tracker_begin(&t, COM_STMT_EXECUTE, CAPS));
	assert_int_equal(feed_hex(&t, "00 01 05 02 00 00 00"), TRK_EV_DONE);
	assert_int_equal(t.last.last_insert_id, 5);
	assert_true(proto_tracker_begin(&t, COM_STMT_EXECUTE, CAPS));
	assert_int_equal(feed_hex(&t, "fb 78"), TRK_EV_MALFORMED);

	/* CALL through a prepared statement: OUT parameters, then the OK. */
	assert_true(proto_tracker_begin(&t, COM_STMT_EXECUTE, CAPS));
	feed_metadata(&t, 1, true);
	assert_int_equal(feed_hex(&t, "00 00 01 31"), TRK_EV_CONTINUE);
	assert_int_equal(feed_hex(&t, "fe 00 00 0a 10"), TRK_EV_RESULT_END);
	assert_int_equal(feed_hex(&t, OK_PLAIN), TRK_EV_DONE);
}

/* With a cursor the response ends with the definitions' EOF, which carries
 * SERVER_STATUS_CURSOR_EXISTS; under DEPRECATE_EOF MariaDB's
 * Materialized_cursor::open sends it as an OK-as-EOF where rows would
 * start. Rows then come through COM_STMT_FETCH. */
static void test_cursor(void **state)
{
	struct proto_tracker t = fresh();
	assert_true(proto_tracker_begin(&t, COM_STMT_EXECUTE, CAPS));
	assert_int_equal(feed_hex(&t, "01"), TRK_EV_CONTINUE);
	assert_int_equal(feed_hex(&t, COLDEF), TRK_EV_CONTINUE);
	assert_int_equal(feed_hex(&t, "fe 00 00 42 00"), TRK_EV_DONE);
	assert_true(t.last.status_flags & SERVER_STATUS_CURSOR_EXISTS);

	assert_true(proto_tracker_begin(&t, COM_STMT_FETCH, CAPS));
	assert_int_equal(t.state, TRK_ROWS);
	assert_int_equal(feed_hex(&t, "00 00 01 31"), TRK_EV_CONTINUE);
	assert_int_equal(feed_hex(&t, "00 00 01 32"), TRK_EV_CONTINUE);
	assert_int_equal(feed_hex(&t, "fe 00 00 42 00"), TRK_EV_DONE);
	assert_true(proto_tracker_begin(&t, COM_STMT_FETCH, CAPS));
	assert_int_equal(feed_hex(&t, "fe 00 00 82 00"), TRK_EV_DONE); /* last row sent */
	assert_true(t.last.status_flags & SERVER_STATUS_LAST_ROW_SENT);
	assert_true(proto_tracker_begin(&t, COM_STMT_FETCH, CAPS));
	assert_int_equal(feed_hex(&t, "ff 1302 23484830303043757273"), TRK_EV_DONE);

	/* DEPRECATE_EOF. */
	assert_true(proto_tracker_begin(&t, COM_STMT_EXECUTE, DEPR));
	assert_int_equal(feed_hex(&t, "01"), TRK_EV_CONTINUE);
	assert_int_equal(feed_hex(&t, COLDEF), TRK_EV_CONTINUE);
	assert_int_equal(feed_hex(&t, "fe 00 00 42 00 00 00"), TRK_EV_DONE);
	assert_true(t.last.status_flags & SERVER_STATUS_CURSOR_EXISTS);
	assert_true(proto_tracker_begin(&t, COM_STMT_FETCH, DEPR));
	assert_int_equal(feed_hex(&t, "00 00 01 31"), TRK_EV_CONTINUE);
	assert_int_equal(feed_hex(&t, "fe 00 00 82 00 00 00"), TRK_EV_DONE);

	/* CURSOR_EXISTS on a COM_QUERY result's EOF means nothing special. */
	assert_true(proto_tracker_begin(&t, COM_QUERY, CAPS));
	assert_int_equal(feed_hex(&t, "01"), TRK_EV_CONTINUE);
	assert_int_equal(feed_hex(&t, COLDEF), TRK_EV_CONTINUE);
	assert_int_equal(feed_hex(&t, "fe 00 00 42 00"), TRK_EV_CONTINUE);
	assert_int_equal(t.state, TRK_ROWS);
}

/* ---- other commands ---------------------------------------------------------- */

static void test_field_list(void **state)
{
	struct proto_tracker t = fresh();
	assert_true(proto_tracker_begin(&t, COM_FIELD_LIST, CAPS));
	assert_int_equal(t.state, TRK_FIELD_LIST);
	assert_int_equal(feed_hex(&t, COLDEF " fb"), TRK_EV_CONTINUE);
	assert_int_equal(feed_hex(&t, COLDEF " 0131"), TRK_EV_CONTINUE);
	assert_int_equal(feed_hex(&t, EOF_PLAIN), TRK_EV_DONE);
	assert_true(proto_tracker_begin(&t, COM_FIELD_LIST, DEPR));
	assert_int_equal(feed_hex(&t, COLDEF " fb"), TRK_EV_CONTINUE);
	assert_int_equal(feed_hex(&t, OKEOF_PLAIN), TRK_EV_DONE);
	assert_true(proto_tracker_begin(&t, COM_FIELD_LIST, CAPS));
	assert_int_equal(feed_hex(&t, "ff 7a04 23343253303254"), TRK_EV_DONE);
	assert_true(proto_tracker_begin(&t, COM_FIELD_LIST, CAPS));
	assert_int_equal(feed_hex(&t, "fe 00 00 02 00 00 00 00 00"), TRK_EV_MALFORMED);
	assert_string_equal(last_err.what, "field list end");
}

static void test_change_user(void **state)
{
	struct proto_tracker t = fresh();
	assert_true(proto_tracker_begin(&t, COM_CHANGE_USER, CAPS));
	assert_int_equal(t.state, TRK_AUTH);
	assert_int_equal(t.command, COM_CHANGE_USER);
	assert_int_equal(feed_hex(&t, "fe 6d7973716c5f6e61746976655f70617373776f726400 3132333435363738393031323334353637383930 00"),
			 TRK_EV_CONTINUE);
	proto_tracker_client_done(&t);
	assert_int_equal(t.state, TRK_AUTH);
	assert_int_equal(feed_hex(&t, "01 03"), TRK_EV_CONTINUE);
	assert_int_equal(feed_hex(&t, "00 00 00 02 00 00 00"), TRK_EV_DONE);
	assert_int_equal(t.last.kind, END_OK);
	assert_int_equal(t.last.status_flags, SERVER_STATUS_AUTOCOMMIT);

	assert_true(proto_tracker_begin(&t, COM_CHANGE_USER, CAPS));
	assert_int_equal(feed_hex(&t, "ff 1504 233238303030416363657373"), TRK_EV_DONE);
	assert_int_equal(t.last.kind, END_ERR);
	assert_int_equal(t.last.err_code, 1045);
	assert_true(proto_tracker_begin(&t, COM_CHANGE_USER, CAPS));
	assert_int_equal(feed_hex(&t, "02"), TRK_EV_MALFORMED);
	assert_string_equal(last_err.what, "auth packet header");

	/* The connection's first authentication. */
	t = fresh();
	proto_tracker_begin_auth(&t, CAPS);
	assert_int_equal(t.state, TRK_AUTH);
	assert_int_equal(feed_hex(&t, "fe"), TRK_EV_CONTINUE); /* old-password switch */
	assert_int_equal(feed_hex(&t, OK_PLAIN), TRK_EV_DONE);
}

static void test_single_packet_commands(void **state)
{
	struct proto_tracker t = fresh();
	assert_true(proto_tracker_begin(&t, COM_STATISTICS, CAPS));
	assert_int_equal(t.state, TRK_SINGLE);
	assert_int_equal(feed_hex(&t, "55707469 6d653a203132"), TRK_EV_DONE);
	assert_true(proto_tracker_begin(&t, COM_STATISTICS, CAPS));
	assert_int_equal(feed_hex(&t, ERR_DEADLOCK), TRK_EV_DONE);
	assert_int_equal(t.last.kind, END_ERR);

	const uint8_t ok_cmds[] = {COM_PING,	  COM_INIT_DB,	    COM_RESET_CONNECTION, COM_STMT_RESET,
				   COM_PROCESS_KILL, COM_REFRESH, COM_CREATE_DB, COM_DROP_DB};
	for (size_t i = 0; i < sizeof(ok_cmds); i++) {
		assert_true(proto_tracker_begin(&t, ok_cmds[i], CAPS));
		assert_int_equal(feed_hex(&t, OK_PLAIN), TRK_EV_DONE);
		assert_true(proto_tracker_begin(&t, ok_cmds[i], CAPS));
		assert_int_equal(feed_hex(&t, ERR_DEADLOCK), TRK_EV_DONE);
		/* A stale MORE_RESULTS flag does not keep a ping open. */
		assert_true(proto_tracker_begin(&t, ok_cmds[i], CAPS));
		assert_int_equal(feed_hex(&t, OK_MORE), TRK_EV_DONE);
		/* Result sets are not an answer to these. */
		assert_true(proto_tracker_begin(&t, ok_cmds[i], CAPS));
		assert_int_equal(feed_hex(&t, "01"), TRK_EV_MALFORMED);
		assert_string_equal(last_err.what, "response header");
	}
	/* COM_SET_OPTION, COM_DEBUG, COM_SHUTDOWN answer with EOF (my_eof). */
	const uint8_t eof_cmds[] = {COM_SET_OPTION, COM_DEBUG, COM_SHUTDOWN};
	for (size_t i = 0; i < sizeof(eof_cmds); i++) {
		assert_true(proto_tracker_begin(&t, eof_cmds[i], CAPS));
		assert_int_equal(feed_hex(&t, EOF_PLAIN), TRK_EV_DONE);
		assert_int_equal(t.last.kind, END_EOF);
		assert_true(proto_tracker_begin(&t, eof_cmds[i], DEPR));
		assert_int_equal(feed_hex(&t, OKEOF_PLAIN), TRK_EV_DONE);
	}
	/* Unknown or removed commands: the server's ERR. */
	assert_true(proto_tracker_begin(&t, COM_TIME, CAPS));
	assert_int_equal(feed_hex(&t, "ff 2f04 2330384330314e6f"), TRK_EV_DONE);
	/* COM_PROCESS_INFO answers with a result set. */
	assert_true(proto_tracker_begin(&t, COM_PROCESS_INFO, CAPS));
	feed_metadata(&t, 2, true);
	assert_int_equal(feed_hex(&t, "0131 0132"), TRK_EV_CONTINUE);
	assert_int_equal(feed_hex(&t, EOF_PLAIN), TRK_EV_DONE);
}

static void test_no_response_commands(void **state)
{
	const uint8_t cmds[] = {COM_QUIT, COM_STMT_CLOSE, COM_STMT_SEND_LONG_DATA};
	for (size_t i = 0; i < sizeof(cmds); i++) {
		struct proto_tracker t = fresh();
		assert_false(proto_tracker_begin(&t, cmds[i], CAPS));
		assert_int_equal(t.state, TRK_IDLE);
		assert_int_equal(feed_hex(&t, OK_PLAIN), TRK_EV_MALFORMED);
	}
}

/* MariaDB progress reports (ERR with code 0xFFFF) do not end anything. */
static void test_progress_report(void **state)
{
	struct proto_tracker t = fresh();
	assert_true(proto_tracker_begin(&t, COM_QUERY, CAPS));
	assert_int_equal(feed_hex(&t, "ff ffff 01 01 02 102700 04 636f7079"), TRK_EV_CONTINUE);
	assert_int_equal(t.last.kind, END_NONE);
	assert_int_equal(feed_hex(&t, OK_PLAIN), TRK_EV_DONE);
	assert_true(proto_tracker_begin(&t, COM_QUERY, CAPS));
	feed_metadata(&t, 1, true);
	assert_int_equal(feed_hex(&t, "ff ffff 01 01 02 102700 00"), TRK_EV_CONTINUE);
	assert_int_equal(feed_hex(&t, EOF_PLAIN), TRK_EV_DONE);
}

/* MariaDB's metadata caching: a "metadata follows" byte after the column
 * count; 0 leaves the definitions out (the EOF stays, without DEPRECATE_EOF). */
static void test_mariadb_cache_metadata(void **state)
{
	struct proto_tracker t = fresh();
	t.mariadb_ext_caps = MARIADB_CAP_CACHE_METADATA;
	assert_true(proto_tracker_begin(&t, COM_QUERY, CAPS));
	assert_int_equal(t.mariadb_ext_caps, MARIADB_CAP_CACHE_METADATA);
	assert_int_equal(feed_hex(&t, "01 01"), TRK_EV_CONTINUE);
	assert_int_equal(feed_hex(&t, COLDEF), TRK_EV_CONTINUE);
	assert_int_equal(feed_hex(&t, EOF_PLAIN), TRK_EV_CONTINUE);
	assert_int_equal(feed_hex(&t, ROW), TRK_EV_CONTINUE);
	assert_int_equal(feed_hex(&t, EOF_PLAIN), TRK_EV_DONE);

	assert_true(proto_tracker_begin(&t, COM_STMT_EXECUTE, CAPS));
	assert_int_equal(feed_hex(&t, "02 00"), TRK_EV_CONTINUE);
	assert_int_equal(t.state, TRK_COLUMNS_EOF);
	assert_int_equal(feed_hex(&t, EOF_PLAIN), TRK_EV_CONTINUE);
	assert_int_equal(feed_hex(&t, "00 00 01 31 01 32"), TRK_EV_CONTINUE);
	assert_int_equal(feed_hex(&t, EOF_PLAIN), TRK_EV_DONE);

	assert_true(proto_tracker_begin(&t, COM_STMT_EXECUTE, DEPR));
	assert_int_equal(feed_hex(&t, "02 00"), TRK_EV_CONTINUE);
	assert_int_equal(t.state, TRK_ROWS);
	assert_int_equal(feed_hex(&t, OKEOF_PLAIN), TRK_EV_DONE);

	assert_true(proto_tracker_begin(&t, COM_QUERY, CAPS));
	assert_int_equal(feed_hex(&t, "01 02"), TRK_EV_MALFORMED);
	assert_string_equal(last_err.what, "column count metadata flag");
	assert_int_equal(last_err.offset, 1);
	assert_true(proto_tracker_begin(&t, COM_QUERY, CAPS));
	assert_int_equal(feed_hex(&t, "01"), TRK_EV_MALFORMED);
	assert_string_equal(last_err.what, "column count metadata flag");
}

static void test_malformed_input(void **state)
{
	struct proto_tracker t = fresh();
	uint8_t b[4] = {0};

	assert_true(proto_tracker_begin(&t, COM_QUERY, CAPS));
	assert_int_equal(proto_tracker_feed(&t, b, 0, 0, &last_err), TRK_EV_MALFORMED);
	assert_string_equal(last_err.what, "empty server packet");
	assert_int_equal(proto_tracker_feed(&t, b, 4, 3, &last_err), TRK_EV_MALFORMED);
	assert_string_equal(last_err.what, "tracker input longer than the packet");
	assert_int_equal(proto_tracker_feed(&t, b, 0, 3, &last_err), TRK_EV_MALFORMED);
	assert_string_equal(last_err.what, "tracker input");

	/* Truncated OK, bad lenenc. */
	assert_int_equal(feed_hex(&t, "00 01"), TRK_EV_MALFORMED);
	assert_string_equal(last_err.what, "ok last insert id");
	assert_true(proto_tracker_begin(&t, COM_QUERY, CAPS));
	assert_int_equal(feed_hex(&t, "00 ff 00 00 00 00 00"), TRK_EV_MALFORMED);
	assert_string_equal(last_err.what, "ok affected rows");
	/* Column count followed by MariaDB's metadata-cache byte. */
	assert_true(proto_tracker_begin(&t, COM_QUERY, CAPS));
	assert_int_equal(feed_hex(&t, "02 01"), TRK_EV_MALFORMED);
	assert_string_equal(last_err.what, "column count trailing bytes");
	/* Truncated column count. */
	assert_true(proto_tracker_begin(&t, COM_QUERY, CAPS));
	assert_int_equal(feed_hex(&t, "fc 01"), TRK_EV_MALFORMED);
	assert_string_equal(last_err.what, "column count");
	/* An END, an OK or a row where a definition should be: the stream
	 * is out of step (a definition opens with catalog "def"). */
	const char *not_definitions[] = {EOF_PLAIN, "00 00 00 02 00 00 00", "01 31", "03 64 65"};
	for (size_t i = 0; i < sizeof(not_definitions) / sizeof(not_definitions[0]); i++) {
		assert_true(proto_tracker_begin(&t, COM_QUERY, CAPS));
		assert_int_equal(feed_hex(&t, "02"), TRK_EV_CONTINUE);
		assert_int_equal(feed_hex(&t, COLDEF), TRK_EV_CONTINUE);
		assert_int_equal(feed_hex(&t, not_definitions[i]), TRK_EV_MALFORMED);
		assert_string_equal(last_err.what, "column definition catalog");
		assert_int_equal(last_err.expected, 0x03);
	}
	/* The same in a COM_FIELD_LIST answer. */
	assert_true(proto_tracker_begin(&t, COM_FIELD_LIST, CAPS));
	assert_int_equal(feed_hex(&t, COLDEF), TRK_EV_CONTINUE);
	assert_int_equal(feed_hex(&t, "01 31"), TRK_EV_MALFORMED);
	assert_string_equal(last_err.what, "column definition catalog");
	/* Something else where the definitions' EOF should be. */
	assert_true(proto_tracker_begin(&t, COM_QUERY, CAPS));
	assert_int_equal(feed_hex(&t, "01"), TRK_EV_CONTINUE);
	assert_int_equal(feed_hex(&t, COLDEF), TRK_EV_CONTINUE);
	assert_int_equal(feed_hex(&t, ROW), TRK_EV_MALFORMED);
	assert_string_equal(last_err.what, "eof after definitions");
	/* EOF of a wrong length. */
	assert_true(proto_tracker_begin(&t, COM_QUERY, CAPS));
	feed_metadata(&t, 1, true);
	assert_int_equal(feed_hex(&t, "fe 00 00"), TRK_EV_MALFORMED);
	assert_string_equal(last_err.what, "eof status flags");
	/* The pre-4.1 one-byte EOF is accepted (no status in it). */
	assert_true(proto_tracker_begin(&t, COM_QUERY, CAPS));
	feed_metadata(&t, 1, true);
	assert_int_equal(feed_hex(&t, "fe"), TRK_EV_DONE);
	/* A truncated ERR. */
	assert_true(proto_tracker_begin(&t, COM_QUERY, CAPS));
	assert_int_equal(feed_hex(&t, "ff 01"), TRK_EV_MALFORMED);
	assert_string_equal(last_err.what, "err code");
	/* Every truncation of a real sequence is refused or consistent. */
	const char *seq[] = {"01", COLDEF, EOF_PLAIN, "01 31", EOF_PLAIN};
	for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
		uint8_t p[256];
		size_t n = hex_decode(seq[i], p, sizeof(p));
		for (size_t cut = 1; cut < n; cut++) {
			assert_true(proto_tracker_begin(&t, COM_QUERY, CAPS));
			for (size_t j = 0; j < i; j++)
				assert_int_equal(feed_hex(&t, seq[j]), TRK_EV_CONTINUE);
			uint8_t *c = exact_copy(p, cut);
			enum proto_tracker_event ev = proto_tracker_feed(&t, c, cut, cut, &last_err);
			if (ev == TRK_EV_MALFORMED)
				assert_error_sane(&last_err, cut);
			free(c);
		}
	}
}

static void test_state_names(void **state)
{
	for (int s = TRK_IDLE; s <= TRK_SINGLE; s++) {
		const char *name = proto_tracker_state_name((enum proto_tracker_state)s);
		assert_string_not_equal(name, "unknown");
		for (int o = TRK_IDLE; o < s; o++)
			assert_string_not_equal(name, proto_tracker_state_name((enum proto_tracker_state)o));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_query_ok_and_err),
		cmocka_unit_test(test_result_set_eof),
		cmocka_unit_test(test_result_set_deprecate_eof),
		cmocka_unit_test(test_deprecate_eof_long_end),
		cmocka_unit_test(test_call_multi_result),
		cmocka_unit_test(test_multi_statement),
		cmocka_unit_test(test_err_mid_result),
		cmocka_unit_test(test_huge_row_leading_fe),
		cmocka_unit_test(test_local_infile),
		cmocka_unit_test(test_local_infile_refused),
		cmocka_unit_test(test_prepare),
		cmocka_unit_test(test_execute_binary_rows),
		cmocka_unit_test(test_cursor),
		cmocka_unit_test(test_field_list),
		cmocka_unit_test(test_change_user),
		cmocka_unit_test(test_single_packet_commands),
		cmocka_unit_test(test_no_response_commands),
		cmocka_unit_test(test_progress_report),
		cmocka_unit_test(test_mariadb_cache_metadata),
		cmocka_unit_test(test_malformed_input),
		cmocka_unit_test(test_state_names),
	};
	return cmocka_run_group_tests_name("tracker", tests, NULL, NULL);
}
