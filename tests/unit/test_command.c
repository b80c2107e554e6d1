/*
 * test_command.c - every struct proto_command variant round-trips, the
 * COM_CHANGE_USER layouts follow the capabilities, and malformed commands
 * are refused with the field named.
 */
#include "test_util.h"

#define CAPS (CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH | CLIENT_CONNECT_ATTRS)

static void command_round_trip(const uint8_t *p, size_t len, uint32_t caps, struct proto_command *out)
{
	uint8_t *c = exact_copy(p, len);
	struct proto_error err = {0};
	if (proto_parse_command(c, len, caps, out, &err) != PROTO_OK)
		fail_msg("%s at %zu (expected %llu, got %llu)", err.what, err.offset, (unsigned long long)err.expected,
			 (unsigned long long)err.actual);
	uint8_t buf[512];
	struct proto_writer w;
	proto_writer_init(&w, buf, sizeof(buf));
	assert_true(proto_write_command(&w, caps, out));
	assert_int_equal(w.len, len);
	assert_memory_equal(buf, p, len);
	/* Every prefix fails with a reason, or is a valid shorter command. */
	for (size_t cut = 0; cut < len; cut++) {
		struct proto_command o2;
		if (proto_parse_command(c, cut, caps, &o2, &err) != PROTO_OK)
			assert_error_sane(&err, cut);
	}
	/* Re-parse (the slices in *out point into c, so keep p's copy). */
	assert_int_equal(proto_parse_command(p, len, caps, out, NULL), PROTO_OK);
	free(c);
}

static void assert_slice(struct proto_slice s, const char *text)
{
	assert_int_equal(s.len, strlen(text));
	assert_memory_equal(s.ptr, text, s.len);
}

static void test_text_commands(void **state)
{
	struct proto_command cmd;
	const uint8_t q[] = "\x03SET autocommit=0";
	command_round_trip(q, sizeof(q) - 1, CAPS, &cmd);
	assert_int_equal(cmd.code, COM_QUERY);
	assert_slice(cmd.u.query.sql, "SET autocommit=0");
	const uint8_t prep[] = "\x16SELECT ?";
	command_round_trip(prep, sizeof(prep) - 1, CAPS, &cmd);
	assert_slice(cmd.u.query.sql, "SELECT ?");
	const uint8_t db[] = "\x02slurm_acct_db";
	command_round_trip(db, sizeof(db) - 1, CAPS, &cmd);
	assert_slice(cmd.u.init_db.schema, "slurm_acct_db");
	const uint8_t fl[] = "\x04user_table\0na%";
	command_round_trip(fl, sizeof(fl) - 1, CAPS, &cmd);
	assert_slice(cmd.u.field_list.table, "user_table");
	assert_slice(cmd.u.field_list.wildcard, "na%");
	const uint8_t empty_q[] = {COM_QUERY};
	command_round_trip(empty_q, 1, CAPS, &cmd);
	assert_int_equal(cmd.u.query.sql.len, 0);
}

static void test_statement_commands(void **state)
{
	struct proto_command cmd;
	uint8_t b[64];
	size_t n = hex_decode("17 05000000 01 01000000 01 fe 0300", b, sizeof(b));
	command_round_trip(b, n, CAPS, &cmd);
	assert_int_equal(cmd.u.stmt_execute.statement_id, 5);
	assert_int_equal(cmd.u.stmt_execute.flags, 1);
	assert_int_equal(cmd.u.stmt_execute.iterations, 1);
	assert_int_equal(cmd.u.stmt_execute.params.len, 4);

	n = hex_decode("19 05000000", b, sizeof(b));
	command_round_trip(b, n, CAPS, &cmd);
	assert_int_equal(cmd.u.stmt.statement_id, 5);
	n = hex_decode("1a 06000000", b, sizeof(b));
	command_round_trip(b, n, CAPS, &cmd);
	assert_int_equal(cmd.u.stmt.statement_id, 6);
	n = hex_decode("18 05000000 0200 616263", b, sizeof(b));
	command_round_trip(b, n, CAPS, &cmd);
	assert_int_equal(cmd.u.long_data.param_id, 2);
	assert_slice(cmd.u.long_data.data, "abc");
	n = hex_decode("1c 05000000 64000000", b, sizeof(b));
	command_round_trip(b, n, CAPS, &cmd);
	assert_int_equal(cmd.u.fetch.statement_id, 5);
	assert_int_equal(cmd.u.fetch.num_rows, 100);
}

