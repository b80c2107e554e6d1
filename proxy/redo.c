/*
 * redo.c - a deadlock or a lock wait timeout that the client never sees.
 *
 * On a deadlock (1213) the server rolls the whole transaction back, and a
 * client like slurmdbd re-sends only the failed statement: the rest of its
 * transaction is lost without a word. On a lock wait timeout (1205) only
 * the statement is rolled back (unless the server runs with
 * innodb_rollback_on_timeout), and slurmdbd exits. Here, before the ERR
 * reaches the client or any hook:
 *
 *   1213       after a backoff, every earlier command of the transaction
 *              runs again on the session's own server connection, one at a
 *              time, each after "SET timestamp=<its time>, insert_id=<its
 *              id>", and its response's CRC-32C must equal that of the
 *              response the client got; then the failed command goes again
 *              and its response streams to the client as if it were the
 *              first. A result that differs (another session committed
 *              something the transaction read), a statement that fails, or
 *              attempts run out: ROLLBACK, the clock put back, and the
 *              client gets the original ERR, as without acctgate.
 *   1205       SELECT @@in_transaction says which: still open, the failed
 *              command alone goes again after a backoff; rolled back, as
 *              for 1213.
 *
 * The replay is invisible to the hooks: they saw each command once, and
 * see the failed command's response once, so the journal records the
 * transaction once, as it committed, and the throttle's slot stays where
 * it was. What a rollback does not undo must not run twice, so a
 * transaction is run again only when every statement in it is one
 * sql_not_rerunnable accepts (sqltext.h: its user variables read on the
 * replay what they read the first time), it began with the client's own
 * BEGIN or autocommit off, and its statements fit [throttle]
 * replay_max_bytes; otherwise the ERR goes through, counted and logged.
 *
 *   states (redo.step)   BACKOFF -> [PIN -> STATEMENT]* -> the command again
 *                        CHECK (1205) -> BACKOFF
 *                        STATEMENT (deadlock again) -> RESTART -> BACKOFF
 *                        any failure -> UNDO -> the original ERR
 */
#include "session_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "journal.h"
#include "log.h"
#include "sqltext.h"

#define ER_LOCK_WAIT_TIMEOUT 1205
#define ER_LOCK_DEADLOCK 1213
/* The first backoff; each attempt doubles it, with as much again of jitter,
 * so that the transaction that won the deadlock can finish first. */
#define BACKOFF_BASE_USEC 5000

enum redo_step {
	RD_BACKOFF,   /* the timer runs */
	RD_CHECK,     /* SELECT @@in_transaction (after 1205) answers */
	RD_PIN,       /* SET timestamp, insert_id for statement `next` answers */
	RD_STATEMENT, /* statement `next` answers; its response is digested */
	RD_RESTART,   /* ROLLBACK after a replayed statement failed the same way; then back off */
	RD_UNDO,      /* ROLLBACK and the clock put back answer; then the original ERR goes */
};

static bool retriable(uint16_t code) { return code == ER_LOCK_DEADLOCK || code == ER_LOCK_WAIT_TIMEOUT; }

static const char *error_name(uint16_t code)
{
	return code == ER_LOCK_DEADLOCK ? "deadlock (1213)" : "lock wait timeout (1205)";
}

void redo_digest(struct session *s, const uint8_t *p, size_t n)
{
	if (session_cfg(s)->throttle_replay_attempts > 0 && s->ctx.txn.kept_all)
		s->response_crc = journal_crc32c(s->response_crc, p, n);
}

void redo_on_command(struct session *s) { s->redo.attempt = 0; }

void redo_free(struct session *s)
{
	free(s->redo.err);
	s->redo.err = NULL;
	if (s->redo.timer) {
		event_free(s->redo.timer);
		s->redo.timer = NULL;
	}
}

/* ------------------------------------------------------------------------
 * What may run again
 * ------------------------------------------------------------------------ */

