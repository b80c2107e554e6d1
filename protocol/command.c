/*
 * command.c - client commands (the command phase): one byte of command code,
 * then a body whose layout depends on the code.
 *
 *   COM_QUERY, COM_STMT_PREPARE   rest: statement text
 *   COM_INIT_DB                   rest: schema name
 *   COM_FIELD_LIST                nulstr table, rest: wildcard
 *   COM_STMT_EXECUTE              u32 statement, u8 flags, u32 iterations,
 *                                 rest: null bitmap, types, values (their
 *                                 layout needs the prepare's parameter count)
 *   COM_STMT_CLOSE, COM_STMT_RESET u32 statement
 *   COM_STMT_SEND_LONG_DATA       u32 statement, u16 parameter, rest: data
 *   COM_STMT_FETCH                u32 statement, u32 rows
 *   COM_PROCESS_KILL              u32 connection id
 *   COM_SET_OPTION                u16 option
 *   COM_PING, COM_QUIT,
 *   COM_RESET_CONNECTION          no body
 *   COM_CHANGE_USER               nulstr user; auth (u8 length + bytes with
 *                                 CLIENT_SECURE_CONNECTION, else nulstr);
 *                                 nulstr database; then, when bytes remain,
 *                                 u16 charset, nulstr plugin
 *                                 (CLIENT_PLUGIN_AUTH), lenenc attributes
 *                                 (CLIENT_CONNECT_ATTRS)
 *   anything else                 rest, kept raw
 *
 * COM_CHANGE_USER's auth length is one byte even under
 * CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA: that is how MariaDB's
 * parse_com_change_user_packet and Connector/C's send_change_user_packet
 * both do it. The server also reads the charset only when at least two
 * bytes follow the database; a single stray byte there is refused here, as
 * it could not be written back.
 */
#include "proto_internal.h"

static void parse_change_user(struct proto_reader *r, uint32_t caps, struct proto_command *out)
{
	typeof(out->u.change_user) *cu = &out->u.change_user;
	cu->username = proto_read_nulstr(r, "change user name");
	if (caps & CLIENT_SECURE_CONNECTION) {
		uint8_t n = proto_read_u8(r, "change user auth data length");
		cu->auth_response = proto_read_bytes(r, n, "change user auth data");
	} else {
		cu->auth_response = proto_read_nulstr(r, "change user auth data");
	}
	cu->database = proto_read_nulstr(r, "change user database");
	if (proto_reader_remaining(r)) {
		cu->has_charset = true;
		cu->charset = proto_read_u16(r, "change user charset");
	}
	if ((caps & CLIENT_PLUGIN_AUTH) && proto_reader_remaining(r)) {
		cu->has_auth_plugin = true;
		cu->auth_plugin = proto_read_nulstr(r, "change user auth plugin");
	}
	if ((caps & CLIENT_CONNECT_ATTRS) && proto_reader_remaining(r)) {
		cu->has_attrs = true;
		cu->attrs = proto_read_lenenc_str(r, "change user attributes");
	}
}

