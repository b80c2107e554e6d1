/*
 * relay.c - the command phase: client commands are framed whole in the
 * client leg's input (resumably: proto_frame_scan), shown to the hooks and
 * forwarded; the response streams back packet by packet through the
 * response tracker, which says where each result and the whole response
 * end. Responses are never buffered whole: a packet's first TRACKER_PEEK
 * bytes are enough for every decision, the rest of a large row passes
 * through unread (pass_remaining), and session_flush stops reading the
 * server while the client's output is above BACKPRESSURE_HIGH.
 */
#include "session_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "packet_io.h"

/* ------------------------------------------------------------------------
 * Commands
 * ------------------------------------------------------------------------ */

/* Commands that would turn the session into something the proxy cannot
 * follow (a replication stream) or that no server implements any more. */
static bool command_refused(uint8_t code)
{
	switch (code) {
	case COM_SLEEP:
	case COM_CONNECT:
	case COM_TIME:
	case COM_DELAYED_INSERT:
	case COM_BINLOG_DUMP:
	case COM_TABLE_DUMP:
	case COM_CONNECT_OUT:
	case COM_REGISTER_SLAVE:
	case COM_DAEMON:
	case COM_BINLOG_DUMP_GTID:
		return true;
	default:
		return code > COM_RESET_CONNECTION;
	}
}

/* The command at the front of the client's input, as hooks see it. */
static struct hook_command held_command(const struct session *s)
{
	const uint8_t *wire = iobuf_peek(&s->client->in);
	struct hook_command cmd = {
		.code = wire[PROTO_HEADER_LEN],
		.wire = wire,
		.wire_len = s->held_wire,
		.payload_len = s->held_payload,
	};
	if (s->held_wire == s->held_payload + PROTO_HEADER_LEN) {
		cmd.args = wire + PROTO_HEADER_LEN + 1;
		cmd.args_len = (size_t)s->held_payload - 1;
	}
	return cmd;
}

char *hook_command_args(const struct hook_command *cmd, size_t *len_out)
{
	size_t len = (size_t)cmd->payload_len - 1;
	char *text = malloc(len ? len : 1);
	if (!text)
		return NULL;
	if (cmd->args) {
		memcpy(text, cmd->args, len);
	} else {
		uint8_t *whole = malloc((size_t)cmd->payload_len);
		if (!whole) {
			free(text);
			return NULL;
		}
		proto_frame_gather(cmd->wire, cmd->wire_len, whole);
		memcpy(text, whole + 1, len);
		free(whole);
	}
	*len_out = len;
	return text;
}

/* Pick up what the session context needs from the command before it goes:
 * COM_INIT_DB's schema and COM_CHANGE_USER's user and schema take effect
 * on the server's OK (txn.c), not before. */
static void note_command(struct session *s, const struct hook_command *cmd)
{
	struct session_context *c = &s->ctx;
	c->command = cmd->code;
	c->command_len = cmd->payload_len;
	clock_gettime(CLOCK_MONOTONIC, &c->command_started);
	c->pending_database[0] = '\0';
	c->pending_user[0] = '\0';
	if (cmd->code != COM_INIT_DB && cmd->code != COM_CHANGE_USER)
		return;
	struct proto_command parsed;
	if (!cmd->args || proto_parse_command(cmd->wire + PROTO_HEADER_LEN, (size_t)cmd->payload_len, s->caps, &parsed,
					      NULL) != PROTO_OK)
		return;
	if (parsed.code == COM_INIT_DB) {
		snprintf(c->pending_database, sizeof(c->pending_database), "%.*s", (int)parsed.u.init_db.schema.len,
			 (const char *)parsed.u.init_db.schema.ptr);
	} else {
		snprintf(c->pending_user, sizeof(c->pending_user), "%.*s", (int)parsed.u.change_user.username.len,
			 (const char *)parsed.u.change_user.username.ptr);
		snprintf(c->pending_user_db, sizeof(c->pending_user_db), "%.*s",
			 (int)parsed.u.change_user.database.len, (const char *)parsed.u.change_user.database.ptr);
	}
}