static bool starts_with_begin(const struct txn_stmt *st)
{
	size_t pos = 0, start, len;
	if (st->code != COM_QUERY || !sql_next_statement((const char *)st->args, st->args_len, &pos, &start, &len))
		return false;
	struct sql_facts f;
	sql_analyse((const char *)st->args + start, len, &f);
	return f.kind == SQL_BEGIN;
}

/* vars: the user variables of the transaction's commands before this one
 * (sqltext.h), this one's added. */
static const char *command_not_rerunnable(const struct txn_stmt *st, struct sql_var_ledger *vars)
{
	switch (st->code) {
	case COM_QUERY:
		break;
	case COM_INIT_DB:
	case COM_PING:
		return NULL;
	default:
		return "a command other than a text query, USE or PING (prepared statements are not replayed)";
	}
	const char *text = (const char *)st->args;
	size_t pos = 0, start, len;
	while (sql_next_statement(text, st->args_len, &pos, &start, &len)) {
		const char *why = sql_not_rerunnable(text + start, len, vars);
		if (why)
			return why;
	}
	return NULL;
}

/* Why the open transaction cannot run again, or NULL. */
static const char *not_replayable(const struct session *s)
{
	const struct session_context *c = &s->ctx;
	const struct txn *t = &c->txn;
	if (!c->txn_open || !t->kept_all || t->nstmts == 0)
		return "its statements are not kept (more than replay_max_bytes)";
	if (t->began_mid_command)
		return "it began inside the multi-statement command that ended the one before";
	if (c->autocommit && !starts_with_begin(&t->stmts[0]))
		return "an autocommit statement: the client's own retry runs all of it again";
	if (t->stmts[t->nstmts - 1].code != c->command)
		return "the failed command is not the transaction's last";
	struct sql_var_ledger vars = {0};
	for (size_t i = 0; i < t->nstmts; i++) {
		const char *why = command_not_rerunnable(&t->stmts[i], &vars);
		if (why)
			return why;
		if (i + 1 < t->nstmts && t->stmts[i].insert_ids > 1)
			return "a command that generated ids in several statements (only one can be pinned)";
	}
	return NULL;
}

/* ------------------------------------------------------------------------
 * Sending
 * ------------------------------------------------------------------------ */

/* The command as it went, in chunks of at most 16 MiB; NULL when out of
 * memory. */
static uint8_t *command_wire(const struct txn_stmt *st, size_t *len_out)
{
	uint64_t payload = (uint64_t)st->args_len + 1;
	size_t chunks = (size_t)(payload / PROTO_MAX_CHUNK) + 1;
	size_t len = (size_t)payload + chunks * PROTO_HEADER_LEN;
	uint8_t *wire = malloc(len), *p = wire;
	if (!wire)
		return NULL;
	uint64_t off = 0; /* into the payload: the code byte, then args */
	for (size_t i = 0; i < chunks; i++) {
		uint32_t n = (uint32_t)(payload - off < PROTO_MAX_CHUNK ? payload - off : PROTO_MAX_CHUNK);
		proto_frame_write_header(p, n, (uint8_t)i);
		p += PROTO_HEADER_LEN;
		for (uint32_t k = 0; k < n; k++, off++)
			*p++ = off == 0 ? st->code : st->args[off - 1];
	}
	*len_out = (size_t)(p - wire);
	return wire;
}

static bool send_query(struct session *s, const char *sql, size_t len)
{
	uint8_t hdr[PROTO_HEADER_LEN + 1];
	proto_frame_write_header(hdr, (uint32_t)(len + 1), 0);
	hdr[PROTO_HEADER_LEN] = COM_QUERY;
	return iobuf_append(&s->server->out, hdr, sizeof(hdr)) && iobuf_append(&s->server->out, sql, len);
}

int clock_sql(char *out, size_t cap, uint64_t usec)
{
	if (!usec)
		return snprintf(out, cap, "SET timestamp=DEFAULT");
	return snprintf(out, cap, "SET timestamp=%llu.%06llu", (unsigned long long)(usec / 1000000u),
			(unsigned long long)(usec % 1000000u));
}

