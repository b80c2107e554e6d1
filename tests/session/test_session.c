/*
 * test_session.c - one acctgate session, in-process, between a scripted
 * client and a scripted MySQL server (harness.h): the login is relayed, the
 * responses of every shape come back byte for byte, and the proxy's own
 * refusals (oversized and malformed commands) are the ERRs clients know.
 *
 * Every scenario gets a fresh proxy, worker and scripted server (setup),
 * and its teardown fails it if the session outlives both peers closing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "session.h"
#include "worker.h"

/* The proxy's own error codes (session.c). */
#define ER_CON_COUNT_ERROR 1040
#define ER_UNKNOWN_COM_ERROR 1047
#define ER_SERVER_SHUTDOWN 1053
#define ER_UNKNOWN_ERROR 1105
#define ER_NET_PACKET_TOO_LARGE 1153
#define ER_NET_PACKETS_OUT_OF_ORDER 1156
#define ER_DUP_ENTRY 1062

#define MIB (1u << 20)

static int setup(void **state)
{
	*state = harness_new(NULL);
	return 0;
}

/* max_command_size at its minimum, 1 KiB. */
static int setup_small_commands(void **state)
{
	*state = harness_new("max_command_size = 1K\n");
	return 0;
}

/* max_connections = 1. */
static int setup_one_connection(void **state)
{
	*state = harness_new("max_connections = 1\n");
	return 0;
}

static int teardown(void **state) { return harness_free(*state) ? 0 : -1; }

/* The server sends `r`; the client must get exactly the same bytes. */
static void relay(struct harness *h, const struct harness_buf *r)
{
	harness_server_send(h, r->data, r->len);
	harness_client_expect_bytes(h, r->data, r->len);
}

static const char *const two_columns[] = {"id_job", "job_name"};
static const char *const two_rows[] = {"1001", "sim-a", "1002", NULL};

/* The server's handshake ends with an empty login (no user, no password)
 * and the close, and the session is gone: how acctgate ends a login it
 * will not carry on (see login_end_server_handshake). */
static void expect_empty_login_then_close(struct harness *h)
{
	uint8_t seq;
	size_t len;
	uint8_t *login = harness_server_read_packet(h, &seq, &len);
	assert_int_equal(seq, 1);
	struct proto_handshake_response r;
	assert_int_equal(proto_parse_handshake_response(login, len, &r, NULL), PROTO_OK);
	assert_int_equal(r.username.len, 0);
	assert_int_equal(r.auth_response.len, 0);
	free(login);
	harness_server_expect_close(h);
	harness_expect_no_session(h);
}

/* ------------------------------------------------------------------------
 * Connection phase
 * ------------------------------------------------------------------------ */

/* The greeting reaches the client with the server's version, connection
 * id, nonce, charset, status and plugin, and only what the proxy relays;
 * the client's HandshakeResponse41 reaches the server unchanged (seq 1)
 * and the server's OK (seq 2) the client. Spelled out step by step here;
 * harness_login does the same for the other scenarios. */
static void test_login_relayed(void **state)
{
	struct harness *h = *state;
	harness_start_session(h);
	harness_server_accept(h);
	assert_int_equal(h->accepted, 1);
	harness_server_greet(h);

	uint8_t seq;
	size_t len;
	uint8_t *g = harness_client_read_packet(h, &seq, &len);
	assert_int_equal(seq, 0);
	struct proto_handshake hs;
	assert_int_equal(proto_parse_handshake(g, len, &hs, NULL), PROTO_OK);
	assert_int_equal(hs.protocol_version, 10);
	assert_int_equal(hs.server_version.len, strlen(HARNESS_SERVER_VERSION));
	assert_memory_equal(hs.server_version.ptr, HARNESS_SERVER_VERSION, hs.server_version.len);
	assert_int_equal(hs.connection_id, HARNESS_CONNECTION_ID);
	uint8_t nonce[PROTO_SCRAMBLE_LEN];
	proto_handshake_scramble(&hs, nonce);
	assert_memory_equal(nonce, h->scramble, sizeof(nonce));
	assert_int_equal(hs.charset, HARNESS_SERVER_CHARSET);
	assert_int_equal(hs.status_flags, SERVER_STATUS_AUTOCOMMIT);
	assert_int_equal(hs.auth_plugin.len, strlen("mysql_native_password"));
	assert_memory_equal(hs.auth_plugin.ptr, "mysql_native_password", hs.auth_plugin.len);
	/* Masked: compression, query attributes, LOCAL INFILE (off), and no
	 * TLS offered (client_tls = disabled). */
	assert_int_equal(hs.capabilities, HARNESS_ADVERTISED_CAPS);
	assert_int_equal(hs.capabilities & (CLIENT_SSL | CLIENT_LOCAL_FILES | CLIENT_COMPRESS), 0);
	free(g);

	h->caps = HARNESS_CLIENT_CAPS;
	struct harness_buf resp;
	harness_buf_init(&resp, 0);
	harness_handshake_response(h, h->caps, &resp);
	harness_client_send_packet(h, 1, resp.data, resp.len);
	harness_server_expect_packet(h, 1, resp.data, resp.len);
	harness_buf_free(&resp);

	struct harness_buf ok;
	harness_buf_init(&ok, 2);
	harness_buf_ok(&ok, h->caps, 0x00, SERVER_STATUS_AUTOCOMMIT, 0, NULL);
	relay(h, &ok);
	harness_buf_free(&ok);

	harness_ping(h);
	assert_int_equal(harness_nsessions(h), 1);
	assert_int_equal(h->accepted, 1);
}