/* ------------------------------------------------------------------------
 * Statements of acctgate's own (session_inject)
 * ------------------------------------------------------------------------ */

bool session_inject(struct session *s, const char *sql, size_t len, const struct session_inject_ops *ops, void *arg)
{
	if (s->ninject >= SESSION_INJECT_MAX || s->inject_sent || len >= PROTO_MAX_CHUNK)
		return false;
	size_t wire = PROTO_HEADER_LEN + 1 + len;
	uint8_t *p = malloc(wire);
	if (!p)
		return false;
	proto_frame_write_header(p, (uint32_t)(len + 1), 0);
	p[PROTO_HEADER_LEN] = COM_QUERY;
	memcpy(p + PROTO_HEADER_LEN + 1, sql, len);
	s->inject[s->ninject++] = (struct injected){.wire = p, .len = wire, .ops = ops, .arg = arg};
	return true;
}

bool session_fix_time(struct session *s, uint64_t usec)
{
	char sql[64];
	int n = clock_sql(sql, sizeof(sql), usec);
	if (!session_inject(s, sql, (size_t)n, NULL, NULL))
		return false;
	s->ctx.fixed_time_usec = usec;
	return true;
}

/* Follow the response of the first injected statement still unanswered. */
static void expect_injected(struct session *s)
{
	proto_tracker_begin(&s->tracker, COM_QUERY, s->caps);
	s->inject_ncols = 0;
	s->server_in_chunk = false;
	s->pass_remaining = 0;
	s->infile_refused = false;
}

/* Queue the injected statements ahead of whatever goes next: their
 * responses are consumed before the command's (or the hook's answer). */
static bool send_injected(struct session *s)
{
	for (int i = 0; i < s->ninject; i++) {
		if (!iobuf_append(&s->server->out, s->inject[i].wire, s->inject[i].len))
			return false;
		free(s->inject[i].wire);
		s->inject[i].wire = NULL;
	}
	s->inject_sent = true;
	expect_injected(s);
	session_set_state(s, S_COMMAND);
	return true;
}

void relay_free_injected(struct session *s)
{
	for (int i = 0; i < s->ninject; i++)
		free(s->inject[i].wire);
	s->ninject = 0;
}

/* Answer the held command with an ERR instead of forwarding it. Returns
 * true when the session may go on reading commands. */
static bool answer_command(struct session *s, const struct hook_answer *ans)
{
	conn_consume(s->client, s->held_wire);
	s->ctx.command = 0xff;
	if (s->ninject > 0) {
		s->answer = *ans;
		s->answer_seq = s->held_next_seq;
		s->answer_after_inject = true;
		s->after_inject = 0xff;
		if (!send_injected(s))
			session_close(s, "out of memory");
		return false;
	}
	if (!pio_write_err(&s->client->out, s->held_next_seq, ans->code, ans->sql_state, "%s", ans->message)) {
		session_close(s, "out of memory");
		return false;
	}
	return true;
}

static void expect_response(struct session *s, uint8_t code, bool injected);

/* The hooks let the command go: to the server, and expect its response. */
static void forward_command(struct session *s)
{
	struct hook_command cmd = held_command(s);
	txn_on_command(s, &cmd);
	uint8_t code = cmd.code;
	bool injected = s->ninject > 0;
	if ((injected && !send_injected(s)) || !conn_move_to(s->server, s->client, s->held_wire)) {
		session_fail_client(s, s->held_next_seq, ER_UNKNOWN_ERROR, "HY000", "acctgate: out of memory");
		return;
	}
	expect_response(s, code, injected);
}

/* The command went (after the injected statements, if any): follow its
 * response. */
static void expect_response(struct session *s, uint8_t code, bool injected)
{
	if (injected) {
		/* Its tracker starts once the injected responses are consumed. */
		s->after_inject = code;
		s->answer_after_inject = false;
		return;
	}
	if (proto_tracker_begin(&s->tracker, code, s->caps)) {
		s->server_in_chunk = false;
		s->pass_remaining = 0;
		s->infile_refused = false;
		s->response_bytes = 0;
		session_set_state(s, S_COMMAND);
	} else {
		s->ctx.command = 0xff; /* COM_STMT_CLOSE, COM_STMT_SEND_LONG_DATA: no answer */
	}
}

