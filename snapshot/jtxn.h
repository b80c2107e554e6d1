/*
 * jtxn.h - what acctgate puts in journal records: transactions, as the
 * recorder (proxy/recorder.c) writes them and `journal cat` and `replay`
 * read them back. One codec for both sides, bounded on decode (a record's
 * payload is checked by its CRC, but a decoder never trusts a length).
 *
 * A transaction reaches the journal in two records (see recorder.c for
 * why): a PREPARE with its statements, durable before the COMMIT (or the
 * autocommit statement) goes to the server, then a COMMIT with the
 * statements as they ran and their results once the server said OK, or an
 * ABORT when it did not commit. A PREPARE with neither is in doubt: the
 * commit went out and acctgate never saw the answer.
 *
 * Payload layout (little-endian; lenenc as in the MySQL protocol):
 *
 *   u8  version (1)
 *   u64 run_id        the acctgate process that recorded it (start time, us)
 *   u64 session_id    the client session within that run
 *   u64 txn_id        the session's transaction number
 *   u64 prepare_seq   COMMIT/ABORT: the PREPARE it resolves (0: none)
 *   u32 flags         JTXN_*
 *   u64 clock         COMMIT/ABORT: the server's commit clock (indoubt.h), 0 = none
 *   u8  context_known
 *   lenenc strings    database, user, sql_mode, time_zone,
 *                     character_set_client, collation_connection,
 *                     collation_server, lc_time_names
 *   u8  foreign_key_checks, u8 unique_checks
 *   u32 auto_increment_increment, u32 auto_increment_offset
 *   lenenc nstmts, then per statement:
 *     u32 flags (JSTMT_*), u32 unsafe (sql_unsafe bits)
 *     u64 timestamp_usec (0: the statement ran without a fixed timestamp)
 *     u64 last_insert_id_before
 *     u64 affected_rows, u64 insert_id, u16 warnings
 *     lenenc string text
 */
#ifndef ACCTGATE_JTXN_H
#define ACCTGATE_JTXN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum jrec_type {
	JREC_PREPARE = 1,
	JREC_COMMIT = 2,
	JREC_ABORT = 3,
	/* A snapshot's cut: every COMMIT before it is in the snapshot, none
	 * after it (snapshot/snapshot.h). No statements. */
	JREC_CUT = 4,
};

const char *jrec_type_name(uint8_t type);

/* The session variables a statement's result depends on, as the server
 * reported them before the transaction's first statement. */
struct jtxn_context {
	bool known;               /* false: the server could not be asked; replay uses its defaults */
	char database[256];
	char user[128];
	char sql_mode[512];
	char time_zone[64];
	char character_set_client[64];
	char collation_connection[64];
	char collation_server[64];
	char lc_time_names[32];
	uint8_t foreign_key_checks;
	uint8_t unique_checks;
	uint32_t auto_increment_increment;
	uint32_t auto_increment_offset;
};

enum jstmt_flag {
	JSTMT_READS_LAST_INSERT_ID = 1u << 0, /* LAST_INSERT_ID(): replay sets last_insert_id_before */
	JSTMT_SETS_LAST_INSERT_ID = 1u << 1,  /* LAST_INSERT_ID(expr): insert_id may be expr's value */
	JSTMT_GENERATED_ID = 1u << 2,         /* insert_id is the first auto-increment id it generated */
	JSTMT_CALL = 1u << 3,                 /* a stored procedure: its inner statements are not fixed */
	JSTMT_WHOLE_COMMAND = 1u << 4,        /* a multi-statement text that could not be split by its
	                                         results: replayed whole, results not checked */
};

struct jstmt {
	const char *text;         /* decoded: points into the payload */
	size_t len;
	uint32_t flags;
	uint32_t unsafe;
	uint64_t timestamp_usec;
	uint64_t last_insert_id_before;
	uint64_t affected_rows;
	uint64_t insert_id;
	uint16_t warnings;
};

enum jtxn_flag {
	/* PREPARE: a commit marker goes into the transaction itself (recorder.c),
	 * so a later start can ask the server whether it committed. */
	JTXN_MARKED = 1u << 0,
	/* COMMIT: written at a later start from an in-doubt PREPARE the
	 * server's marker showed committed; its statements carry no results
	 * to check. */
	JTXN_RESOLVED = 1u << 1,
};

struct jtxn {
	uint64_t run_id, session_id, txn_id;
	uint64_t prepare_seq;
	uint32_t flags;
	/* The value this transaction's own update of the commit clock row
	 * gave (<markers>.clock): the order the server committed in. */
	uint64_t clock;
	struct jtxn_context ctx;
	struct jstmt *stmts;
	size_t nstmts;
};

/*
 * The SET statement that gives a statement the context it was recorded
 * with, as replay and `journal cat` send it before the statement:
 * "SET timestamp=..., insert_id=..., last_insert_id=..." (timestamp=DEFAULT
 * when the previous statement had its time fixed and this one has not;
 * *ts_fixed follows). Returns its length, 0 when none is needed.
 */
size_t jstmt_context_set(const struct jstmt *st, bool *ts_fixed, char *out, size_t cap);

/* Encode into a malloc'd buffer (*out, *out_len). False when out of memory. */
bool jtxn_encode(const struct jtxn *t, uint8_t **out, size_t *out_len);

/* Decode; t->stmts is malloc'd (free with jtxn_free_decoded) and its texts
 * point into p. False with why[] filled on a malformed payload. */
bool jtxn_decode(const uint8_t *p, size_t len, struct jtxn *t, char *why, size_t why_len);
void jtxn_free_decoded(struct jtxn *t);

#endif
