/*
 * txn.c - what the server-side session is in, kept from the server's own
 * words: every OK and EOF carries the status flags (autocommit, in a
 * transaction), OKs with session tracking name a new default database, and
 * a few ERRs say the server rolled the whole transaction back.
 *
 * Transactions as the hooks see them: one begins with the first command
 * forwarded while none is open (an explicit BEGIN, or a statement that
 * autocommit makes a transaction of its own) and ends at the first result
 * end after which the server reports no transaction open. Boundaries fall
 * between commands: a multi-statement query "COMMIT; INSERT ..." ends one
 * transaction and begins the next inside one command, which then appears in
 * both (each with the result ends it had so far).
 *
 * The statements of the open transaction are copied only when a hook asks
 * for them (on_txn_end) or a deadlock may replay them ([throttle]
 * replay_attempts, up to replay_max_bytes): otherwise nothing is copied.
 */
#include "session_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* ERRs after which the server has rolled the whole transaction back, not
 * only the statement: a deadlock, and XA branches the server rolled back.
 * (A lock wait timeout, 1205, rolls back the statement only, unless the
 * server runs with innodb_rollback_on_timeout; the next OK's flags say.) */
#define ER_LOCK_DEADLOCK 1213
#define ER_XA_RBROLLBACK 1402
#define ER_XA_RBDEADLOCK 1614

static bool rolls_back_transaction(uint16_t code)
{
	return code == ER_LOCK_DEADLOCK || code == ER_XA_RBROLLBACK || code == ER_XA_RBDEADLOCK;
}

/* Hooks that see whole transactions need every statement; a replay after
 * a deadlock (redo.c) needs them only up to replay_max_bytes. */
static bool hooks_keep(const struct session *s) { return session_gate(s)->hooks_keep_statements; }
static bool keeps_statements(const struct session *s)
{
	return hooks_keep(s) || session_cfg(s)->throttle_replay_attempts > 0;
}

static uint64_t wall_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void free_statements(struct txn *t)
{
	for (size_t i = 0; i < t->nstmts; i++)
		free(t->stmts[i].args);
	free(t->stmts);
	t->stmts = NULL;
	t->nstmts = t->cap = 0;
	t->kept_bytes = 0;
}

/* Keep a copy of the command for the hooks; false when out of memory. */
static bool keep_statement(struct txn *t, const struct hook_command *cmd)
{
	if (t->nstmts == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 8;
		struct txn_stmt *p = realloc(t->stmts, cap * sizeof(*p));
		if (!p)
			return false;
		t->stmts = p;
		t->cap = cap;
	}
	struct txn_stmt *st = &t->stmts[t->nstmts];
	*st = (struct txn_stmt){.code = cmd->code};
	size_t len = (size_t)cmd->payload_len - 1;
	st->args = malloc(len ? len : 1);
	if (!st->args)
		return false;
	if (cmd->args) {
		memcpy(st->args, cmd->args, len);
	} else {
		/* Several chunks: gather the payload, then drop its code byte. */
		uint8_t *whole = malloc((size_t)cmd->payload_len);
		if (!whole) {
			free(st->args);
			return false;
		}
		proto_frame_gather(cmd->wire, cmd->wire_len, whole);
		memcpy(st->args, whole + 1, len);
		free(whole);
	}
	st->args_len = len;
	t->kept_bytes += len;
	t->nstmts++;
	return true;
}

static void begin(struct session *s)
{
	struct session_context *c = &s->ctx;
	c->txn_open = true;
	c->txn.id = ++c->next_txn_id;
	c->txn.wrote = false;
	c->txn.kept_all = keeps_statements(s);
	c->txn.began_mid_command = false;
	struct gate *g = session_gate(s);
	for (int i = 0; i < g->nhooks; i++)
		if (g->hooks[i]->on_txn_begin)
			g->hooks[i]->on_txn_begin(g->hooks[i]->arg, s, &c->txn);
}

static void end(struct session *s, enum txn_end how)
{
	struct session_context *c = &s->ctx;
	struct gate *g = session_gate(s);
	for (int i = 0; i < g->nhooks; i++)
		if (g->hooks[i]->on_txn_end)
			g->hooks[i]->on_txn_end(g->hooks[i]->arg, s, &c->txn, how);
	c->txn_open = false;
	free_statements(&c->txn);
}

void txn_on_command(struct session *s, const struct hook_command *cmd)
{
	struct session_context *c = &s->ctx;
	s->worker->commands++; /* the worker's own thread: read there by the admin port */
	if (!c->txn_open)
		begin(s);
	redo_on_command(s);
	struct txn *t = &c->txn;
	if (!hooks_keep(s) && !t->kept_all)
		return; /* past replay_max_bytes: nothing replays it */
	if (!keep_statement(t, cmd)) {
		t->kept_all = false;
		log_error("session %llu: out of memory keeping transaction %llu's statement: its hooks see it "
			  "incomplete, and a deadlock in it goes to the client",
			  (unsigned long long)s->id, (unsigned long long)t->id);
		return;
	}
	struct txn_stmt *st = &t->stmts[t->nstmts - 1];
	st->fixed_time_usec = c->fixed_time_usec;
	st->sent_usec = wall_usec();
	s->response_crc = 0;
	if (!hooks_keep(s) && t->kept_bytes > (size_t)session_cfg(s)->throttle_replay_max_bytes) {
		/* Too big to replay: keep nothing more (the cap bounds memory). */
		free_statements(t);
		t->kept_all = false;
	}
}

/* An OK that reports session-state changes: pick up a new default
 * database (`USE db` sent as a query, which COM_INIT_DB tracking misses). */
static void note_session_state(struct session *s, const uint8_t *ok, size_t len)
{
	struct proto_ok parsed;
	struct proto_slice schema;
	if (proto_parse_ok(ok, len, s->caps, &parsed, NULL) != PROTO_OK ||
	    proto_session_state_schema(parsed.session_state, &schema, NULL) != PROTO_OK)
		return;
	snprintf(s->ctx.database, sizeof(s->ctx.database), "%.*s", (int)schema.len, (const char *)schema.ptr);
	char db[sizeof(s->ctx.database) * 4];
	log_escape(s->ctx.database, strlen(s->ctx.database), db, sizeof(db));
	log_debug("session %llu: default database is now '%s'", (unsigned long long)s->id, db);
}

void txn_on_result_end(struct session *s, const struct proto_result_end *e, const uint8_t *p, size_t len)
{
	struct session_context *c = &s->ctx;
	bool rolled_back = false;
	if (e->kind == END_OK || e->kind == END_EOF) {
		c->status_flags = e->status_flags;
		c->autocommit = (e->status_flags & SERVER_STATUS_AUTOCOMMIT) != 0;
		c->in_transaction = (e->status_flags & SERVER_STATUS_IN_TRANS) != 0;
		if (e->kind == END_OK && (e->status_flags & SERVER_SESSION_STATE_CHANGED))
			note_session_state(s, p, len);
		if (e->kind == END_OK && c->command == COM_INIT_DB && c->pending_database[0])
			memcpy(c->database, c->pending_database, sizeof(c->database));
		if (e->kind == END_OK && (c->command == COM_CHANGE_USER || c->command == COM_RESET_CONNECTION))
			c->fixed_time_usec = 0; /* the server reset the session's variables */
		if (e->kind == END_OK && c->command == COM_CHANGE_USER) {
			memcpy(c->user, c->pending_user, sizeof(c->user));
			memcpy(c->database, c->pending_user_db, sizeof(c->database));
		}
	} else if (e->kind == END_ERR && rolls_back_transaction(e->err_code)) {
		c->in_transaction = false;
		rolled_back = true;
	}
	if (!c->txn_open && (c->in_transaction || rolled_back)) {
		/* A second transaction inside the same multi-statement command. */
		begin(s);
		c->txn.began_mid_command = true;
	}
	struct txn *t = &c->txn;
	if (t->nstmts > 0) {
		struct txn_stmt *st = &t->stmts[t->nstmts - 1];
		st->end = *e;
		if (e->kind == END_OK && e->last_insert_id) {
			if (!st->insert_ids)
				st->insert_id = e->last_insert_id;
			if (st->insert_ids < 2)
				st->insert_ids++;
		}
	}
	if (e->kind == END_OK && (e->affected_rows > 0 || e->last_insert_id > 0))
		t->wrote = true;
	struct gate *g = session_gate(s);
	for (int i = 0; i < g->nhooks; i++)
		if (g->hooks[i]->on_result_end)
			g->hooks[i]->on_result_end(g->hooks[i]->arg, s, e);
	if (c->txn_open && !c->in_transaction)
		end(s, rolled_back ? TXN_END_ROLLED_BACK : TXN_END_SERVER);
}

void txn_on_injected_end(struct session *s, const struct proto_result_end *e)
{
	struct session_context *c = &s->ctx;
	if (e->kind != END_OK && e->kind != END_EOF)
		return;
	/* A COMMIT or BEGIN of acctgate's own changes what the server-side
	 * session is in, as the client's would. */
	c->status_flags = e->status_flags;
	c->autocommit = (e->status_flags & SERVER_STATUS_AUTOCOMMIT) != 0;
	c->in_transaction = (e->status_flags & SERVER_STATUS_IN_TRANS) != 0;
	if (c->txn_open && !c->in_transaction && c->command == 0xff)
		end(s, TXN_END_SERVER);
}

void txn_on_command_done(struct session *s)
{
	struct session_context *c = &s->ctx;
	if (log_get_level() <= LOG_DEBUG) {
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		double ms = (double)(now.tv_sec - c->command_started.tv_sec) * 1e3 +
			    (double)(now.tv_nsec - c->command_started.tv_nsec) / 1e6;
		char user[sizeof(c->user) * 4], db[sizeof(c->database) * 4];
		log_escape(c->user, strlen(c->user), user, sizeof(user));
		log_escape(c->database, strlen(c->database), db, sizeof(db));
		log_debug("session %llu: %s (%llu bytes) done in %.3f ms: %s; user '%s', database '%s', autocommit %s, "
			  "%s (status 0x%04x)",
			  (unsigned long long)s->id, proto_command_name(c->command),
			  (unsigned long long)c->command_len, ms, s->tracker.last.kind == END_ERR ? "ERR" : "OK", user, db,
			  c->autocommit ? "on" : "off", c->in_transaction ? "in transaction" : "no transaction",
			  c->status_flags);
	}
	if (c->txn_open && c->txn.nstmts > 0)
		c->txn.stmts[c->txn.nstmts - 1].response_crc = s->response_crc;
	/* A command without a result end (COM_STATISTICS' bare text) leaves a
	 * transaction of its own open only if the server had one. */
	if (c->txn_open && !c->in_transaction)
		end(s, TXN_END_SERVER);
	c->command = 0xff;
	c->pending_database[0] = '\0';
	c->pending_user[0] = '\0';
}

void txn_on_close(struct session *s)
{
	struct session_context *c = &s->ctx;
	/* Open at the end: its outcome (or its last command's) is unknown. */
	if (c->txn_open)
		end(s, TXN_END_LOST);
	free_statements(&c->txn);
}