void relay_send_again(struct session *s, uint8_t *wire, size_t len, uint8_t code)
{
	bool injected = s->ninject > 0;
	bool ok = (!injected || send_injected(s)) && iobuf_append(&s->server->out, wire, len);
	free(wire);
	if (!ok) {
		session_close(s, "out of memory");
		return;
	}
	s->response_crc = 0;
	expect_response(s, code, injected);
}

/*
 * Ask the hooks from s->hook_pos on about the command at the front of the
 * client's input, and act on the first verdict that is not FORWARD.
 * Returns true when the session may go on reading commands.
 */
static bool run_command_hooks(struct session *s)
{
	struct gate *g = session_gate(s);
	for (; s->hook_pos < g->nhooks; s->hook_pos++) {
		const struct session_hooks *h = g->hooks[s->hook_pos];
		if (!h->before_command)
			continue;
		struct hook_command cmd = held_command(s);
		struct hook_answer ans = {.code = ER_UNKNOWN_ERROR, .sql_state = "HY000"};
		enum hook_verdict v = h->before_command(h->arg, s, &cmd, &ans);
		if (v == HOOK_HOLD) {
			s->hook_pos++;
			session_set_state(s, S_COMMAND_HELD);
			return false;
		}
		if (v == HOOK_ANSWER)
			return answer_command(s, &ans);
		if (v != HOOK_FORWARD)
			log_error("session %llu: hook %s gave before_command an invalid verdict %d; forwarding",
				  (unsigned long long)s->id, h->name, (int)v);
	}
	forward_command(s);
	return s->state == S_IDLE;
}

/*
 * Every client command passes here, whole, before it is forwarded: this is
 * where a statement can be held (admission control), recorded, or refused.
 * Returns true when the session may go on reading commands.
 */
static bool dispatch_command(struct session *s, size_t wire, uint64_t plen, uint8_t next_seq)
{
	s->held_wire = wire;
	s->held_payload = plen;
	s->held_next_seq = next_seq;
	struct hook_command cmd = held_command(s);
	note_command(s, &cmd);
	uint8_t code = cmd.code;
	if (command_refused(code)) {
		log_notice("session %llu: client %s sent %s (0x%02x), which the proxy refuses", (unsigned long long)s->id,
			   s->peer, proto_command_name(code), code);
		conn_consume(s->client, wire);
		s->ctx.command = 0xff;
		if (!pio_write_err(&s->client->out, next_seq, ER_UNKNOWN_COM_ERROR, "08S01",
				   "acctgate: command %s (0x%02x) is not supported through the proxy",
				   proto_command_name(code), code)) {
			session_close(s, "out of memory");
			return false;
		}
		return true;
	}
	if (code == COM_QUIT) {
		/* session_close sends the server its own COM_QUIT. */
		conn_consume(s->client, wire);
		log_info("session %llu: client quit", (unsigned long long)s->id);
		session_close(s, NULL);
		return false;
	}
	s->hook_pos = 0;
	return run_command_hooks(s);
}