static void test_small_commands(void **state)
{
	struct proto_command cmd;
	uint8_t b[16];
	size_t n = hex_decode("0c 2a000000", b, sizeof(b));
	command_round_trip(b, n, CAPS, &cmd);
	assert_int_equal(cmd.u.kill.connection_id, 42);
	n = hex_decode("1b 0100", b, sizeof(b));
	command_round_trip(b, n, CAPS, &cmd);
	assert_int_equal(cmd.u.set_option.option, 1);
	const uint8_t ping[] = {COM_PING}, quit[] = {COM_QUIT}, reset[] = {COM_RESET_CONNECTION};
	command_round_trip(ping, 1, CAPS, &cmd);
	command_round_trip(quit, 1, CAPS, &cmd);
	command_round_trip(reset, 1, CAPS, &cmd);
	/* Anything else is kept raw. */
	n = hex_decode("07 04", b, sizeof(b));
	command_round_trip(b, n, CAPS, &cmd);
	assert_int_equal(cmd.code, COM_REFRESH);
	assert_int_equal(cmd.u.raw.len, 1);
	const uint8_t stats[] = {COM_STATISTICS};
	command_round_trip(stats, 1, CAPS, &cmd);
	assert_int_equal(cmd.u.raw.len, 0);
}

/* What Connector/C's send_change_user_packet writes: user, u8-length auth,
 * database, charset, plugin, attributes. */
static void test_change_user(void **state)
{
	struct proto_command cmd;
	uint8_t b[128];
	size_t n = hex_decode("11 736c75726d00 14 0102030405060708090a0b0c0d0e0f1011121314 736c75726d5f616363745f646200"
			      "2d00 6d7973716c5f6e61746976655f70617373776f726400 0a 035f6f73 054c696e7578",
			      b, sizeof(b));
	command_round_trip(b, n, CAPS, &cmd);
	assert_slice(cmd.u.change_user.username, "slurm");
	assert_int_equal(cmd.u.change_user.auth_response.len, 20);
	assert_slice(cmd.u.change_user.database, "slurm_acct_db");
	assert_true(cmd.u.change_user.has_charset);
	assert_int_equal(cmd.u.change_user.charset, 45);
	assert_true(cmd.u.change_user.has_auth_plugin);
	assert_slice(cmd.u.change_user.auth_plugin, "mysql_native_password");
	assert_true(cmd.u.change_user.has_attrs);
	assert_int_equal(cmd.u.change_user.attrs.len, 10);

	/* The auth length stays one byte under LENENC_CLIENT_DATA. */
	command_round_trip(b, n, CAPS | CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA, &cmd);
	assert_int_equal(cmd.u.change_user.auth_response.len, 20);

	/* Old layout: NUL-terminated auth, nothing after the database. */
	n = hex_decode("11 726f6f7400 6162636465666768 00 00", b, sizeof(b));
	command_round_trip(b, n, CLIENT_PROTOCOL_41, &cmd);
	assert_slice(cmd.u.change_user.auth_response, "abcdefgh");
	assert_int_equal(cmd.u.change_user.database.len, 0);
	assert_false(cmd.u.change_user.has_charset);

	/* Charset but no plugin/attrs. */
	n = hex_decode("11 726f6f7400 00 00 2100", b, sizeof(b));
	command_round_trip(b, n, CAPS, &cmd);
	assert_false(cmd.u.change_user.has_auth_plugin);

	/* A 256-byte auth response cannot be written with a u8 length. */
	uint8_t big[256] = {0};
	struct proto_command c2 = {.code = COM_CHANGE_USER};
	c2.u.change_user.auth_response = (struct proto_slice){big, sizeof(big)};
	uint8_t out[512];
	struct proto_writer w;
	proto_writer_init(&w, out, sizeof(out));
	assert_false(proto_write_command(&w, CAPS, &c2));
}

