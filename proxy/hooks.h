/*
 * hooks.h - what the journal, snapshots and contention control attach to:
 * the session layer asks each registered hook for a verdict before a client
 * command goes to the server and before the final packet of a result goes
 * to the client, and tells them every result end and transaction boundary.
 *
 * Hooks run on the session's worker thread, inside its event loop: they
 * must not block. A hook that needs time (a named lock, a journal fsync)
 * answers HOOK_HOLD and later calls session_release() from the same
 * worker's thread (through the worker's mailbox when it lives elsewhere).
 *
 * Order: hooks are asked in registration order; the first verdict that is
 * not HOOK_FORWARD decides. After a hold is released, the hooks after the
 * one that held are asked in turn, so a command a throttle released still
 * meets the journal.
 *
 * Registration (gate_add_hooks) happens before the workers start; the
 * table is read without locks afterwards.
 */
#ifndef ACCTGATE_HOOKS_H
#define ACCTGATE_HOOKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

struct session;

enum hook_verdict {
	HOOK_FORWARD, /* go on as if no hook were there */
	HOOK_HOLD,    /* stop here until session_release(); the client waits */
	HOOK_ANSWER,  /* answer the client with the ERR in *answer: before_command, instead
	                 of forwarding; before_result_end, in place of the final packet */
	HOOK_SWALLOW, /* before_result_end only: the final packet does not reach the client */
};

/* A client command, whole, as it arrived (headers included). */
struct hook_command {
	uint8_t code;             /* COM_QUERY, COM_STMT_EXECUTE, ... */
	const uint8_t *wire;      /* every chunk, headers included */
	size_t wire_len;
	uint64_t payload_len;
	/* The payload after the command byte when it is contiguous (one
	 * chunk, < 16 MiB), else NULL: gather it from `wire` with
	 * proto_frame_gather. */
	const uint8_t *args;
	size_t args_len;
};

/* The command's payload after its code byte as one malloc'd block,
 * gathered from its chunks when it has several (the caller frees it);
 * NULL when out of memory. */
char *hook_command_args(const struct hook_command *cmd, size_t *len_out);

/* The ERR a HOOK_ANSWER sends (its sequence id is the session's). */
struct hook_answer {
	uint16_t code;
	char sql_state[6];
	char message[256];
};

/* One command of an open transaction, kept in order until it ends, with
 * what a replay after a deadlock needs to run it again the same way. */
struct txn_stmt {
	uint8_t code;
	uint8_t *args;            /* the command's payload after its code byte (a copy) */
	size_t args_len;
	struct proto_result_end end; /* the last result end of its response */
	uint32_t response_crc;    /* CRC-32C of the response as the client got it, headers included */
	uint64_t fixed_time_usec; /* the session's timestamp when it went (session_fix_time); 0: the clock's */
	uint64_t sent_usec;       /* the wall clock when it went */
	uint64_t insert_id;       /* the first id a result end of it reported; 0: none */
	uint8_t insert_ids;       /* how many of its result ends reported one (at most 2 counted) */
};

enum txn_end {
	TXN_END_SERVER,    /* an OK/EOF said the transaction is over: COMMIT, ROLLBACK,
	                      an implicit commit or an autocommit statement (the
	                      statements and their ends say which) */
	TXN_END_ROLLED_BACK, /* an ERR the server rolls the whole transaction back on
	                        (1213 deadlock, 1614/1402 XA rollback) */
	TXN_END_LOST,      /* the session ended with the transaction open */
};

struct txn {
	uint64_t id;              /* per session, from 1 */
	struct txn_stmt *stmts;
	size_t nstmts, cap;
	size_t kept_bytes;        /* the statements' args together */
	bool wrote;               /* some statement reported affected rows or an insert id */
	bool kept_all;            /* stmts holds every command since it began */
	bool began_mid_command;   /* its first command also ended the one before ("COMMIT; INSERT ...") */
};

struct session_hooks {
	const char *name;
	void *arg;
	/* Before a command is forwarded (every command, COM_QUIT excepted). */
	enum hook_verdict (*before_command)(void *arg, struct session *s, const struct hook_command *cmd,
					    struct hook_answer *answer);
	/* Before the packet that ends a response (its last OK/ERR/EOF) reaches
	 * the client; `packet` is its payload. */
	enum hook_verdict (*before_result_end)(void *arg, struct session *s, const struct proto_result_end *end,
					       const uint8_t *packet, size_t len, struct hook_answer *answer);
	/* Every result end of a response (multi-results: each), with status flags. */
	void (*on_result_end)(void *arg, struct session *s, const struct proto_result_end *end);
	/* The first command of a transaction is about to be forwarded. */
	void (*on_txn_begin)(void *arg, struct session *s, const struct txn *t);
	/* The transaction ended; its statements in the order they ran. */
	void (*on_txn_end)(void *arg, struct session *s, const struct txn *t, enum txn_end how);
	/* A COM_STMT_PREPARE succeeded: the server's id for the statement
	 * and its parameter count (the prepared text was the command). */
	void (*on_prepare_ok)(void *arg, struct session *s, uint32_t stmt_id, uint16_t nparams);
	/* The session is being freed: release what session_hook_data holds. */
	void (*on_session_end)(void *arg, struct session *s);
};