/* Read whole commands from the client while idle. */
static void process_client_commands(struct session *s)
{
	struct iobuf *in = &s->client->in;
	const struct config *cfg = session_cfg(s);
	while (s->state == S_IDLE && iobuf_len(in) > 0) {
		if (!s->cmd_scanning) {
			proto_frame_scan_init(&s->cmd_scan, 0);
			s->cmd_scanning = true;
		}
		struct proto_error perr = {0};
		enum proto_status st =
			proto_frame_scan(&s->cmd_scan, iobuf_peek(in), iobuf_len(in), cfg->max_command_size, &perr);
		if (st == PROTO_NEED_MORE)
			return;
		s->cmd_scanning = false;
		if (st == PROTO_MALFORMED) {
			if (perr.kind == PROTO_ERR_TOO_LARGE) {
				log_warning("session %llu: client %s sent a command of %llu+ bytes, over max_command_size %llu",
					    (unsigned long long)s->id, s->peer, (unsigned long long)perr.actual,
					    (unsigned long long)perr.expected);
				/* After the chunk that went over the limit. */
				session_fail_client(s, (uint8_t)(s->cmd_scan.seq + 1), ER_NET_PACKET_TOO_LARGE, "08S01",
						    "acctgate: command larger than max_command_size");
			} else {
				log_warning("session %llu: client %s: %s at byte %zu: expected %llu, got %llu",
					    (unsigned long long)s->id, s->peer, perr.what, perr.offset,
					    (unsigned long long)perr.expected, (unsigned long long)perr.actual);
				session_fail_client(s, 1, ER_NET_PACKETS_OUT_OF_ORDER, "08S01",
						    "acctgate: packets out of order");
			}
			return;
		}
		if (s->cmd_scan.payload_len == 0) {
			session_fail_client(s, 1, ER_NET_PACKETS_OUT_OF_ORDER, "08S01", "acctgate: empty command packet");
			return;
		}
		if (!dispatch_command(s, s->cmd_scan.off, s->cmd_scan.payload_len, s->cmd_scan.seq))
			return;
	}
}

/* Client packets while a command is in flight: only the data a LOCAL INFILE
 * request asked for, or the client's side of COM_CHANGE_USER's exchange. */
static void relay_client_mid_command(struct session *s)
{
	enum proto_tracker_state ts = s->tracker.state;
	if (ts == TRK_AUTH) {
		login_relay_from_client(s);
		return;
	}
	if (ts != TRK_LOCAL_INFILE)
		return; /* a pipelined command waits in the buffer */
	struct iobuf *in = &s->client->in;
	for (;;) {
		struct proto_frame_header h;
		if (proto_frame_peek(iobuf_peek(in), iobuf_len(in), &h) != PROTO_OK ||
		    iobuf_len(in) < PROTO_HEADER_LEN + h.payload_len)
			return;
		size_t wire = PROTO_HEADER_LEN + h.payload_len;
		if (!iobuf_append(&s->server->out, iobuf_peek(in), wire)) {
			session_close(s, "out of memory");
			return;
		}
		conn_consume(s->client, wire);
		if (h.payload_len == 0) {
			proto_tracker_client_done(&s->tracker);
			return;
		}
	}
}

void relay_client_input(struct session *s)
{
	if (s->state == S_IDLE)
		process_client_commands(s);
	else if (s->state == S_COMMAND)
		relay_client_mid_command(s);
}

void relay_enter_idle(struct session *s)
{
	session_set_state(s, S_IDLE);
	if (s->drain_requested && !s->ctx.in_transaction) {
		session_close(s, "drained at shutdown");
		return;
	}
	process_client_commands(s);
}

/* ------------------------------------------------------------------------
 * Responses
 * ------------------------------------------------------------------------ */

/* Move up to `total` bytes of the current server packet to the client; the
 * rest follows unread as it arrives. */
static bool pass_on(struct session *s, uint64_t total)
{
	struct iobuf *in = &s->server->in;
	size_t n = iobuf_len(in) < total ? iobuf_len(in) : (size_t)total;
	if (!s->infile_refused) {
		if (!iobuf_append(&s->client->out, iobuf_peek(in), n)) {
			session_close(s, "out of memory");
			return false;
		}
		redo_digest(s, iobuf_peek(in), n);
		s->response_bytes += n;
	}
	conn_consume(s->server, n);
	s->pass_remaining = total - n;
	return true;
}

/* The response is complete: back to reading commands. */
static void finish_response(struct session *s)
{
	txn_on_command_done(s);
	relay_enter_idle(s);
}

/*
 * Ask the hooks from s->hook_pos on about the response's final packet (in
 * s->held_final, header included) and act on the verdict. The packet is
 * the client's unless a hook swallows it.
 */
/* The ERR takes the held final packet's place and sequence id. */
static void answer_final(struct session *s, const struct hook_answer *ans)
{
	uint8_t seq = s->held_final[PROTO_HEADER_LEN - 1];
	free(s->held_final);
	s->held_final = NULL;
	if (!pio_write_err(&s->client->out, seq, ans->code, ans->sql_state, "%s", ans->message)) {
		session_close(s, "out of memory");
		return;
	}
	finish_response(s);
}

