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
	HOOK_ANSWER,  /* before_command only: answer the client with the ERR in *answer */
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

/* The ERR a HOOK_ANSWER sends (its sequence id is the session's). */
struct hook_answer {
	uint16_t code;
	char sql_state[6];
	char message[256];
};

/* One command of an open transaction, kept in order until it ends. */
struct txn_stmt {
	uint8_t code;
	uint8_t *args;            /* the command's payload after its code byte (a copy) */
	size_t args_len;
	struct proto_result_end end; /* the last result end of its response */
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
	bool wrote;               /* some statement reported affected rows or an insert id */
};

struct session_hooks {
	const char *name;
	void *arg;
	/* Before a command is forwarded (every command, COM_QUIT excepted). */
	enum hook_verdict (*before_command)(void *arg, struct session *s, const struct hook_command *cmd,
					    struct hook_answer *answer);
	/* Before the packet that ends a response (its last OK/ERR/EOF) reaches
	 * the client; `packet` is its payload. HOOK_ANSWER is not allowed. */
	enum hook_verdict (*before_result_end)(void *arg, struct session *s, const struct proto_result_end *end,
					       const uint8_t *packet, size_t len);
	/* Every result end of a response (multi-results: each), with status flags. */
	void (*on_result_end)(void *arg, struct session *s, const struct proto_result_end *end);
	/* The first command of a transaction is about to be forwarded. */
	void (*on_txn_begin)(void *arg, struct session *s, const struct txn *t);
	/* The transaction ended; its statements in the order they ran. */
	void (*on_txn_end)(void *arg, struct session *s, const struct txn *t, enum txn_end how);
};

#define HOOKS_MAX 8

/* Resume a session a hook held (HOOK_HOLD), on its worker's thread. */
void session_release(struct session *s);

/* Read-only views of a session for hooks and the admin port. */
uint64_t session_id(const struct session *s);
const char *session_user(const struct session *s);
const char *session_database(const struct session *s);
bool session_in_transaction(const struct session *s);

#endif