#define HOOKS_MAX 8

/* Resume a session a hook held (HOOK_HOLD), on its worker's thread. */
void session_release(struct session *s);
/* Resume a held command by answering the client with an ERR instead of
 * forwarding it (statements session_inject queued still go, first). */
void session_release_error(struct session *s, const struct hook_answer *answer);

/*
 * Statements of acctgate's own (SET TIMESTAMP, reading session variables,
 * ROLLBACK), sent on the session's server leg right before the command a
 * before_command hook holds or is looking at: pipelined with it, so they
 * cost no round trip, and their responses never reach the client. Call
 * from before_command, or while the command is held; or from
 * before_result_end returning HOOK_HOLD: they go at once, after the
 * response, and the final packet stays held until the hook releases it
 * (typically from the last one's on_done). Each response's text
 * rows go to on_row (values of at most SESSION_INJECT_COLUMNS columns,
 * rows longer than 64 KiB are skipped), its end to on_done. False when
 * SESSION_INJECT_MAX are queued or out of memory.
 */
struct session_inject_ops {
	void (*on_row)(void *arg, struct session *s, const struct proto_slice *values, const bool *nulls,
		       size_t ncols);
	void (*on_done)(void *arg, struct session *s, const struct proto_result_end *end);
};
#define SESSION_INJECT_MAX 4
#define SESSION_INJECT_COLUMNS 16
bool session_inject(struct session *s, const char *sql, size_t len, const struct session_inject_ops *ops, void *arg);

/* Fix the server's clock for the command a before_command hook is looking
 * at: SET timestamp, injected as session_inject does (usec 0: the server's
 * own clock again). The session layer keeps the value with the command,
 * so that a transaction run again after a deadlock (redo.c) sees the same
 * time. False as session_inject. */
bool session_fix_time(struct session *s, uint64_t usec);

/* From on_result_end, at a result end that is not the response's last
 * (a statement of a multi-statement query): that result's last packet,
 * and everything after it, reaches the client only after session_release
 * (a mid-query COMMIT's OK waits for its journal record). The server is
 * not read meanwhile. False when it cannot (the packet is not whole in
 * the buffer, or this is not such a result end): nothing is paused. */
bool session_pause_response(struct session *s);

/* Send what session_inject queued while a final packet is held (from a
 * worker_call, not from a hook): answered, the packet stays held, and the
 * last one's on_done decides. */
void session_send_injected(struct session *s);

/* The held final packet's payload, for a hook that must correct it in
 * place (its length cannot change); NULL unless a final packet is held. */
uint8_t *session_held_final(struct session *s, size_t *len);

/* A hook's own per-session pointer (NULL at first); free it in
 * on_session_end. */
void **session_hook_data(struct session *s, const struct session_hooks *h);
/* The worker the session lives on: session_release must run there
 * (worker_call). */
struct worker *session_worker(const struct session *s);
/* The worker's first live session (walk on with session_next, session.h). */
struct session *session_first(struct worker *w);
/* The worker's live session with this id, NULL if it ended (on the
 * worker's thread, from a worker_call). */
struct session *session_find(struct worker *w, uint64_t id);
/* The negotiated client capabilities (CLIENT_* bits). */
uint32_t session_caps(const struct session *s);

/* Read-only views of a session for hooks and the admin port. */
uint64_t session_id(const struct session *s);
const char *session_user(const struct session *s);
const char *session_database(const struct session *s);
bool session_in_transaction(const struct session *s);
bool session_autocommit(const struct session *s);
/* The session's state ("idle", "command", "auth", ...: session_int.h) and
 * the client's address ("host:port"), for the admin port. */
const char *session_state_label(const struct session *s);
const char *session_peer(const struct session *s);
/* A hook holds the session (a command or a final packet): session_release
 * is what it waits for. False once it closes. */
bool session_held(const struct session *s);
/* The session has a transaction open or a command on its way (forwarded,
 * or held by a hook, or its response still streaming): what a quiesce
 * waits for. A session idle outside a transaction, or still logging in,
 * is not busy. */
bool session_busy(const struct session *s);

#endif