static void run_result_hooks(struct session *s)
{
	struct gate *g = session_gate(s);
	for (; s->hook_pos < g->nhooks; s->hook_pos++) {
		const struct session_hooks *h = g->hooks[s->hook_pos];
		if (!h->before_result_end)
			continue;
		struct hook_answer ans = {.code = ER_UNKNOWN_ERROR, .sql_state = "HY000"};
		enum hook_verdict v = h->before_result_end(h->arg, s, &s->tracker.last, s->held_final + PROTO_HEADER_LEN,
							   s->held_final_len - PROTO_HEADER_LEN, &ans);
		if (v == HOOK_ANSWER) {
			answer_final(s, &ans);
			return;
		}
		if (v == HOOK_HOLD) {
			s->hook_pos++;
			session_set_state(s, S_RESULT_HELD);
			if (s->ninject > 0) {
				/* Statements the hook queued go now; the final packet
				 * waits for their answers and the hook's release. */
				s->inject_in_hold = true;
				if (!send_injected(s))
					session_close(s, "out of memory");
			}
			return;
		}
		if (v == HOOK_SWALLOW) {
			free(s->held_final);
			s->held_final = NULL;
			finish_response(s);
			return;
		}
		if (v != HOOK_FORWARD)
			log_error("session %llu: hook %s gave before_result_end an invalid verdict %d; forwarding",
				  (unsigned long long)s->id, h->name, (int)v);
	}
	bool ok = iobuf_append(&s->client->out, s->held_final, s->held_final_len);
	free(s->held_final);
	s->held_final = NULL;
	if (!ok) {
		session_close(s, "out of memory");
		return;
	}
	finish_response(s);
}

static void hold_final(struct session *s, uint8_t *wire, size_t len);

/* The final packet of a response, whole at the front of the server input. */
static void on_final_packet(struct session *s, size_t wire)
{
	struct iobuf *in = &s->server->in;
	if (s->infile_refused) {
		/* The client asked for no file: it learns why, not the server's
		 * answer to the empty file acctgate sent in its place. */
		conn_consume(s->server, wire);
		s->infile_refused = false;
		if (!pio_write_err(&s->client->out, s->infile_client_seq, ER_NOT_ALLOWED_COMMAND, "42000",
				   "acctgate: LOAD DATA LOCAL INFILE is disabled ([proxy] local_infile = off)")) {
			session_close(s, "out of memory");
			return;
		}
		finish_response(s);
		return;
	}
	if (session_gate(s)->nhooks == 0) {
		/* The hot path: no hook to ask, no copy. */
		if (!pass_on(s, wire))
			return;
		finish_response(s);
		return;
	}
	uint8_t *copy = malloc(wire);
	if (!copy) {
		session_close(s, "out of memory");
		return;
	}
	memcpy(copy, iobuf_peek(in), wire);
	conn_consume(s->server, wire);
	redo_digest(s, copy, wire);
	hold_final(s, copy, wire);
}

/* The final packet (owned) goes to the client through the hooks. */
static void hold_final(struct session *s, uint8_t *wire, size_t len)
{
	s->held_final = wire;
	s->held_final_len = len;
	s->hook_pos = 0;
	run_result_hooks(s);
}

void relay_deliver_final(struct session *s, uint8_t *wire, size_t len, const struct proto_result_end *end)
{
	session_set_state(s, S_COMMAND);
	s->tracker.last = *end;
	s->tracker.state = TRK_IDLE;
	txn_on_result_end(s, end, wire + PROTO_HEADER_LEN, len - PROTO_HEADER_LEN);
	if (session_gate(s)->nhooks == 0) {
		bool ok = iobuf_append(&s->client->out, wire, len);
		free(wire);
		if (!ok) {
			session_close(s, "out of memory");
			return;
		}
		finish_response(s);
		return;
	}
	hold_final(s, wire, len);
}

/*
 * The server asks for a file (LOAD DATA LOCAL INFILE) while local_infile is
 * off: the request was never advertised to the client, and a server (or an
 * impostor) that asks anyway must not get a file. The server gets an empty
 * one, which ends its statement; the client, once the server answered, an
 * ERR. Nothing the server says until then reaches the client.
 */