/* A client that claims capabilities it was not offered (compression,
 * LOCAL INFILE, TLS): the server gets the response without them. */
static void test_login_unoffered_caps_dropped(void **state)
{
	struct harness *h = *state;
	harness_start_session(h);
	harness_server_accept(h);
	harness_server_greet(h);
	uint8_t seq;
	size_t len;
	free(harness_client_read_packet(h, &seq, &len));

	uint32_t extra = CLIENT_COMPRESS | CLIENT_LOCAL_FILES | CLIENT_SSL | CLIENT_QUERY_ATTRIBUTES;
	struct harness_buf sent, want;
	harness_buf_init(&sent, 0);
	harness_buf_init(&want, 0);
	harness_handshake_response(h, HARNESS_CLIENT_CAPS | extra, &sent);
	harness_handshake_response(h, HARNESS_CLIENT_CAPS, &want);
	harness_client_send_packet(h, 1, sent.data, sent.len);
	harness_server_expect_packet(h, 1, want.data, want.len);
	harness_buf_free(&sent);
	harness_buf_free(&want);
}

/* A HandshakeResponse41 with sequence id 2 instead of 1: ERR 1156 (seq 2,
 * after the id the client used), and the server's half-done handshake is
 * ended with an empty login (end_server_handshake) before the close. */
static void test_handshake_wrong_sequence_id(void **state)
{
	struct harness *h = *state;
	harness_start_session(h);
	harness_server_accept(h);
	harness_server_greet(h);
	uint8_t seq;
	size_t len;
	free(harness_client_read_packet(h, &seq, &len));

	struct harness_buf resp;
	harness_buf_init(&resp, 0);
	harness_handshake_response(h, HARNESS_CLIENT_CAPS, &resp);
	harness_client_send_packet(h, 2, resp.data, resp.len);
	harness_buf_free(&resp);
	harness_client_expect_err(h, 2, ER_NET_PACKETS_OUT_OF_ORDER, NULL, 0);
	harness_client_expect_close(h);

	expect_empty_login_then_close(h);
}

/* The client leaves after the greeting, before its login: the server's
 * handshake is ended with an empty login rather than dropped (a dropped
 * one counts against the server's max_connect_errors for acctgate's host). */
static void test_client_leaves_before_login(void **state)
{
	struct harness *h = *state;
	harness_start_session(h);
	harness_server_accept(h);
	harness_server_greet(h);
	uint8_t seq;
	size_t len;
	free(harness_client_read_packet(h, &seq, &len));
	harness_client_close(h);
	expect_empty_login_then_close(h);
}

/* A server that refuses before its greeting ("Too many connections"): the
 * client reads the server's own ERR (seq 0), then the close. */
static void test_server_refuses_before_greeting(void **state)
{
	struct harness *h = *state;
	harness_start_session(h);
	harness_server_accept(h);
	struct harness_buf e;
	harness_buf_init(&e, 0);
	harness_buf_err(&e, ER_CON_COUNT_ERROR, "08004", "Too many connections");
	harness_server_send(h, e.data, e.len);
	harness_client_expect_bytes(h, e.data, e.len);
	harness_buf_free(&e);
	harness_client_expect_close(h);
	harness_expect_no_session(h);
}

/* No server listening: ERR 1105 (seq 0) naming what was tried, then close. */
static void test_upstream_unreachable(void **state)
{
	struct harness *h = *state;
	harness_close_listener(h);
	harness_start_session(h);
	char msg[512];
	harness_client_expect_err(h, 0, ER_UNKNOWN_ERROR, msg, sizeof(msg));
	assert_non_null(strstr(msg, "no database server reachable"));
	harness_client_expect_close(h);
	harness_expect_no_session(h);
}

/* One session over max_connections: ERR 1040 (seq 0) before any server
 * connection is made. */
static void test_max_connections(void **state)
{
	struct harness *h = *state;
	atomic_fetch_add(&h->gate.connections, 1); /* another session holds the only slot */
	harness_start_session(h);
	harness_client_expect_err(h, 0, ER_CON_COUNT_ERROR, NULL, 0);
	harness_client_expect_close(h);
	harness_expect_no_session(h);
	assert_int_equal(h->accepted, 0);
	assert_int_equal(atomic_load(&h->gate.connections), 1);
	atomic_fetch_sub(&h->gate.connections, 1);
}