static void expect(struct session *s, enum redo_step step, uint8_t command)
{
	s->redo.step = step;
	s->redo.crc = 0;
	s->redo.in_chunk = false;
	proto_tracker_begin(&s->tracker, command, s->caps);
}

static void fail_session(struct session *s) { session_close(s, "out of memory"); }

static void deliver(struct session *s)
{
	struct redo *r = &s->redo;
	uint8_t *err = r->err;
	r->err = NULL;
	relay_deliver_final(s, err, r->err_len, &r->err_end);
}

/* The client gets the original ERR; what the replay did is undone first. */
static void give_up(struct session *s, const char *why)
{
	struct redo *r = &s->redo;
	atomic_fetch_add(&session_gate(s)->replays_failed, 1);
	log_notice("session %llu: %s in transaction %llu: not run again (%s, attempt %d): the client gets the error",
		   (unsigned long long)s->id, error_name(r->err_end.err_code), (unsigned long long)s->ctx.txn.id, why,
		   r->attempt);
	if (!r->undone) {
		deliver(s);
		return;
	}
	char sql[64];
	int n = clock_sql(sql, sizeof(sql), s->ctx.fixed_time_usec);
	if (!send_query(s, "ROLLBACK", 8) || !send_query(s, sql, (size_t)n)) {
		fail_session(s);
		return;
	}
	r->awaiting = 2;
	expect(s, RD_UNDO, COM_QUERY);
}

/* Every earlier command matched: the failed one goes again, its response
 * the client's. */
static void send_failed_again(struct session *s)
{
	struct redo *r = &s->redo;
	const struct txn *t = &s->ctx.txn;
	const struct txn_stmt *st = &t->stmts[t->nstmts - 1];
	char sql[64];
	int n = clock_sql(sql, sizeof(sql), s->ctx.fixed_time_usec);
	if (r->undone && !session_inject(s, sql, (size_t)n, NULL, NULL)) {
		fail_session(s);
		return;
	}
	size_t len;
	uint8_t *wire = command_wire(st, &len);
	if (!wire) {
		fail_session(s);
		return;
	}
	struct gate *g = session_gate(s);
	if (r->whole) {
		atomic_fetch_add(&g->replays, 1);
		log_info("session %llu: %s in transaction %llu: its %zu earlier command(s) ran again with the results the "
			 "client had; the failed %s goes again (attempt %d)",
			 (unsigned long long)s->id, error_name(r->err_end.err_code), (unsigned long long)t->id,
			 t->nstmts - 1, proto_command_name(st->code), r->attempt);
	} else {
		atomic_fetch_add(&g->replay_retries, 1);
		log_info("session %llu: %s in transaction %llu, which stays open: the failed %s goes again (attempt %d)",
			 (unsigned long long)s->id, error_name(r->err_end.err_code), (unsigned long long)t->id,
			 proto_command_name(st->code), r->attempt);
	}
	free(r->err);
	r->err = NULL;
	relay_send_again(s, wire, len, st->code);
}

/* The next earlier command, after its clock and insert id. */
static void send_next(struct session *s)
{
	struct redo *r = &s->redo;
	const struct txn *t = &s->ctx.txn;
	if (r->next + 1 >= t->nstmts) {
		send_failed_again(s);
		return;
	}
	const struct txn_stmt *st = &t->stmts[r->next];
	char sql[96];
	int n = clock_sql(sql, sizeof(sql), st->fixed_time_usec ? st->fixed_time_usec : st->sent_usec);
	if (st->insert_ids)
		n += snprintf(sql + n, sizeof(sql) - (size_t)n, ", insert_id=%llu", (unsigned long long)st->insert_id);
	size_t len;
	uint8_t *wire = command_wire(st, &len);
	bool ok = wire && send_query(s, sql, (size_t)n) && iobuf_append(&s->server->out, wire, len);
	free(wire);
	if (!ok) {
		fail_session(s);
		return;
	}
	r->undone = true; /* from here on, a give-up rolls back and puts the clock back */
	expect(s, RD_PIN, COM_QUERY);
}