static void refuse_infile(struct session *s, uint8_t server_seq, uint8_t client_seq, size_t wire)
{
	log_warning("session %llu: the server asked for a local file although local_infile is off; refused",
		    (unsigned long long)s->id);
	conn_consume(s->server, wire);
	if (!pio_write_packet(&s->server->out, (uint8_t)(server_seq + 1), "", 0)) {
		session_close(s, "out of memory");
		return;
	}
	proto_tracker_client_done(&s->tracker);
	s->infile_refused = true;
	s->infile_client_seq = client_seq;
}

/* The injected statements are answered: the client's command (or the
 * hook's ERR for it) takes the server leg's responses from here. */
static void injected_done(struct session *s)
{
	s->inject_sent = false;
	if (s->answer_after_inject) {
		s->answer_after_inject = false;
		if (!pio_write_err(&s->client->out, s->answer_seq, s->answer.code, s->answer.sql_state, "%s",
				   s->answer.message)) {
			session_close(s, "out of memory");
			return;
		}
		relay_enter_idle(s);
		return;
	}
	s->response_bytes = 0;
	if (!proto_tracker_begin(&s->tracker, s->after_inject, s->caps)) {
		s->ctx.command = 0xff; /* a command without an answer */
		relay_enter_idle(s);
	}
}

/* One packet of an injected statement's response (payload: its first
 * `peek` bytes): rows to on_row, the end to on_done; never the client's. */
static bool consume_injected(struct session *s, const uint8_t *payload, size_t peek, uint64_t payload_len,
			     size_t wire)
{
	struct injected *inj = &s->inject[0];
	enum proto_tracker_state before = s->tracker.state;
	struct proto_error perr = {0};
	enum proto_tracker_event ev = proto_tracker_feed(&s->tracker, payload, peek, payload_len, &perr);
	if (ev == TRK_EV_MALFORMED) {
		log_error("session %llu: unexpected server packet answering acctgate's own statement: %s at byte %zu; "
			  "closing",
			  (unsigned long long)s->id, perr.what ? perr.what : "?", perr.offset);
		session_close(s, "protocol desynchronised");
		return false;
	}
	if (before == TRK_FIRST && ev == TRK_EV_CONTINUE) {
		struct proto_reader r;
		proto_reader_init(&r, payload, peek);
		s->inject_ncols = proto_read_lenenc(&r, NULL, "column count");
	} else if (before == TRK_ROWS && ev == TRK_EV_CONTINUE && inj->ops && inj->ops->on_row && peek == payload_len &&
		   s->inject_ncols > 0 && s->inject_ncols <= SESSION_INJECT_COLUMNS) {
		struct proto_slice values[SESSION_INJECT_COLUMNS];
		bool nulls[SESSION_INJECT_COLUMNS];
		if (proto_parse_text_row(payload, peek, s->inject_ncols, values, nulls, NULL) == PROTO_OK)
			inj->ops->on_row(inj->arg, s, values, nulls, (size_t)s->inject_ncols);
	}
	size_t n = iobuf_len(&s->server->in) < wire ? iobuf_len(&s->server->in) : wire;
	conn_consume(s->server, n);
	s->drop_remaining = wire - n;
	if (ev != TRK_EV_DONE)
		return true;
	struct injected fin = *inj;
	memmove(&s->inject[0], &s->inject[1], (size_t)(s->ninject - 1) * sizeof(s->inject[0]));
	s->ninject--;
	bool back_to_hold = s->ninject == 0 && s->inject_in_hold;
	if (back_to_hold) {
		/* Sent while a final packet was held: held again, and the
		 * hook's on_done decides when it goes. */
		s->inject_sent = false;
		s->inject_in_hold = false;
		session_set_state(s, S_RESULT_HELD);
	}
	txn_on_injected_end(s, &s->tracker.last);
	if (fin.ops && fin.ops->on_done)
		fin.ops->on_done(fin.arg, s, &s->tracker.last);
	if (back_to_hold || s->state != S_COMMAND)
		return false; /* held, released or closed by on_done */
	if (s->ninject > 0)
		expect_injected(s);
	else
		injected_done(s);
	return true;
}