/* ------------------------------------------------------------------------
 * Responses, relayed byte for byte
 * ------------------------------------------------------------------------ */

/* Column count, 2 definitions, EOF (not under DEPRECATE_EOF), 2 rows (one
 * with a NULL), then EOF or OK-as-EOF. */
static void result_set(struct harness *h, uint32_t caps)
{
	harness_login(h, caps);
	harness_query(h, "SELECT id_job, job_name FROM job_table");
	struct harness_buf r;
	harness_buf_init(&r, 1);
	harness_buf_result_set(&r, h->caps, 2, two_columns, 2, two_rows, SERVER_STATUS_AUTOCOMMIT);
	relay(h, &r);
	harness_buf_free(&r);
	harness_ping(h);
}

static void test_result_set_eof(void **state) { result_set(*state, HARNESS_CLIENT_CAPS); }

static void test_result_set_deprecate_eof(void **state)
{
	result_set(*state, HARNESS_CLIENT_CAPS | CLIENT_DEPRECATE_EOF);
}

/* 300 rows: the sequence ids wrap past 255 within one response. */
static void test_result_set_seq_wraps(void **state)
{
	struct harness *h = *state;
	harness_login(h, HARNESS_CLIENT_CAPS);
	harness_query(h, "SELECT id_job, job_name FROM job_table");
	struct harness_buf r;
	harness_buf_init(&r, 1);
	const char **rows = calloc(600, sizeof(*rows));
	assert_non_null(rows);
	for (size_t i = 0; i < 600; i++)
		rows[i] = two_rows[i % 4];
	harness_buf_result_set(&r, h->caps, 2, two_columns, 300, rows, SERVER_STATUS_AUTOCOMMIT);
	free(rows);
	relay(h, &r);
	harness_buf_free(&r);
	harness_ping(h);
}

/* "SELECT ...; SELECT ..." with CLIENT_MULTI_STATEMENTS: the first result
 * ends with SERVER_MORE_RESULTS_EXISTS, the second does not; a third
 * statement's plain OK closes the response. */
static void multi_result(struct harness *h, uint32_t caps)
{
	harness_login(h, caps);
	harness_query(h, "SELECT id_job, job_name FROM job_table; SELECT id_job, job_name FROM job_table; DO 1");
	struct harness_buf r;
	harness_buf_init(&r, 1);
	harness_buf_result_set(&r, h->caps, 2, two_columns, 2, two_rows,
			       SERVER_STATUS_AUTOCOMMIT | SERVER_MORE_RESULTS_EXISTS);
	/* Sequence ids run on across the results of one response: the
	 * buffer numbers them so. */
	harness_buf_result_set(&r, h->caps, 2, two_columns, 1, two_rows,
			       SERVER_STATUS_AUTOCOMMIT | SERVER_MORE_RESULTS_EXISTS);
	harness_buf_ok(&r, h->caps, 0x00, SERVER_STATUS_AUTOCOMMIT, 0, NULL);
	relay(h, &r);
	harness_buf_free(&r);
	harness_ping(h);
}

static void test_multi_result_eof(void **state) { multi_result(*state, HARNESS_CLIENT_CAPS); }

static void test_multi_result_deprecate_eof(void **state)
{
	multi_result(*state, HARNESS_CLIENT_CAPS | CLIENT_DEPRECATE_EOF);
}

/* CALL of a procedure that selects: its result set ends with
 * SERVER_MORE_RESULTS_EXISTS and the CALL's own OK follows. Relayed in
 * two writes, split inside the OK's header, so the proxy cannot rely on
 * the response arriving whole. */
static void call_result(struct harness *h, uint32_t caps)
{
	harness_login(h, caps);
	harness_query(h, "CALL get_jobs()");
	struct harness_buf r;
	harness_buf_init(&r, 1);
	harness_buf_result_set(&r, h->caps, 2, two_columns, 2, two_rows,
			       SERVER_STATUS_AUTOCOMMIT | SERVER_MORE_RESULTS_EXISTS);
	size_t split = r.len + 2;
	harness_buf_ok(&r, h->caps, 0x00, SERVER_STATUS_AUTOCOMMIT, 0, NULL);
	harness_server_send(h, r.data, split);
	harness_client_expect_bytes(h, r.data, split - 2);
	harness_expect_quiet(h, HARNESS_QUIET_MS / 2);
	harness_server_send(h, r.data + split, r.len - split);
	harness_client_expect_bytes(h, r.data + split - 2, r.len - split + 2);
	harness_buf_free(&r);
	harness_ping(h);
}

static void test_call_result_then_ok_eof(void **state) { call_result(*state, HARNESS_CLIENT_CAPS); }

static void test_call_result_then_ok_deprecate_eof(void **state)
{
	call_result(*state, HARNESS_CLIENT_CAPS | CLIENT_DEPRECATE_EOF);
}