enum proto_status proto_parse_command(const uint8_t *p, size_t len, uint32_t caps, struct proto_command *out,
				      struct proto_error *err)
{
	struct proto_reader r;
	proto_reader_init(&r, p, len);
	*out = (struct proto_command){0};
	out->code = proto_read_u8(&r, "command code");
	if (r.failed)
		return proto_reader_status(&r, err);
	switch (out->code) {
	case COM_QUERY:
	case COM_STMT_PREPARE:
		out->u.query.sql = proto_read_rest(&r);
		break;
	case COM_INIT_DB:
		out->u.init_db.schema = proto_read_rest(&r);
		break;
	case COM_FIELD_LIST:
		out->u.field_list.table = proto_read_nulstr(&r, "field list table");
		out->u.field_list.wildcard = proto_read_rest(&r);
		break;
	case COM_STMT_EXECUTE:
		out->u.stmt_execute.statement_id = proto_read_u32(&r, "execute statement id");
		out->u.stmt_execute.flags = proto_read_u8(&r, "execute flags");
		out->u.stmt_execute.iterations = proto_read_u32(&r, "execute iterations");
		out->u.stmt_execute.params = proto_read_rest(&r);
		break;
	case COM_STMT_CLOSE:
	case COM_STMT_RESET:
		out->u.stmt.statement_id = proto_read_u32(&r, "statement id");
		break;
	case COM_STMT_SEND_LONG_DATA:
		out->u.long_data.statement_id = proto_read_u32(&r, "long data statement id");
		out->u.long_data.param_id = proto_read_u16(&r, "long data parameter");
		out->u.long_data.data = proto_read_rest(&r);
		break;
	case COM_STMT_FETCH:
		out->u.fetch.statement_id = proto_read_u32(&r, "fetch statement id");
		out->u.fetch.num_rows = proto_read_u32(&r, "fetch rows");
		break;
	case COM_CHANGE_USER:
		parse_change_user(&r, caps, out);
		break;
	case COM_PROCESS_KILL:
		out->u.kill.connection_id = proto_read_u32(&r, "kill connection id");
		break;
	case COM_SET_OPTION:
		out->u.set_option.option = proto_read_u16(&r, "set option");
		break;
	case COM_PING:
	case COM_QUIT:
	case COM_RESET_CONNECTION:
		break;
	default:
		out->u.raw = proto_read_rest(&r);
		break;
	}
	proto_reader_expect_end(&r, "command trailing bytes");
	return proto_reader_status(&r, err);
}

static void write_change_user(struct proto_writer *w, uint32_t caps, const struct proto_command *cmd)
{
	const typeof(cmd->u.change_user) *cu = &cmd->u.change_user;
	proto_write_nulstr(w, cu->username.ptr, cu->username.len);
	if (caps & CLIENT_SECURE_CONNECTION) {
		if (cu->auth_response.len > 0xFF) {
			w->overflow = true;
			return;
		}
		proto_write_u8(w, (uint8_t)cu->auth_response.len);
		proto_write_bytes(w, cu->auth_response.ptr, cu->auth_response.len);
	} else {
		proto_write_nulstr(w, cu->auth_response.ptr, cu->auth_response.len);
	}
	proto_write_nulstr(w, cu->database.ptr, cu->database.len);
	/* The later fields are positional: without the charset the server
	 * could not find them, so they are written only after it. */
	if (!cu->has_charset)
		return;
	proto_write_u16(w, cu->charset);
	if ((caps & CLIENT_PLUGIN_AUTH) && cu->has_auth_plugin)
		proto_write_nulstr(w, cu->auth_plugin.ptr, cu->auth_plugin.len);
	if ((caps & CLIENT_CONNECT_ATTRS) && cu->has_attrs)
		proto_write_lenenc_str(w, cu->attrs.ptr, cu->attrs.len);
}

/* Returns false on overflow, and for a COM_CHANGE_USER whose auth data does
 * not fit its one-byte length. */