static void on_backoff(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct session *s = arg;
	if (s->state != S_REPLAY)
		return;
	if (s->redo.whole) {
		s->redo.next = 0;
		send_next(s);
	} else {
		send_failed_again(s);
	}
	session_flush(s);
}

static void back_off(struct session *s)
{
	struct redo *r = &s->redo;
	if (!r->timer) {
		r->timer = evtimer_new(s->worker->base, on_backoff, s);
		if (!r->timer) {
			fail_session(s);
			return;
		}
	}
	/* Jitter from the clock and the session: two sessions that deadlocked
	 * on each other do not come back at the same moment. */
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	uint64_t span = (uint64_t)BACKOFF_BASE_USEC << (r->attempt > 6 ? 6 : r->attempt - 1);
	uint64_t x = ((uint64_t)now.tv_nsec ^ (s->id * 0x9e3779b97f4a7c15ull)) * 0xbf58476d1ce4e5b9ull;
	uint64_t usec = span + (x >> 32) % span;
	struct timeval tv = {.tv_sec = (time_t)(usec / 1000000u), .tv_usec = (suseconds_t)(usec % 1000000u)};
	r->step = RD_BACKOFF;
	evtimer_add(r->timer, &tv);
}

/* ------------------------------------------------------------------------
 * Taking the error, reading the answers
 * ------------------------------------------------------------------------ */

bool redo_take_error(struct session *s, size_t wire)
{
	const struct proto_result_end *e = &s->tracker.last;
	const struct config *cfg = session_cfg(s);
	if (!retriable(e->err_code) || cfg->throttle_replay_attempts == 0)
		return false;
	struct redo *r = &s->redo;
	struct gate *g = session_gate(s);
	const char *why = not_replayable(s);
	if (why) {
		atomic_fetch_add(&g->replays_refused, 1);
		log_info("session %llu: %s in transaction %llu goes to the client: %s", (unsigned long long)s->id,
			 error_name(e->err_code), (unsigned long long)s->ctx.txn.id, why);
		return false;
	}
	if (r->attempt >= cfg->throttle_replay_attempts) {
		atomic_fetch_add(&g->replays_failed, 1);
		log_notice("session %llu: %s in transaction %llu again after %d attempt(s) (replay_attempts): the client "
			   "gets the error",
			   (unsigned long long)s->id, error_name(e->err_code), (unsigned long long)s->ctx.txn.id, r->attempt);
		return false;
	}
	free(r->err);
	r->err = malloc(wire);
	if (!r->err)
		return false;
	memcpy(r->err, iobuf_peek(&s->server->in), wire);
	r->err_len = wire;
	r->err_end = *e;
	conn_consume(s->server, wire);
	r->attempt++;
	r->undone = false;
	r->skip = 0;
	session_set_state(s, S_REPLAY);
	if (e->err_code == ER_LOCK_DEADLOCK) {
		r->whole = true;
		back_off(s);
		return true;
	}
	static const char check[] = "SELECT @@in_transaction";
	if (!send_query(s, check, sizeof(check) - 1)) {
		fail_session(s);
		return true;
	}
	expect(s, RD_CHECK, COM_QUERY);
	return true;
}

/* One of acctgate's own statements did not answer OK. */
static bool answered_ok(const struct session *s) { return s->tracker.last.kind == END_OK; }