/* Two commands in one write: the second waits in the proxy until the
 * first's response is complete (session.c: "a pipelined command waits in
 * the buffer"), then goes; both answers reach the client in order. */
static void test_pipelined_commands(void **state)
{
	struct harness *h = *state;
	harness_login(h, HARNESS_CLIENT_CAPS);
	static const char q1[] = "\x03SELECT id_job, job_name FROM job_table";
	static const char q2[] = "\x03UPDATE job_table SET state = 3 WHERE id_job = 1001";
	struct harness_buf both;
	harness_buf_init(&both, 0);
	harness_buf_packet(&both, q1, sizeof(q1) - 1);
	both.seq = 0;
	harness_buf_packet(&both, q2, sizeof(q2) - 1);
	harness_client_send(h, both.data, both.len);
	harness_buf_free(&both);

	harness_server_expect_command(h, q1, sizeof(q1) - 1);
	harness_expect_quiet(h, HARNESS_QUIET_MS);
	struct harness_buf r1, r2;
	harness_buf_init(&r1, 1);
	harness_buf_result_set(&r1, h->caps, 2, two_columns, 2, two_rows, SERVER_STATUS_AUTOCOMMIT);
	harness_buf_init(&r2, 1);
	harness_buf_ok(&r2, h->caps, 0x00, SERVER_STATUS_AUTOCOMMIT, 1, "Rows matched: 1  Changed: 1  Warnings: 0");
	harness_server_send(h, r1.data, r1.len);
	harness_server_expect_command(h, q2, sizeof(q2) - 1);
	harness_server_send(h, r2.data, r2.len);
	harness_client_expect_bytes(h, r1.data, r1.len);
	harness_client_expect_bytes(h, r2.data, r2.len);
	harness_buf_free(&r1);
	harness_buf_free(&r2);
	harness_ping(h);
}

/* BEGIN (OK, IN_TRANS), then a statement that fails: the client gets the
 * server's ERR unchanged, and the session goes on (ROLLBACK). (A deadlock
 * is run again first: test_redo.) */
static void test_err_in_transaction(void **state)
{
	struct harness *h = *state;
	harness_login(h, HARNESS_CLIENT_CAPS);
	struct harness_buf r;

	harness_query(h, "BEGIN");
	harness_buf_init(&r, 1);
	harness_buf_ok(&r, h->caps, 0x00, SERVER_STATUS_AUTOCOMMIT | SERVER_STATUS_IN_TRANS, 0, NULL);
	relay(h, &r);
	harness_buf_free(&r);

	harness_query(h, "INSERT INTO job_table (id_job) VALUES (1001)");
	harness_buf_init(&r, 1);
	harness_buf_err(&r, ER_DUP_ENTRY, "23000", "Duplicate entry '1001' for key 'PRIMARY'");
	relay(h, &r);
	harness_buf_free(&r);

	harness_query(h, "ROLLBACK");
	harness_buf_init(&r, 1);
	harness_buf_ok(&r, h->caps, 0x00, SERVER_STATUS_AUTOCOMMIT, 0, NULL);
	relay(h, &r);
	harness_buf_free(&r);
	harness_ping(h);
}

/* An ERR where a row was expected (a query killed mid-result) ends the
 * response: relayed unchanged, the session goes on. */
static void test_err_mid_result(void **state)
{
	struct harness *h = *state;
	harness_login(h, HARNESS_CLIENT_CAPS);
	harness_query(h, "SELECT id_job, job_name FROM job_table");
	struct harness_buf r;
	harness_buf_init(&r, 1);
	harness_buf_column_count(&r, 2);
	harness_buf_column_def(&r, two_columns[0]);
	harness_buf_column_def(&r, two_columns[1]);
	harness_buf_eof(&r, SERVER_STATUS_AUTOCOMMIT);
	harness_buf_text_row(&r, 2, two_rows);
	harness_buf_err(&r, 1317, "70100", "Query execution was interrupted");
	relay(h, &r);
	harness_buf_free(&r);
	harness_ping(h);
}

/* COM_STMT_CLOSE has no answer: the command after it in the same write
 * goes on at once. */
static void test_no_response_command_then_pipelined(void **state)
{
	struct harness *h = *state;
	harness_login(h, HARNESS_CLIENT_CAPS);
	static const uint8_t close_stmt[] = {COM_STMT_CLOSE, 7, 0, 0, 0};
	static const uint8_t ping[] = {COM_PING};
	struct harness_buf both;
	harness_buf_init(&both, 0);
	harness_buf_packet(&both, close_stmt, sizeof(close_stmt));
	both.seq = 0;
	harness_buf_packet(&both, ping, sizeof(ping));
	harness_client_send(h, both.data, both.len);
	harness_buf_free(&both);
	harness_server_expect_command(h, close_stmt, sizeof(close_stmt));
	harness_server_expect_command(h, ping, sizeof(ping));
	struct harness_buf ok;
	harness_buf_init(&ok, 1);
	harness_buf_ok(&ok, h->caps, 0x00, SERVER_STATUS_AUTOCOMMIT, 0, NULL);
	relay(h, &ok);
	harness_buf_free(&ok);
}