/* A prepare's OK (statement id, columns, parameters): the hooks that
 * follow prepared statements learn the id the client will execute. */
static void note_prepare_ok(struct session *s, const uint8_t *payload)
{
	uint32_t id = (uint32_t)payload[1] | (uint32_t)payload[2] << 8 | (uint32_t)payload[3] << 16 |
		      (uint32_t)payload[4] << 24;
	uint16_t nparams = (uint16_t)(payload[7] | payload[8] << 8);
	struct gate *g = session_gate(s);
	for (int i = 0; i < g->nhooks; i++)
		if (g->hooks[i]->on_prepare_ok)
			g->hooks[i]->on_prepare_ok(g->hooks[i]->arg, s, id, nparams);
}

/* Stream the server's response packets to the client. */
void relay_server_input(struct session *s)
{
	struct iobuf *in = &s->server->in;
	while ((s->state == S_COMMAND || s->state == S_AUTH) && iobuf_len(in) > 0) {
		if (s->drop_remaining) {
			size_t n = iobuf_len(in) < s->drop_remaining ? iobuf_len(in) : (size_t)s->drop_remaining;
			conn_consume(s->server, n);
			s->drop_remaining -= n;
			continue;
		}
		if (s->pass_remaining) {
			if (!pass_on(s, s->pass_remaining))
				return;
			continue;
		}
		struct proto_frame_header h;
		if (proto_frame_peek(iobuf_peek(in), iobuf_len(in), &h) != PROTO_OK)
			return;
		size_t peek = h.payload_len < TRACKER_PEEK ? h.payload_len : TRACKER_PEEK;
		if (iobuf_len(in) < PROTO_HEADER_LEN + peek)
			return;
		uint8_t *pkt = iobuf_peek(in);
		size_t wire = PROTO_HEADER_LEN + h.payload_len;
		if (s->inject_sent) {
			if (!consume_injected(s, pkt + PROTO_HEADER_LEN, peek, h.payload_len, wire))
				return;
			continue;
		}
		/* The client numbers its next packet after what it received; in
		 * the connection phase the TLS steps shift the two legs apart,
		 * and a key request acctgate answers itself does (any login). */
		uint8_t client_view_seq = (uint8_t)(h.seq - s->seq_shift);
		s->client_seq = (uint8_t)(client_view_seq + 1);
		proto_frame_rewrite_seq(pkt, PROTO_HEADER_LEN, client_view_seq);
		if (s->server_in_chunk) {
			/* Continuation of a logical packet > 16 MiB: row data. */
			s->server_in_chunk = h.payload_len == PROTO_MAX_CHUNK;
			if (!pass_on(s, wire))
				return;
			continue;
		}
		const uint8_t *payload = pkt + PROTO_HEADER_LEN;
		if (s->tracker.state == TRK_AUTH) {
			const char *refusal = login_on_server_auth_packet(s, payload, peek);
			if (refusal) {
				login_refuse(s, (uint8_t)(h.seq + 1), client_view_seq, refusal);
				return;
			}
		}
		if (s->tracker.command == COM_STMT_PREPARE && s->tracker.state == TRK_FIRST && peek >= 9 && payload[0] == 0x00)
			note_prepare_ok(s, payload);
		struct proto_error perr = {0};
		enum proto_tracker_state before = s->tracker.state;
		enum proto_tracker_event ev = proto_tracker_feed(&s->tracker, payload, peek, h.payload_len, &perr);
		if (ev == TRK_EV_DONE && before == TRK_FIRST && s->response_bytes == 0 && s->state == S_COMMAND &&
		    s->tracker.last.kind == END_ERR && h.payload_len <= TRACKER_PEEK && redo_take_error(s, wire))
			return; /* the transaction runs again first (redo.c) */
		if (ev == TRK_EV_MALFORMED) {
			log_error("session %llu: unexpected server packet in %s: %s at byte %zu (expected %llu, got %llu); "
				  "closing",
				  (unsigned long long)s->id, proto_tracker_state_name(s->tracker.state),
				  perr.what ? perr.what : "?", perr.offset, (unsigned long long)perr.expected,
				  (unsigned long long)perr.actual);
			session_close(s, "protocol desynchronised");
			return;
		}
		s->server_in_chunk = h.payload_len == PROTO_MAX_CHUNK;
		if (ev == TRK_EV_INFILE_REFUSED) {
			refuse_infile(s, h.seq, client_view_seq, wire);
			continue;
		}
		bool ends = ev == TRK_EV_RESULT_END || ev == TRK_EV_DONE;
		if (ends && s->state == S_COMMAND) {
			s->pause_requested = false;
			txn_on_result_end(s, &s->tracker.last, payload, peek);
			if (s->pause_requested) {
				/* A hook's pause (session_pause_response): this
				 * packet and the rest wait for its release. */
				s->pause_requested = false;
				s->paused_wire = wire;
				session_set_state(s, S_RESPONSE_PAUSED);
				conn_set_reading(s->server, false);
				return;
			}
		}
		if (ev != TRK_EV_DONE) {
			if (!pass_on(s, wire))
				return;
			continue;
		}
		/* The response's last packet. */
		if (s->state == S_AUTH) {
			if (!pass_on(s, wire))
				return;
			login_auth_done(s);
			if (s->state == S_AUTH)
				relay_enter_idle(s);
			return;
		}
		if (s->ctx.command == COM_CHANGE_USER)
			login_auth_done(s);
		if (h.payload_len > TRACKER_PEEK) {
			/* Not whole in the buffer (an OK with a huge info text):
			 * no hook can hold what is not here. */
			if (pass_on(s, wire))
				finish_response(s);
			return;
		}
		on_final_packet(s, wire);
		return;
	}
}