bool proto_write_command(struct proto_writer *w, uint32_t caps, const struct proto_command *cmd)
{
	proto_write_u8(w, cmd->code);
	switch (cmd->code) {
	case COM_QUERY:
	case COM_STMT_PREPARE:
		proto_write_bytes(w, cmd->u.query.sql.ptr, cmd->u.query.sql.len);
		break;
	case COM_INIT_DB:
		proto_write_bytes(w, cmd->u.init_db.schema.ptr, cmd->u.init_db.schema.len);
		break;
	case COM_FIELD_LIST:
		proto_write_nulstr(w, cmd->u.field_list.table.ptr, cmd->u.field_list.table.len);
		proto_write_bytes(w, cmd->u.field_list.wildcard.ptr, cmd->u.field_list.wildcard.len);
		break;
	case COM_STMT_EXECUTE:
		proto_write_u32(w, cmd->u.stmt_execute.statement_id);
		proto_write_u8(w, cmd->u.stmt_execute.flags);
		proto_write_u32(w, cmd->u.stmt_execute.iterations);
		proto_write_bytes(w, cmd->u.stmt_execute.params.ptr, cmd->u.stmt_execute.params.len);
		break;
	case COM_STMT_CLOSE:
	case COM_STMT_RESET:
		proto_write_u32(w, cmd->u.stmt.statement_id);
		break;
	case COM_STMT_SEND_LONG_DATA:
		proto_write_u32(w, cmd->u.long_data.statement_id);
		proto_write_u16(w, cmd->u.long_data.param_id);
		proto_write_bytes(w, cmd->u.long_data.data.ptr, cmd->u.long_data.data.len);
		break;
	case COM_STMT_FETCH:
		proto_write_u32(w, cmd->u.fetch.statement_id);
		proto_write_u32(w, cmd->u.fetch.num_rows);
		break;
	case COM_CHANGE_USER:
		write_change_user(w, caps, cmd);
		break;
	case COM_PROCESS_KILL:
		proto_write_u32(w, cmd->u.kill.connection_id);
		break;
	case COM_SET_OPTION:
		proto_write_u16(w, cmd->u.set_option.option);
		break;
	case COM_PING:
	case COM_QUIT:
	case COM_RESET_CONNECTION:
		break;
	default:
		proto_write_bytes(w, cmd->u.raw.ptr, cmd->u.raw.len);
		break;
	}
	return !w->overflow;
}

const char *proto_command_name(uint8_t code)
{
	static const char *const names[] = {
		[COM_SLEEP] = "COM_SLEEP",
		[COM_QUIT] = "COM_QUIT",
		[COM_INIT_DB] = "COM_INIT_DB",
		[COM_QUERY] = "COM_QUERY",
		[COM_FIELD_LIST] = "COM_FIELD_LIST",
		[COM_CREATE_DB] = "COM_CREATE_DB",
		[COM_DROP_DB] = "COM_DROP_DB",
		[COM_REFRESH] = "COM_REFRESH",
		[COM_SHUTDOWN] = "COM_SHUTDOWN",
		[COM_STATISTICS] = "COM_STATISTICS",
		[COM_PROCESS_INFO] = "COM_PROCESS_INFO",
		[COM_CONNECT] = "COM_CONNECT",
		[COM_PROCESS_KILL] = "COM_PROCESS_KILL",
		[COM_DEBUG] = "COM_DEBUG",
		[COM_PING] = "COM_PING",
		[COM_TIME] = "COM_TIME",
		[COM_DELAYED_INSERT] = "COM_DELAYED_INSERT",
		[COM_CHANGE_USER] = "COM_CHANGE_USER",
		[COM_BINLOG_DUMP] = "COM_BINLOG_DUMP",
		[COM_TABLE_DUMP] = "COM_TABLE_DUMP",
		[COM_CONNECT_OUT] = "COM_CONNECT_OUT",
		[COM_REGISTER_SLAVE] = "COM_REGISTER_SLAVE",
		[COM_STMT_PREPARE] = "COM_STMT_PREPARE",
		[COM_STMT_EXECUTE] = "COM_STMT_EXECUTE",
		[COM_STMT_SEND_LONG_DATA] = "COM_STMT_SEND_LONG_DATA",
		[COM_STMT_CLOSE] = "COM_STMT_CLOSE",
		[COM_STMT_RESET] = "COM_STMT_RESET",
		[COM_SET_OPTION] = "COM_SET_OPTION",
		[COM_STMT_FETCH] = "COM_STMT_FETCH",
		[COM_DAEMON] = "COM_DAEMON",
		[COM_BINLOG_DUMP_GTID] = "COM_BINLOG_DUMP_GTID",
		[COM_RESET_CONNECTION] = "COM_RESET_CONNECTION",
	};
	/* MariaDB's COM_MULTI (0xFE) and bulk execute (0xFA) are named too:
	 * a refusal log line should say what the client tried. */
	if (code == 0xFA)
		return "COM_STMT_BULK_EXECUTE";
	if (code == 0xFE)
		return "COM_MULTI";
	if (code < sizeof(names) / sizeof(names[0]) && names[code])
		return names[code];
	return "COM_UNKNOWN";
}