/* COM_CHANGE_USER with an auth switch: the server's AuthSwitchRequest
 * reaches the client, the client's answer the server (seq 2), the OK the
 * client; the session is back to commands. */
static void test_change_user_auth_switch(void **state)
{
	struct harness *h = *state;
	harness_login(h, HARNESS_CLIENT_CAPS);
	struct harness_buf cmd;
	harness_buf_init(&cmd, 0);
	harness_buf_raw(&cmd, "\x11slurm2\0", 8);
	harness_buf_raw(&cmd, "\x14", 1);
	harness_buf_raw(&cmd, "auth-response-bytes!", 20);
	harness_buf_raw(&cmd, "slurm_acct_db\0", 14);
	harness_buf_raw(&cmd, "\x2d\x00", 2);
	harness_buf_raw(&cmd, "mysql_native_password\0", 22);
	harness_client_send_packet(h, 0, cmd.data, cmd.len);
	harness_server_expect_command(h, cmd.data, cmd.len);
	harness_buf_free(&cmd);

	struct harness_buf sw;
	harness_buf_init(&sw, 1);
	harness_buf_packet(&sw, "\xfemysql_native_password\0NeW-ScRaMbLe-0123456\0", 1 + 22 + 21);
	relay(h, &sw);
	harness_buf_free(&sw);
	harness_client_send_packet(h, 2, "new-auth-response-20", 20);
	harness_server_expect_packet(h, 2, "new-auth-response-20", 20);
	struct harness_buf ok;
	harness_buf_init(&ok, 3);
	harness_buf_ok(&ok, h->caps, 0x00, SERVER_STATUS_AUTOCOMMIT, 0, NULL);
	relay(h, &ok);
	harness_buf_free(&ok);
	harness_ping(h);
}

/* ------------------------------------------------------------------------
 * Large packets (more than one 0xFFFFFF chunk)
 * ------------------------------------------------------------------------ */

/* A COM_QUERY payload of `n` bytes, recognisable at every offset. */
static uint8_t *big_query(size_t n)
{
	uint8_t *p = malloc(n);
	assert_non_null(p);
	p[0] = COM_QUERY;
	for (size_t i = 1; i < n; i++)
		p[i] = (uint8_t)('a' + (i * 7 + i / 4093) % 26);
	return p;
}

static void big_command(struct harness *h, size_t n)
{
	harness_login(h, HARNESS_CLIENT_CAPS);
	uint8_t *cmd = big_query(n);
	harness_client_send_packet(h, 0, cmd, n);
	harness_server_expect_command(h, cmd, n);
	free(cmd);
	struct harness_buf r;
	harness_buf_init(&r, (uint8_t)(n / PROTO_MAX_CHUNK + 1)); /* after the command's chunks */
	harness_buf_ok(&r, h->caps, 0x00, SERVER_STATUS_AUTOCOMMIT, 1, NULL);
	relay(h, &r);
	harness_buf_free(&r);
	harness_ping(h);
}

/* 20 MiB: a full chunk (seq 0) and the rest (seq 1). */
static void test_command_20mib(void **state) { big_command(*state, 20 * MIB); }

/* Exactly 0xFFFFFF bytes: a full chunk, then an empty one ends it. */
static void test_command_one_full_chunk(void **state) { big_command(*state, PROTO_MAX_CHUNK); }

/* One text row holding a single `n`-byte value. */
static void big_row(struct harness *h, size_t n)
{
	harness_login(h, HARNESS_CLIENT_CAPS);
	harness_query(h, "SELECT blob FROM big");
	struct harness_buf r, row;
	harness_buf_init(&r, 1);
	harness_buf_column_count(&r, 1);
	harness_buf_column_def(&r, "blob");
	harness_buf_eof(&r, SERVER_STATUS_AUTOCOMMIT);
	harness_buf_init(&row, 0);
	uint8_t lenenc[9];
	struct proto_writer w;
	proto_writer_init(&w, lenenc, sizeof(lenenc));
	proto_write_lenenc(&w, n);
	harness_buf_raw(&row, lenenc, w.len);
	uint8_t *value = big_query(n);
	harness_buf_raw(&row, value, n);
	free(value);
	harness_buf_packet(&r, row.data, row.len);
	harness_buf_free(&row);
	harness_buf_eof(&r, SERVER_STATUS_AUTOCOMMIT);
	relay(h, &r);
	harness_buf_free(&r);
	harness_ping(h);
}

/* 20 MiB: the row starts with 0xFE (an 8-byte length), which must not be
 * taken for an EOF, and streams through the proxy's 4 MiB backpressure. */
static void test_row_20mib(void **state) { big_row(*state, 20 * MIB); }

/* A row of exactly 0xFFFFFF bytes: a full chunk and an empty one. */
static void test_row_one_full_chunk(void **state) { big_row(*state, PROTO_MAX_CHUNK - 4); }