/* ------------------------------------------------------------------------
 * Holds
 * ------------------------------------------------------------------------ */

void session_send_injected(struct session *s)
{
	if (s->state != S_RESULT_HELD || s->ninject == 0 || s->inject_sent)
		return;
	s->inject_in_hold = true;
	if (!send_injected(s))
		session_close(s, "out of memory");
	session_flush(s);
}

uint8_t *session_held_final(struct session *s, size_t *len)
{
	if (s->state != S_RESULT_HELD || !s->held_final)
		return NULL;
	*len = s->held_final_len - PROTO_HEADER_LEN;
	return s->held_final + PROTO_HEADER_LEN;
}

void relay_release_error(struct session *s, const struct hook_answer *answer)
{
	if (s->state == S_RESULT_HELD) {
		session_set_state(s, S_COMMAND);
		answer_final(s, answer);
		return;
	}
	if (s->state != S_COMMAND_HELD) {
		log_error("session %llu: released with an error in %s, where no command is held",
			  (unsigned long long)s->id, session_state_name(s->state));
		return;
	}
	session_set_state(s, S_IDLE);
	if (answer_command(s, answer))
		process_client_commands(s);
}

bool session_pause_response(struct session *s)
{
	struct proto_frame_header h;
	if (s->state != S_COMMAND || s->inject_sent || s->tracker.state != TRK_FIRST ||
	    proto_frame_peek(iobuf_peek(&s->server->in), iobuf_len(&s->server->in), &h) != PROTO_OK ||
	    iobuf_len(&s->server->in) < PROTO_HEADER_LEN + h.payload_len)
		return false;
	s->pause_requested = true;
	return true;
}

void relay_release(struct session *s)
{
	switch (s->state) {
	case S_RESPONSE_PAUSED:
		session_set_state(s, S_COMMAND);
		conn_set_reading(s->server, true);
		if (pass_on(s, s->paused_wire))
			relay_server_input(s);
		break;
	case S_COMMAND_HELD:
		session_set_state(s, S_IDLE);
		if (run_command_hooks(s))
			process_client_commands(s);
		break;
	case S_RESULT_HELD:
		session_set_state(s, S_COMMAND);
		run_result_hooks(s);
		break;
	default:
		log_error("session %llu: released in %s, where nothing is held", (unsigned long long)s->id,
			  session_state_name(s->state));
		break;
	}
}