/* A response read to its end; first_err: its first packet was its ERR. */
static void response_done(struct session *s, bool first_err)
{
	struct redo *r = &s->redo;
	const struct txn *t = &s->ctx.txn;
	switch ((enum redo_step)r->step) {
	case RD_CHECK:
		if (!answered_ok(s) && s->tracker.last.kind != END_EOF) {
			give_up(s, "SELECT @@in_transaction failed");
			return;
		}
		r->whole = !r->in_trans;
		back_off(s);
		return;
	case RD_PIN:
		if (!answered_ok(s)) {
			give_up(s, "SET timestamp failed");
			return;
		}
		expect(s, RD_STATEMENT, t->stmts[r->next].code);
		return;
	case RD_STATEMENT:
		if (first_err && retriable(s->tracker.last.err_code)) {
			/* Caught again: start over, if attempts are left. */
			if (!send_query(s, "ROLLBACK", 8)) {
				fail_session(s);
				return;
			}
			expect(s, RD_RESTART, COM_QUERY);
			return;
		}
		if (r->crc != t->stmts[r->next].response_crc) {
			char why[96];
			snprintf(why, sizeof(why), "command %zu of %zu answered otherwise than the client was told",
				 r->next + 1, t->nstmts);
			give_up(s, why);
			return;
		}
		r->next++;
		send_next(s);
		return;
	case RD_RESTART:
		if (r->attempt >= session_cfg(s)->throttle_replay_attempts) {
			give_up(s, "the replay itself failed the same way on every attempt");
			return;
		}
		r->attempt++;
		r->whole = true;
		back_off(s);
		return;
	case RD_UNDO:
		if (--r->awaiting > 0) {
			expect(s, RD_UNDO, COM_QUERY);
			return;
		}
		deliver(s);
		return;
	case RD_BACKOFF:
		break;
	}
	log_error("session %llu: the server answered while nothing was asked (replay); closing",
		  (unsigned long long)s->id);
	session_close(s, "protocol desynchronised");
}

/* Read past `wire` bytes of a packet (digesting a replayed response). */
static void take(struct session *s, size_t wire)
{
	struct iobuf *in = &s->server->in;
	size_t n = iobuf_len(in) < wire ? iobuf_len(in) : wire;
	if (s->redo.step == RD_STATEMENT)
		s->redo.crc = journal_crc32c(s->redo.crc, iobuf_peek(in), n);
	conn_consume(s->server, n);
	s->redo.skip = wire - n;
}

/* SELECT @@in_transaction's one value. */
static void read_in_trans(struct session *s, const uint8_t *payload, size_t len)
{
	struct proto_slice v;
	bool null;
	if (proto_parse_text_row(payload, len, 1, &v, &null, NULL) == PROTO_OK && !null)
		s->redo.in_trans = v.len == 1 && v.ptr[0] == '1';
}

void redo_server_input(struct session *s)
{
	struct iobuf *in = &s->server->in;
	struct redo *r = &s->redo;
	while (s->state == S_REPLAY && r->step != RD_BACKOFF && iobuf_len(in) > 0) {
		if (r->skip) {
			take(s, (size_t)r->skip);
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
		/* Digested as the client would have received it. */
		proto_frame_rewrite_seq(pkt, PROTO_HEADER_LEN, (uint8_t)(h.seq - s->seq_shift));
		if (r->in_chunk) {
			r->in_chunk = h.payload_len == PROTO_MAX_CHUNK;
			take(s, wire);
			continue;
		}
		const uint8_t *payload = pkt + PROTO_HEADER_LEN;
		enum proto_tracker_state before = s->tracker.state;
		struct proto_error perr = {0};
		enum proto_tracker_event ev = proto_tracker_feed(&s->tracker, payload, peek, h.payload_len, &perr);
		if (ev == TRK_EV_MALFORMED || ev == TRK_EV_CLIENT_TURN || ev == TRK_EV_INFILE_REFUSED) {
			log_error("session %llu: unexpected server packet while running the transaction again: %s; closing",
				  (unsigned long long)s->id, ev == TRK_EV_MALFORMED && perr.what ? perr.what : "a file request");
			session_close(s, "protocol desynchronised");
			return;
		}
		if (r->step == RD_CHECK && before == TRK_ROWS && ev == TRK_EV_CONTINUE && peek == h.payload_len)
			read_in_trans(s, payload, peek);
		r->in_chunk = h.payload_len == PROTO_MAX_CHUNK;
		bool first_err = ev == TRK_EV_DONE && before == TRK_FIRST && s->tracker.last.kind == END_ERR;
		take(s, wire);
		if (ev == TRK_EV_DONE)
			response_done(s, first_err);
	}
	if (s->state == S_COMMAND)
		relay_server_input(s); /* the failed command's response may be here already */
}