/* ------------------------------------------------------------------------
 * The proxy's own refusals
 * ------------------------------------------------------------------------ */

/* A session ended between commands ends its server session as a client
 * would: COM_QUIT, then the close (not an aborted connection). */
static void expect_server_quit_at(struct harness *h, const char *file, int line)
{
	static const uint8_t quit[] = {COM_QUIT};
	harness_expect_packet_at(h, &h->server, 0, quit, sizeof(quit), file, line);
	harness_expect_close_at(h, &h->server, file, line);
}
#define expect_server_quit(h) expect_server_quit_at((h), __FILE__, __LINE__)

/* A 2000-byte command over max_command_size = 1K: ERR 1153 at once (seq
 * 1), the session closes, and nothing of it reaches the server. */
static void test_command_over_max_size(void **state)
{
	struct harness *h = *state;
	harness_login(h, HARNESS_CLIENT_CAPS);
	uint8_t *cmd = big_query(2000);
	harness_client_send_packet(h, 0, cmd, 2000);
	free(cmd);
	harness_client_expect_err(h, 1, ER_NET_PACKET_TOO_LARGE, NULL, 0);
	harness_client_expect_close(h);
	expect_server_quit(h);
	harness_expect_no_session(h);
}

/* The same limit applies before the whole packet arrived: a header
 * announcing 2000 bytes is enough. */
static void test_command_over_max_size_header_only(void **state)
{
	struct harness *h = *state;
	harness_login(h, HARNESS_CLIENT_CAPS);
	uint8_t hdr[PROTO_HEADER_LEN + 1];
	proto_frame_write_header(hdr, 2000, 0);
	hdr[PROTO_HEADER_LEN] = COM_QUERY;
	harness_client_send(h, hdr, sizeof(hdr));
	harness_client_expect_err(h, 1, ER_NET_PACKET_TOO_LARGE, NULL, 0);
	harness_client_expect_close(h);
	expect_server_quit(h);
}

/* A command with sequence id 3 (a command starts at 0): ERR 1156, close;
 * nothing reaches the server. */
static void test_command_wrong_sequence_id(void **state)
{
	struct harness *h = *state;
	harness_login(h, HARNESS_CLIENT_CAPS);
	harness_client_send_packet(h, 3, "\x03SELECT 1", 9);
	harness_client_expect_err(h, 1, ER_NET_PACKETS_OUT_OF_ORDER, NULL, 0);
	harness_client_expect_close(h);
	expect_server_quit(h);
	harness_expect_no_session(h);
}

/* A two-chunk command whose second chunk repeats sequence id 0. */
static void test_command_wrong_sequence_id_in_second_chunk(void **state)
{
	struct harness *h = *state;
	harness_login(h, HARNESS_CLIENT_CAPS);
	uint8_t *cmd = big_query(PROTO_MAX_CHUNK + 10);
	struct harness_buf wire;
	harness_buf_init(&wire, 0);
	harness_buf_packet(&wire, cmd, PROTO_MAX_CHUNK + 10);
	free(cmd);
	wire.data[PROTO_HEADER_LEN + PROTO_MAX_CHUNK + 3] = 0; /* the second chunk's seq: 1 -> 0 */
	harness_client_send(h, wire.data, wire.len);
	harness_buf_free(&wire);
	harness_client_expect_err(h, 1, ER_NET_PACKETS_OUT_OF_ORDER, NULL, 0);
	harness_client_expect_close(h);
	expect_server_quit(h);
}

/* An empty command packet: ERR 1156, close. */
static void test_empty_command(void **state)
{
	struct harness *h = *state;
	harness_login(h, HARNESS_CLIENT_CAPS);
	harness_client_send_packet(h, 0, "", 0);
	harness_client_expect_err(h, 1, ER_NET_PACKETS_OUT_OF_ORDER, NULL, 0);
	harness_client_expect_close(h);
	expect_server_quit(h);
}

/* COM_BINLOG_DUMP would turn the session into a replication stream: ERR
 * 1047 from the proxy, nothing to the server, and the session goes on. */
static void test_refused_command(void **state)
{
	struct harness *h = *state;
	harness_login(h, HARNESS_CLIENT_CAPS);
	static const uint8_t dump[] = {COM_BINLOG_DUMP, 4, 0, 0, 0, 0, 0, 1, 0, 0, 0};
	harness_client_send_packet(h, 0, dump, sizeof(dump));
	harness_client_expect_err(h, 1, ER_UNKNOWN_COM_ERROR, NULL, 0);
	harness_expect_quiet(h, HARNESS_QUIET_MS);
	harness_ping(h);
}

/* ------------------------------------------------------------------------
 * Closing
 * ------------------------------------------------------------------------ */

/* The server drops the connection after the column definitions: the client
 * gets what was sent and then the close (no ERR is invented). */