static void test_malformed(void **state)
{
	struct proto_command cmd;
	struct proto_error err;
	assert_int_equal(proto_parse_command(NULL, 0, CAPS, &cmd, &err), PROTO_MALFORMED);
	assert_string_equal(err.what, "command code");

	const uint8_t close_long[] = {COM_STMT_CLOSE, 1, 0, 0, 0, 9};
	assert_int_equal(proto_parse_command(close_long, sizeof(close_long), CAPS, &cmd, &err), PROTO_MALFORMED);
	assert_string_equal(err.what, "command trailing bytes");
	assert_int_equal(err.offset, 5);
	assert_int_equal(err.actual, 1);

	const uint8_t close_short[] = {COM_STMT_CLOSE, 1, 0};
	assert_int_equal(proto_parse_command(close_short, sizeof(close_short), CAPS, &cmd, &err), PROTO_MALFORMED);
	assert_string_equal(err.what, "statement id");
	assert_int_equal(err.expected, 4);
	assert_int_equal(err.actual, 2);

	const uint8_t ping_body[] = {COM_PING, 0};
	assert_int_equal(proto_parse_command(ping_body, 2, CAPS, &cmd, &err), PROTO_MALFORMED);
	assert_string_equal(err.what, "command trailing bytes");

	const uint8_t fl[] = {COM_FIELD_LIST, 't', 'b', 'l'};
	assert_int_equal(proto_parse_command(fl, sizeof(fl), CAPS, &cmd, &err), PROTO_MALFORMED);
	assert_string_equal(err.what, "field list table");

	const uint8_t exe[] = {COM_STMT_EXECUTE, 1, 0, 0, 0, 0, 1, 0};
	assert_int_equal(proto_parse_command(exe, sizeof(exe), CAPS, &cmd, &err), PROTO_MALFORMED);
	assert_string_equal(err.what, "execute iterations");

	const uint8_t cu_nouser[] = {COM_CHANGE_USER, 'r', 'o'};
	assert_int_equal(proto_parse_command(cu_nouser, sizeof(cu_nouser), CAPS, &cmd, &err), PROTO_MALFORMED);
	assert_string_equal(err.what, "change user name");
	const uint8_t cu_auth[] = {COM_CHANGE_USER, 'r', 0, 5, 'a'};
	assert_int_equal(proto_parse_command(cu_auth, sizeof(cu_auth), CAPS, &cmd, &err), PROTO_MALFORMED);
	assert_string_equal(err.what, "change user auth data");
	const uint8_t cu_db[] = {COM_CHANGE_USER, 'r', 0, 0, 'd'};
	assert_int_equal(proto_parse_command(cu_db, sizeof(cu_db), CAPS, &cmd, &err), PROTO_MALFORMED);
	assert_string_equal(err.what, "change user database");
	const uint8_t cu_cs[] = {COM_CHANGE_USER, 'r', 0, 0, 0, 0x21};
	assert_int_equal(proto_parse_command(cu_cs, sizeof(cu_cs), CAPS, &cmd, &err), PROTO_MALFORMED);
	assert_string_equal(err.what, "change user charset");
	const uint8_t cu_attr[] = {COM_CHANGE_USER, 'r', 0, 0, 0, 0x21, 0, 'p', 0, 0xFF};
	assert_int_equal(proto_parse_command(cu_attr, sizeof(cu_attr), CAPS, &cmd, &err), PROTO_MALFORMED);
	assert_string_equal(err.what, "change user attributes");
	assert_int_equal(err.actual, 0xFF);
}

static void test_names(void **state)
{
	assert_string_equal(proto_command_name(COM_QUERY), "COM_QUERY");
	assert_string_equal(proto_command_name(COM_RESET_CONNECTION), "COM_RESET_CONNECTION");
	assert_string_equal(proto_command_name(COM_STMT_FETCH), "COM_STMT_FETCH");
	assert_string_equal(proto_command_name(0xFE), "COM_MULTI");
	assert_string_equal(proto_command_name(0x20), "COM_UNKNOWN");
	assert_string_equal(proto_command_name(0xFF), "COM_UNKNOWN");
	for (unsigned c = 0; c <= COM_RESET_CONNECTION; c++)
		assert_true(strncmp(proto_command_name((uint8_t)c), "COM_", 4) == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text_commands), cmocka_unit_test(test_statement_commands),
		cmocka_unit_test(test_small_commands), cmocka_unit_test(test_change_user),
		cmocka_unit_test(test_malformed),      cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests_name("command", tests, NULL, NULL);
}