static void test_server_closes_mid_result(void **state)
{
	struct harness *h = *state;
	harness_login(h, HARNESS_CLIENT_CAPS);
	harness_query(h, "SELECT id_job, job_name FROM job_table");
	struct harness_buf r;
	harness_buf_init(&r, 1);
	harness_buf_column_count(&r, 2);
	harness_buf_column_def(&r, two_columns[0]);
	harness_buf_column_def(&r, two_columns[1]);
	harness_buf_eof(&r, SERVER_STATUS_AUTOCOMMIT);
	harness_buf_text_row(&r, 2, two_rows);
	relay(h, &r);
	harness_buf_free(&r);
	harness_server_close(h);
	harness_client_expect_close(h);
	harness_expect_no_session(h);
}

/* The client goes away while a 20 MiB row streams to it: the session
 * closes the server leg too, whatever was still queued. */
static void test_client_closes_mid_result(void **state)
{
	struct harness *h = *state;
	harness_login(h, HARNESS_CLIENT_CAPS);
	harness_query(h, "SELECT blob FROM big");
	struct harness_buf r;
	harness_buf_init(&r, 1);
	harness_buf_column_count(&r, 1);
	harness_buf_column_def(&r, "blob");
	harness_buf_eof(&r, SERVER_STATUS_AUTOCOMMIT);
	size_t head = r.len;
	uint8_t *row = big_query(20 * MIB);
	row[0] = 0xFE; /* lenenc: 8-byte length follows */
	uint64_t n = 20 * MIB - 9;
	for (int i = 0; i < 8; i++)
		row[1 + i] = (uint8_t)(n >> (8 * i));
	harness_buf_packet(&r, row, 20 * MIB);
	free(row);
	harness_server_send(h, r.data, r.len);
	harness_client_expect_bytes(h, r.data, head);
	harness_buf_free(&r);
	harness_client_close(h);
	harness_server_expect_close(h);
	harness_expect_no_session(h);
}

/* An ERR the server sends unasked while the session is idle (shutting
 * down, or killing the connection) reaches the client before the close. */
static void test_server_err_while_idle(void **state)
{
	struct harness *h = *state;
	harness_login(h, HARNESS_CLIENT_CAPS);
	struct harness_buf e;
	harness_buf_init(&e, 0);
	harness_buf_err(&e, ER_SERVER_SHUTDOWN, "08S01", "Server shutdown in progress");
	harness_server_send(h, e.data, e.len);
	harness_client_expect_bytes(h, e.data, e.len);
	harness_buf_free(&e);
	harness_server_close(h);
	harness_client_expect_close(h);
	harness_expect_no_session(h);
}

/* A drain (SIGTERM) of an idle session outside a transaction closes it
 * at once. */
static void test_drain_idle(void **state)
{
	struct harness *h = *state;
	harness_login(h, HARNESS_CLIENT_CAPS);
	session_request_drain(h->worker->sessions);
	harness_client_expect_close(h);
	expect_server_quit(h);
	harness_expect_no_session(h);
}

/* A drain inside a transaction waits for it to end: the COMMIT goes
 * through and its OK reaches the client, then both legs close. */
static void test_drain_waits_for_transaction(void **state)
{
	struct harness *h = *state;
	harness_login(h, HARNESS_CLIENT_CAPS);
	struct harness_buf r;
	harness_query(h, "BEGIN");
	harness_buf_init(&r, 1);
	harness_buf_ok(&r, h->caps, 0x00, SERVER_STATUS_AUTOCOMMIT | SERVER_STATUS_IN_TRANS, 0, NULL);
	relay(h, &r);
	harness_buf_free(&r);

	session_request_drain(h->worker->sessions);
	harness_expect_quiet(h, HARNESS_QUIET_MS);
	assert_int_equal(harness_nsessions(h), 1);
	harness_query(h, "COMMIT");
	harness_buf_init(&r, 1);
	harness_buf_ok(&r, h->caps, 0x00, SERVER_STATUS_AUTOCOMMIT, 0, NULL);
	relay(h, &r);
	harness_buf_free(&r);
	harness_client_expect_close(h);
	expect_server_quit(h);
	harness_expect_no_session(h);
}

/* COM_QUIT goes to the server, and both legs close. */
static void test_com_quit(void **state)
{
	struct harness *h = *state;
	harness_login(h, HARNESS_CLIENT_CAPS);
	static const uint8_t quit[] = {COM_QUIT};
	harness_client_send_packet(h, 0, quit, sizeof(quit));
	harness_server_expect_command(h, quit, sizeof(quit));
	harness_server_expect_close(h);
	harness_client_expect_close(h);
	harness_expect_no_session(h);
}

/* The client goes away while idle: the server leg closes too. */
static void test_client_closes_idle(void **state)
{
	struct harness *h = *state;
	harness_login(h, HARNESS_CLIENT_CAPS);
	harness_client_close(h);
	expect_server_quit(h);
	harness_expect_no_session(h);
}

/* ------------------------------------------------------------------------
 * Client input while a command is in flight
 * ------------------------------------------------------------------------ */

/*
 * A client that pipelines (or floods) while a command is in flight is held
 * by its own socket, as it would be by a MySQL server that reads one
 * command at a time: acctgate reads ahead at most PIPELINE_AHEAD_MAX
 * (session.c) while the command runs. Here 32 MiB of 1000-byte commands
 * under max_command_size = 1K arrive during a SLEEP.
 */
static void test_pipelined_input_bounded(void **state)
{
	struct harness *h = *state;
	harness_login(h, HARNESS_CLIENT_CAPS);
	harness_query(h, "SELECT SLEEP(10)");
	uint8_t *cmd = big_query(1000);
	struct harness_buf flood;
	harness_buf_init(&flood, 0);
	for (int i = 0; i < 32 * 1024; i++) {
		flood.seq = 0;
		harness_buf_packet(&flood, cmd, 1000);
	}
	free(cmd);
	harness_client_send(h, flood.data, flood.len);
	size_t total = flood.len;
	harness_buf_free(&flood);
	harness_expect_quiet(h, 1000); /* nothing is forwarded meanwhile */
	size_t taken = total - harness_unsent(&h->client);
	/* Socket buffers and one read's worth: far below what was sent. */
	assert_true(taken < 4 * MIB);
}

/* ------------------------------------------------------------------------
 * LOCAL INFILE with local_infile = off
 * ------------------------------------------------------------------------ */

/*
 * With local_infile = off the proxy offers no CLIENT_LOCAL_FILES, and a
 * server that asks for a file anyway (0xFB + file name: the hostile or
 * impersonated server the setting exists for) is refused: the server gets
 * an empty file, which ends its statement, and the client an ERR 1148 at
 * the request's sequence id, without the file name ever reaching it.
 */
static void test_local_infile_off_refused(void **state)
{
	struct harness *h = *state;
	harness_login(h, HARNESS_CLIENT_CAPS);
	harness_query(h, "LOAD DATA LOCAL INFILE '/etc/passwd' INTO TABLE t");
	static const char request[] = "\xfb/etc/passwd";
	harness_server_send_packet(h, 1, request, sizeof(request) - 1);
	harness_server_expect_packet(h, 2, "", 0);
	struct harness_buf ok;
	harness_buf_init(&ok, 3);
	harness_buf_ok(&ok, h->caps, 0x00, SERVER_STATUS_AUTOCOMMIT, 0, NULL);
	harness_server_send(h, ok.data, ok.len);
	harness_buf_free(&ok);
	char msg[200];
	harness_client_expect_err(h, 1, 1148, msg, sizeof(msg));
	assert_null(strstr(msg, "/etc/passwd"));
	/* The session goes on. */
	harness_ping(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_login_relayed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_login_unoffered_caps_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_handshake_wrong_sequence_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_leaves_before_login, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_refuses_before_greeting, setup, teardown),
		cmocka_unit_test_setup_teardown(test_upstream_unreachable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_max_connections, setup_one_connection, teardown),
		cmocka_unit_test_setup_teardown(test_result_set_eof, setup, teardown),
		cmocka_unit_test_setup_teardown(test_result_set_deprecate_eof, setup, teardown),
		cmocka_unit_test_setup_teardown(test_result_set_seq_wraps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_multi_result_eof, setup, teardown),
		cmocka_unit_test_setup_teardown(test_multi_result_deprecate_eof, setup, teardown),
		cmocka_unit_test_setup_teardown(test_call_result_then_ok_eof, setup, teardown),
		cmocka_unit_test_setup_teardown(test_call_result_then_ok_deprecate_eof, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pipelined_commands, setup, teardown),
		cmocka_unit_test_setup_teardown(test_err_in_transaction, setup, teardown),
		cmocka_unit_test_setup_teardown(test_err_mid_result, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_response_command_then_pipelined, setup, teardown),
		cmocka_unit_test_setup_teardown(test_change_user_auth_switch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_command_20mib, setup, teardown),
		cmocka_unit_test_setup_teardown(test_command_one_full_chunk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_row_20mib, setup, teardown),
		cmocka_unit_test_setup_teardown(test_row_one_full_chunk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_command_over_max_size, setup_small_commands, teardown),
		cmocka_unit_test_setup_teardown(test_command_over_max_size_header_only, setup_small_commands, teardown),
		cmocka_unit_test_setup_teardown(test_command_wrong_sequence_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_command_wrong_sequence_id_in_second_chunk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_command, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused_command, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_closes_mid_result, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_closes_mid_result, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_err_while_idle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drain_idle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drain_waits_for_transaction, setup, teardown),
		cmocka_unit_test_setup_teardown(test_com_quit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_closes_idle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pipelined_input_bounded, setup_small_commands, teardown),
		cmocka_unit_test_setup_teardown(test_local_infile_off_refused, setup, teardown),
	};
	return cmocka_run_group_tests_name("session", tests, NULL, NULL);
}
