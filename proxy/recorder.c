/*
 * recorder.c - the write stream into the journal.
 *
 * What a session does, as the recorder follows it (text protocol):
 *
 *   before a command   split the COM_QUERY into statements (sqltext.h); if
 *                      one may write, pipeline ahead of it, invisibly:
 *                        SELECT @@session.sql_mode, ... LAST_INSERT_ID()
 *                          (only when something may have changed them)
 *                        SET timestamp = <now>
 *                      so the time every statement of the command sees is
 *                      the one the journal records (as the binlog does).
 *                      If the command may commit a transaction that wrote,
 *                      hold it until a PREPARE record (its statements so
 *                      far and the command's) is written (fsync = always:
 *                      durable): a crash between the server's commit and
 *                      acctgate's COMMIT record leaves that PREPARE in
 *                      doubt instead of losing the transaction.
 *   each result end    the statement it ends ran: keep it (with insert id,
 *                      affected rows, the session's LAST_INSERT_ID before
 *                      it); after a ROLLBACK or a deadlock forget the
 *                      transaction; where the server reports no
 *                      transaction open any more and it wrote, append the
 *                      COMMIT record, in the order the OKs arrive.
 *   the final packet   held until that COMMIT record is durable
 *                      (fsync = always), then released: the client's OK
 *                      means recorded.
 *
 * Commit order is the order acctgate sees the servers' OKs for commits,
 * taken on the worker the moment it parses them; README "Journal" says
 * why that is a serial order replay can follow, and where it is not.
 *
 * Completions come from the journal's writer thread and reach the session
 * through its worker's mailbox, found again by session id (it may be gone).
 */
#include "recorder.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>

#include "gate.h"
#include "indoubt.h"
#include "hooks.h"
#include "journal.h"
#include "jtxn.h"
#include "log.h"
#include "session.h"
#include "sqltext.h"
#include "stmt_params.h"
#include "tableclock.h"
#include "worker.h"

/* ER_ERROR_DURING_COMMIT: what a client knows as "the commit failed". */
#define ER_ERROR_DURING_COMMIT 1180
#define ER_LOCK_DEADLOCK 1213
#define ER_XA_RBROLLBACK 1402
#define ER_XA_RBDEADLOCK 1614
/* Digests whose reason was logged (log once per digest), bounded. */
#define FLAGGED_LOG_MAX 1024

/* The session variables a statement's result depends on (jtxn_context),
 * in the order set_context_value reads them. */
static const char context_query[] =
	"SELECT @@session.sql_mode, @@session.time_zone, @@session.character_set_client, "
	"@@session.collation_connection, @@session.collation_server, @@session.lc_time_names, "
	"@@session.foreign_key_checks, @@session.unique_checks, @@session.auto_increment_increment, "
	"@@session.auto_increment_offset, DATABASE(), LAST_INSERT_ID()";
#define CONTEXT_COLUMNS 12

struct recorder {
	struct gate *gate;
	struct journal *journal;
	enum journal_fsync fsync;
	enum journal_on_error on_error;
	uint64_t run_id;
	struct session_hooks hooks;
	pthread_mutex_t lock; /* stopped, flagged */
	bool stopped;
	uint64_t flagged_digests[FLAGGED_LOG_MAX];
	size_t nflagged_digests;
	bool unrecorded_logged;
	char markers[65];         /* [journal] markers: the schema, "" = off */
	/* A snapshot's cut (recorder_cut_begin): commits wait in cut_waiters
	 * while `cutting`; inflight counts commits sent and not yet answered. */
	bool cutting;
	struct cut_waiter {
		struct worker *worker;
		uint64_t session_id;
	} *cut_waiters;
	size_t ncut_waiters, cut_waiters_cap;
	atomic_int inflight;
	struct timespec cut_started;
	atomic_bool markers_off;  /* the server refused a marker: off until restart */
	atomic_bool clock_off;    /* the server refused the commit clock: off until restart */
	struct tableclock *tables; /* which tables read the clock; NULL: every write gets its time fixed */
	atomic_uint_fast64_t time_fixed, time_unfixed; /* write commands sent with / without SET timestamp */
	/* What the journal adds to a commit: holds for a PREPARE (before the
	 * COMMIT goes) and for COMMIT records (before the OK goes), and their
	 * total time. */
	atomic_uint_fast64_t prepare_waits, prepare_wait_usec, commit_waits, commit_wait_usec;
	atomic_uint_fast64_t commits, aborts, flagged, in_doubt, refused, gaps, unrecorded;
};

/* One statement of the command in flight. */
struct cmd_stmt {
	size_t start, len;
	struct sql_facts facts;
};

/* One statement of the transaction so far, as it ran. */
struct rec_stmt {
	char *text;
	size_t len;
	uint32_t flags, unsafe;
	uint64_t timestamp_usec, last_insert_id_before;
	uint64_t affected_rows, insert_id;
	uint16_t warnings;
	bool assigns;             /* sets user or session variables a later transaction may read */
};

/* A statement the session prepared (COM_STMT_PREPARE), until it closes
 * it: executions are journaled as its text with the parameters written in
 * as literals. */
struct prepared {
	uint32_t id;
	char *text;
	size_t len;
	uint16_t nparams;
	uint8_t *types;           /* 2 per parameter, from the execute that bound them */
	bool types_known;
	struct proto_long_data *long_data; /* per parameter, COM_STMT_SEND_LONG_DATA's bytes (owned) */
};

enum rec_wait {
	WAIT_NONE,
	WAIT_CUT,     /* the command waits for a snapshot's cut to end */
	WAIT_CUT_COMMIT, /* a wrapped write's answer waits for the cut, then its COMMIT goes */
	WAIT_PREPARE, /* the command is held until its PREPARE is written */
	WAIT_PREPARE_COMMIT, /* a wrapped write's answer waits for its PREPARE, then its COMMIT goes */
	WAIT_IMPLICIT, /* a failed command's ERR waits: did it commit the transaction before it? */
	WAIT_COMMITS, /* the final packet is held until the COMMIT records are durable */
};

struct rec_session {
	struct recorder *rec;
	struct session *s;
	uint64_t id;
	/* What the server said of the session's variables, and whether a
	 * statement since may have changed them. */
	struct jtxn_context ctx;
	bool ctx_dirty;
	uint64_t last_insert_id;
	bool ts_fixed;            /* the server session's timestamp is fixed (SET timestamp) */
	bool temp_tables;         /* it created a temporary table: it may shadow a known one */
	int ddl_open;             /* definition changes sent, not answered (tableclock_ddl_begin) */

	/* Prepared statements, and the text of the prepare in flight. */
	struct prepared *prep;
	size_t nprep, prep_cap;
	char *preparing;
	size_t preparing_len;

	/* The COM_QUERY (or execution) in flight. */
	char *text;
	size_t text_len;
	struct cmd_stmt *st;
	size_t nst, st_cap, next; /* next: the statement the next result end belongs to */
	bool cmd_active;
	uint64_t cmd_ts;          /* the timestamp fixed for it, 0 = none */
	bool miscounted_logged;

	/* The transaction so far. */
	struct rec_stmt *stmts;
	size_t n, cap;
	bool wrote;
	struct jtxn_context txn_ctx;
	uint64_t txn_id;

	/* The commit in flight. */
	uint64_t prepare_seq;     /* its PREPARE, 0 = none */
	bool prepare_resolved;    /* a COMMIT or ABORT record names it */
	bool commit_sent;         /* the command that commits went to the server */
	bool marked;              /* its PREPARE says a commit marker goes with it */
	bool marker_ok;           /* that marker row was written, in the transaction */
	bool inflight;            /* counted in recorder.inflight until its answer */
	bool wrapped;             /* an autocommit write run as BEGIN ... COMMIT by acctgate */
	bool clock_queued;        /* take_clock queued the update; read_clock follows */
	uint64_t clock;           /* the commit clock this commit took (indoubt.h), 0 = none */
	uint64_t reserved;        /* journal room its PREPARE reserved for the outcome */
	char refused_why[96];     /* why a wrapped write's commit was refused */
	enum rec_wait wait;
	uint64_t wait_since;      /* when the PREPARE or COMMIT hold began (monotonic µs) */
	bool still_in_trans;      /* WAIT_IMPLICIT: the server's @@in_transaction */
	int pending_commits;      /* COMMIT records not yet durable */
};

/* C_COMMIT_UNWAITED: a COMMIT record no OK waits for, settled on the
 * writer thread (its session need not wake for it, and its completion
 * must not count against a later commit's wait). */
enum completion_kind { C_PREPARE, C_COMMIT, C_COMMIT_UNWAITED };

struct completion {
	struct recorder *rec;
	struct worker *worker;
	uint64_t session_id;
	enum completion_kind kind;
	uint64_t seq;
	int err;
};

static uint64_t now_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t mono_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* The session waits for the journal: w is WAIT_PREPARE, WAIT_PREPARE_COMMIT
 * or WAIT_COMMITS, timed for SHOW JOURNAL. */
static void hold_for(struct rec_session *rs, enum rec_wait w)
{
	rs->wait = w;
	rs->wait_since = mono_usec();
}

static void hold_over(struct rec_session *rs, bool prepare)
{
	uint64_t us = mono_usec() - rs->wait_since;
	struct recorder *rec = rs->rec;
	atomic_fetch_add(prepare ? &rec->prepare_waits : &rec->commit_waits, 1);
	atomic_fetch_add(prepare ? &rec->prepare_wait_usec : &rec->commit_wait_usec, us);
}

/* ------------------------------------------------------------------------
 * Statement classes
 * ------------------------------------------------------------------------ */

/* Does the text name `word` (ASCII, any case)? Good enough to tell
 * "SET autocommit=1" from "SET @x = 1". */
static bool mentions(const char *text, size_t len, const char *word)
{
	size_t w = strlen(word);
	for (size_t i = 0; i + w <= len; i++)
		if (strncasecmp(text + i, word, w) == 0)
			return true;
	return false;
}

static bool sets_autocommit(const struct sql_facts *f, const char *text, size_t len)
{
	return f->kind == SQL_SET && mentions(text, len, "autocommit");
}

/* May this statement change table data (or the schema)? */
static bool may_write(const struct sql_facts *f)
{
	switch (f->kind) {
	case SQL_INSERT:
	case SQL_REPLACE:
	case SQL_UPDATE:
	case SQL_DELETE:
	case SQL_CALL:
	case SQL_DDL:
	case SQL_LOAD:
	case SQL_DO:
	case SQL_PREPARE:
	case SQL_ADMIN:
	case SQL_OTHER:
		return true;
	default:
		return false;
	}
}

/* Does replay need it? Plain reads do not; reads that assign user
 * variables (SELECT ... INTO @v, SELECT @v := ...) do, since a later
 * write may use the variable. */
static bool assigns_variables(const struct sql_facts *f, const char *text, size_t len)
{
	return (f->kind == SQL_SET && !sets_autocommit(f, text, len)) ||
	       (f->kind == SQL_SELECT && (f->select_into || memmem(text, len, ":=", 2) != NULL));
}

static bool recordable(const struct sql_facts *f, const char *text, size_t len)
{
	switch (f->kind) {
	case SQL_SELECT:
		return assigns_variables(f, text, len);
	case SQL_SET:
		/* Replay runs each transaction as one; the session's autocommit
		 * is the recording's business, not the replay's. */
		return !sets_autocommit(f, text, len);
	case SQL_SHOW:
	case SQL_BEGIN:
	case SQL_COMMIT:
	case SQL_ROLLBACK:
	case SQL_SET_TRANSACTION:
	case SQL_LOCK:
	case SQL_XA:
		return false;
	default:
		return true;
	}
}

/* Did it write, by its result? An UPDATE that changed nothing did not. */
static bool wrote(const struct sql_facts *f, const struct proto_result_end *end)
{
	switch (f->kind) {
	case SQL_DDL:
	case SQL_CALL:
	case SQL_LOAD:
		return true;
	case SQL_SELECT:
	case SQL_SHOW:
	case SQL_SET:
	case SQL_USE:
		return false;
	default:
		return end->affected_rows > 0 || ((f->kind == SQL_INSERT || f->kind == SQL_REPLACE) && end->last_insert_id);
	}
}

/* Statements after which the session variables must be read again. */
static bool changes_context(const struct sql_facts *f)
{
	return f->kind == SQL_SET || f->kind == SQL_USE || f->kind == SQL_CALL || f->kind == SQL_PREPARE ||
	       (f->kind == SQL_SELECT && f->sets_last_insert_id);
}

/*
 * An autocommit write commits inside the server the moment its locks are
 * free, and a writer waiting on those locks can commit and answer before
 * the first one's OK is even on the wire: OK order would then not be
 * commit order. Run as BEGIN; <statement>; and a COMMIT acctgate sends once
 * it has the statement's answer, it commits like an explicit transaction,
 * after a round trip through acctgate, which puts its OK in order. One
 * statement of the kinds that only change rows (not DDL, not transaction
 * control), and only outside a transaction.
 */
static bool wrappable(const struct rec_session *rs, const struct session *s)
{
	if (rs->nst != 1 || !session_autocommit(s) || session_in_transaction(s))
		return false;
	switch (rs->st[0].facts.kind) {
	case SQL_INSERT:
	case SQL_REPLACE:
	case SQL_UPDATE:
	case SQL_DELETE:
	case SQL_CALL:
	case SQL_DO:
		return true;
	default:
		return false;
	}
}

/* The client saw autocommit: the final packet of a wrapped statement must
 * not say a transaction is open (the status flags of an OK, or of an EOF). */
static void clear_in_trans(struct session *s)
{
	size_t len;
	uint8_t *p = session_held_final(s, &len);
	if (!p || len < 1 || p[0] == 0xFF)
		return;
	size_t at;
	if (p[0] == 0xFE && len < 9) {
		at = 3; /* EOF: header, warnings, status */
	} else {
		struct proto_reader r;
		proto_reader_init(&r, p, len);
		proto_read_u8(&r, "header");
		proto_read_lenenc(&r, NULL, "affected rows");
		proto_read_lenenc(&r, NULL, "insert id");
		if (r.failed)
			return;
		at = r.pos;
	}
	if (at + 2 <= len) {
		uint16_t flags = (uint16_t)(p[at] | p[at + 1] << 8);
		flags &= (uint16_t)~SERVER_STATUS_IN_TRANS;
		p[at] = (uint8_t)flags;
		p[at + 1] = (uint8_t)(flags >> 8);
	}
}

/* Ends the transaction the server had open (a commit, explicit or
 * implicit), if the command gets that far. */
static bool may_commit(const struct rec_session *rs, const struct session *s, const struct cmd_stmt *c)
{
	const struct sql_facts *f = &c->facts;
	if (f->kind == SQL_COMMIT || f->kind == SQL_DDL || f->kind == SQL_BEGIN || f->kind == SQL_LOCK ||
	    sets_autocommit(f, rs->text + c->start, c->len))
		return true;
	/* Autocommit: a write outside an explicit transaction commits itself. */
	/* (Statements carried from transactions that wrote nothing may be
	 * pending: no transaction is open all the same.) */
	return may_write(f) && session_autocommit(s) && !session_in_transaction(s);
}

static bool rolls_back_transaction(uint16_t code)
{
	return code == ER_LOCK_DEADLOCK || code == ER_XA_RBROLLBACK || code == ER_XA_RBDEADLOCK;
}

/* ------------------------------------------------------------------------
 * Records
 * ------------------------------------------------------------------------ */

static void on_journal_done(void *arg, uint64_t seq, int err);
static void release_reservation(struct rec_session *rs);

/* Append a record; `done` NULL for records nothing waits on. With
 * `reserved`, room is kept for its outcome and *reserved says how much
 * (for the outcome to give back); `release` gives back an earlier one's. */
static bool append_reserving(struct recorder *rec, uint8_t type, const struct jtxn *t, uint64_t *reserved,
			     uint64_t release, struct completion *done)
{
	uint8_t *payload;
	size_t len;
	if (!jtxn_encode(t, &payload, &len)) {
		free(done);
		return false;
	}
	/* A PREPARE reserves room for the COMMIT that repeats its statements
	 * with their results (jtxn.h: 56 bytes each), so that commit never
	 * meets a full disk. */
	uint64_t reserve = reserved ? len + 64 * t->nstmts + 512 : 0;
	bool ok = journal_append_reserving(rec->journal, type, now_usec(), payload, len, reserve, release,
					   done ? on_journal_done : NULL, done);
	if (ok && reserved)
		*reserved = reserve;
	free(payload);
	if (!ok)
		free(done);
	return ok;
}

static bool append(struct recorder *rec, uint8_t type, const struct jtxn *t, struct completion *done)
{
	return append_reserving(rec, type, t, NULL, 0, done);
}

static struct completion *completion_new(struct rec_session *rs, enum completion_kind kind)
{
	struct completion *c = calloc(1, sizeof(*c));
	if (c)
		*c = (struct completion){rs->rec, session_worker(rs->s), rs->id, kind, 0, 0};
	return c;
}

static void jtxn_header(const struct rec_session *rs, struct jtxn *t)
{
	*t = (struct jtxn){.run_id = rs->rec->run_id, .session_id = rs->id, .txn_id = rs->txn_id,
			   .prepare_seq = rs->prepare_seq, .ctx = rs->n ? rs->txn_ctx : rs->ctx};
}

static void write_abort(struct recorder *rec, uint64_t run_id, uint64_t session_id, uint64_t prepare_seq)
{
	struct jtxn t = {.run_id = run_id, .session_id = session_id, .prepare_seq = prepare_seq};
	if (append(rec, JREC_ABORT, &t, NULL))
		atomic_fetch_add(&rec->aborts, 1);
	else
		log_error("journal: out of memory writing the ABORT of PREPARE %llu", (unsigned long long)prepare_seq);
}

/* The command's PREPARE, resolved by no COMMIT: it did not commit. */
static void resolve_unused_prepare(struct rec_session *rs)
{
	if (rs->prepare_seq && !rs->prepare_resolved)
		write_abort(rs->rec, rs->rec->run_id, rs->id, rs->prepare_seq);
	rs->prepare_resolved = true;
	release_reservation(rs);
}

static void forget_transaction(struct rec_session *rs)
{
	for (size_t i = 0; i < rs->n; i++)
		free(rs->stmts[i].text);
	rs->n = 0;
	rs->wrote = false;
	rs->txn_id++;
}

/* Can a commit marker prove this command's commit? Only an explicit
 * COMMIT, inside a transaction the marker joins (in autocommit the marker
 * would commit on its own, proving nothing), and alone in its command (so
 * the commit clock that goes with it is taken right before it); or the
 * COMMIT acctgate sends for a wrapped autocommit write (`wrapped`), whose
 * marker goes with it (queue_wrap_commit). */
static bool markable(const struct rec_session *rs, bool wrapped)
{
	const struct recorder *rec = rs->rec;
	if (!rec->markers[0] || atomic_load(&rec->markers_off))
		return false;
	if (wrapped)
		return true;
	return rs->nst == 1 && rs->st[0].facts.kind == SQL_COMMIT &&
	       (session_in_transaction(rs->s) || !session_autocommit(rs->s));
}

static void marker_done(void *arg, struct session *s, const struct proto_result_end *end)
{
	struct rec_session *rs = arg;
	struct recorder *rec = rs->rec;
	rs->marker_ok = end->kind != END_ERR;
	if (end->kind != END_ERR || atomic_exchange(&rec->markers_off, true))
		return;
	log_error("journal: commit markers are off until restart: the server refused session %llu's marker (ERR %u); "
		  "grant INSERT, UPDATE ON %s.commits to every client user. Until then a crash between a commit and "
		  "its record leaves it in doubt",
		  (unsigned long long)rs->id, end->err_code, rec->markers);
}

static const struct session_inject_ops marker_ops = {.on_done = marker_done};

/* The marker row, inside the transaction, right before its COMMIT and
 * after the commit clock's update (take_clock): it carries the clock value
 * too, so that a commit resolved from it at a later start is ordered among
 * the others exactly (journal_walk.h). */
static void inject_marker(struct rec_session *rs, uint64_t prepare_seq)
{
	struct recorder *rec = rs->rec;
	rs->marker_ok = false;
	char clock[192] = "0";
	if (!atomic_load(&rec->clock_off))
		snprintf(clock, sizeof(clock), "COALESCE((SELECT n FROM %s.clock WHERE run_id = %llu), 0)", rec->markers,
			 (unsigned long long)rec->run_id);
	char sql[512];
	int n = snprintf(sql, sizeof(sql),
			 "INSERT INTO %s.commits (run_id, session_id, prepare_seq, clock) VALUES (%llu, %llu, %llu, %s) "
			 "ON DUPLICATE KEY UPDATE prepare_seq = VALUES(prepare_seq), clock = VALUES(clock)",
			 rec->markers, (unsigned long long)rec->run_id, (unsigned long long)rs->id,
			 (unsigned long long)prepare_seq, clock);
	if (!session_inject(rs->s, sql, (size_t)n, &marker_ops, rs))
		log_warning("session %llu: cannot queue the commit marker of PREPARE %llu; a crash now leaves it in "
			    "doubt",
			    (unsigned long long)rs->id, (unsigned long long)prepare_seq);
}

static void copy_value(char *dst, size_t cap, const struct proto_slice *v, bool null)
{
	size_t n = null ? 0 : (v->len < cap - 1 ? v->len : cap - 1);
	if (n)
		memcpy(dst, v->ptr, n);
	dst[n] = '\0';
}

static uint64_t value_u64(const struct proto_slice *v, bool null)
{
	char buf[24];
	copy_value(buf, sizeof(buf), v, null);
	return strtoull(buf, NULL, 10);
}

static void clock_row(void *arg, struct session *s, const struct proto_slice *v, const bool *nulls, size_t ncols)
{
	struct rec_session *rs = arg;
	if (ncols == 1 && !nulls[0])
		rs->clock = value_u64(&v[0], false);
}

static void clock_done(void *arg, struct session *s, const struct proto_result_end *end)
{
	struct rec_session *rs = arg;
	struct recorder *rec = rs->rec;
	if (end->kind != END_ERR || atomic_exchange(&rec->clock_off, true))
		return;
	log_error("journal: the commit clock is off until restart: the server refused session %llu's update of "
		  "%s.clock (ERR %u); grant UPDATE, SELECT ON %s.clock to every client user. Until then replay "
		  "follows the order of the servers' answers, which conflicting commits can reach in either order",
		  (unsigned long long)rs->id, rec->markers, end->err_code, rec->markers);
}

static const struct session_inject_ops clock_update_ops = {.on_done = clock_done};
static const struct session_inject_ops clock_read_ops = {.on_row = clock_row, .on_done = clock_done};

/* The commit clock, inside the transaction, right before its COMMIT: the
 * row's lock makes the value the server's commit order. Only right before
 * the COMMIT: taken earlier, its lock would be held while the
 * transaction's own statements wait for others' locks. take_clock queues
 * the update, read_clock the read of the value (the marker goes between,
 * when there is one). */
static void take_clock(struct rec_session *rs)
{
	struct recorder *rec = rs->rec;
	rs->clock = 0;
	rs->clock_queued = false;
	if (!rec->markers[0] || atomic_load(&rec->clock_off))
		return;
	char update[256];
	int n = snprintf(update, sizeof(update), "UPDATE %s.clock SET n = n + 1 WHERE run_id = %llu", rec->markers,
			 (unsigned long long)rec->run_id);
	rs->clock_queued = session_inject(rs->s, update, (size_t)n, &clock_update_ops, rs);
	if (!rs->clock_queued)
		log_warning("session %llu: cannot queue the commit clock; this commit is ordered by its answer",
			    (unsigned long long)rs->id);
}

static void read_clock(struct rec_session *rs)
{
	struct recorder *rec = rs->rec;
	if (!rs->clock_queued)
		return;
	rs->clock_queued = false;
	char read[256];
	int n = snprintf(read, sizeof(read), "SELECT n FROM %s.clock WHERE run_id = %llu", rec->markers,
			 (unsigned long long)rec->run_id);
	if (!session_inject(rs->s, read, (size_t)n, &clock_read_ops, rs))
		log_warning("session %llu: cannot queue the read of the commit clock; this commit is ordered by its "
			    "answer",
			    (unsigned long long)rs->id);
}

/* A commit that took the clock and recorded nothing still consumed its
 * value: an ABORT says so, and replay's ordering goes on past it. */
static void write_clock_only(struct rec_session *rs)
{
	if (!rs->clock)
		return;
	struct jtxn t = {.run_id = rs->rec->run_id, .session_id = rs->id, .clock = rs->clock};
	rs->clock = 0;
	if (!append(rs->rec, JREC_ABORT, &t, NULL))
		log_error("journal: out of memory recording commit clock %llu", (unsigned long long)t.clock);
}

/* Carried into the next transaction that writes, at most this many. */
#define CARRIED_MAX 32

/* A transaction that wrote nothing ended: keep only its statements that
 * set variables (the newest CARRIED_MAX). */
static void keep_assignments(struct rec_session *rs)
{
	size_t k = 0;
	for (size_t i = 0; i < rs->n; i++) {
		if (rs->stmts[i].assigns)
			rs->stmts[k++] = rs->stmts[i];
		else
			free(rs->stmts[i].text);
	}
	size_t drop = k > CARRIED_MAX ? k - CARRIED_MAX : 0;
	for (size_t i = 0; i < drop; i++)
		free(rs->stmts[i].text);
	if (drop)
		memmove(rs->stmts, rs->stmts + drop, (k - drop) * sizeof(*rs->stmts));
	rs->n = k - drop;
	rs->wrote = false;
}

/* The reservation of a PREPARE whose outcome will not be written. */
static void release_reservation(struct rec_session *rs)
{
	if (rs->reserved && !journal_release(rs->rec->journal, rs->reserved))
		log_error("session %llu: out of memory giving back journal room", (unsigned long long)rs->id);
	rs->reserved = 0;
}

/* A statement that ran, with its results, as a record carries it. */
static struct jstmt ran_stmt(const struct rec_stmt *r)
{
	return (struct jstmt){.text = r->text,
			      .len = r->len,
			      .flags = r->flags,
			      .unsafe = r->unsafe,
			      .timestamp_usec = r->timestamp_usec,
			      .last_insert_id_before = r->last_insert_id_before,
			      .affected_rows = r->affected_rows,
			      .insert_id = r->insert_id,
			      .warnings = r->warnings};
}

/* The PREPARE for the held command: the transaction so far, then the
 * command's own statements that have not run yet (no results). `wrapped`:
 * for the COMMIT of a wrapped autocommit write, whose statement has run. */
static bool write_prepare(struct rec_session *rs, bool wrapped)
{
	size_t total = rs->n + rs->nst;
	struct jstmt *js = calloc(total ? total : 1, sizeof(*js));
	if (!js)
		return false;
	size_t k = 0;
	for (size_t i = 0; i < rs->n; i++) {
		/* Those that ran already, with their results: a COMMIT resolved
		 * from this PREPARE at a later start needs their insert ids. */
		js[k++] = ran_stmt(&rs->stmts[i]);
	}
	for (size_t i = rs->next; i < rs->nst; i++) {
		const struct cmd_stmt *c = &rs->st[i];
		if (recordable(&c->facts, rs->text + c->start, c->len))
			js[k++] = (struct jstmt){.text = rs->text + c->start, .len = c->len,
						 .unsafe = c->facts.unsafe, .timestamp_usec = rs->cmd_ts};
	}
	struct jtxn t;
	jtxn_header(rs, &t);
	t.prepare_seq = 0;
	if (!rs->n)
		t.ctx = rs->ctx;
	t.stmts = js;
	t.nstmts = k;
	rs->marked = markable(rs, wrapped);
	t.flags = rs->marked ? JTXN_MARKED : 0;
	struct completion *c = completion_new(rs, C_PREPARE);
	release_reservation(rs);
	bool ok = c && append_reserving(rs->rec, JREC_PREPARE, &t, &rs->reserved, 0, c);
	free(js);
	return ok;
}

/* The server committed the transaction: its COMMIT record. */
static void write_commit(struct rec_session *rs)
{
	struct recorder *rec = rs->rec;
	struct jstmt *js = calloc(rs->n, sizeof(*js));
	struct jtxn t;
	jtxn_header(rs, &t);
	/* With fsync = always the OK waits for this record to be durable,
	 * unless the transaction committed its marker row: its PREPARE is
	 * durable already, and a crash that loses this record leaves a
	 * PREPARE the next start resolves from that row (indoubt.h). One
	 * fsync per commit then, not two. */
	bool wait = rec->fsync == JOURNAL_FSYNC_ALWAYS && !(rs->marked && rs->marker_ok);
	struct completion *c = completion_new(rs, wait ? C_COMMIT : C_COMMIT_UNWAITED);
	if (!js || !c) {
		free(js);
		free(c);
		log_error("session %llu: out of memory writing transaction %llu's COMMIT record; it is in doubt",
			  (unsigned long long)rs->id, (unsigned long long)rs->txn_id);
		atomic_fetch_add(&rec->in_doubt, 1);
		return;
	}
	for (size_t i = 0; i < rs->n; i++)
		js[i] = ran_stmt(&rs->stmts[i]);
	t.stmts = js;
	t.nstmts = rs->n;
	t.clock = rs->clock;
	rs->clock = 0;
	uint64_t release = rs->reserved;
	rs->reserved = 0;
	if (append_reserving(rec, JREC_COMMIT, &t, NULL, release, c)) {
		atomic_fetch_add(&rec->commits, 1);
		if (wait)
			rs->pending_commits++;
	} else {
		log_error("session %llu: out of memory writing transaction %llu's COMMIT record; it is in doubt",
			  (unsigned long long)rs->id, (unsigned long long)rs->txn_id);
		atomic_fetch_add(&rec->in_doubt, 1);
	}
	free(js);
	rs->prepare_resolved = true;
}

/* The commit this session has in flight is answered (or will never be). */
static void inflight_done(struct rec_session *rs)
{
	if (rs->inflight) {
		rs->inflight = false;
		atomic_fetch_sub(&rs->rec->inflight, 1);
	}
}

/* ------------------------------------------------------------------------
 * Completions (writer thread -> worker)
 * ------------------------------------------------------------------------ */

static bool queue_wrap_commit(struct rec_session *rs);
static void refuse_wrapped(struct rec_session *rs, const char *why, bool from_hook);

static void prepare_done(struct rec_session *rs, const struct completion *c)
{
	struct recorder *rec = rs->rec;
	struct session *s = rs->s;
	bool wrapped = rs->wait == WAIT_PREPARE_COMMIT;
	hold_over(rs, true);
	rs->wait = WAIT_NONE;
	if (c->err == 0) {
		rs->prepare_seq = c->seq;
		rs->prepare_resolved = false;
		rs->commit_sent = true;
		if (wrapped) {
			if (queue_wrap_commit(rs))
				session_send_injected(s);
			else
				session_release(s);
			return;
		}
		if (rs->marked) {
			take_clock(rs);
			inject_marker(rs, c->seq);
			read_clock(rs);
		}
		session_release(s);
		return;
	}
	if (rec->on_error == JOURNAL_ON_ERROR_CONTINUE) {
		rs->reserved = 0;
		rs->marked = false; /* no PREPARE for a marker to name */
		atomic_fetch_add(&rec->gaps, 1);
		log_error("session %llu: the journal cannot record transaction %llu (%s); committing it UNRECORDED "
			  "([journal] on_error = continue)",
			  (unsigned long long)rs->id, (unsigned long long)rs->txn_id, strerror(c->err));
		rs->commit_sent = true;
		if (wrapped && queue_wrap_commit(rs))
			session_send_injected(s);
		else
			session_release(s);
		return;
	}
	atomic_fetch_add(&rec->refused, 1);
	rs->reserved = 0; /* the PREPARE was not written: nothing was reserved */
	log_error("session %llu: the journal cannot record transaction %llu (%s): its commit is refused and it is "
		  "rolled back",
		  (unsigned long long)rs->id, (unsigned long long)rs->txn_id, strerror(c->err));
	if (wrapped) {
		refuse_wrapped(rs, strerror(c->err), false);
		return;
	}
	inflight_done(rs);
	struct hook_answer ans = {.code = ER_ERROR_DURING_COMMIT, .sql_state = "HY000"};
	snprintf(ans.message, sizeof(ans.message),
		 "acctgate: the journal cannot record this transaction (%s); it was rolled back", strerror(c->err));
	/* A transaction the server holds open is rolled back there; an
	 * autocommit statement simply never runs. */
	if ((session_in_transaction(s) || rs->n) && !session_inject(s, "ROLLBACK", 8, NULL, NULL))
		log_error("session %llu: cannot queue the ROLLBACK; the server keeps the transaction open until the "
			  "client ends it",
			  (unsigned long long)rs->id);
	forget_transaction(rs);
	rs->cmd_active = false;
	session_release_error(s, &ans);
}

/* A COMMIT record that could not be written: the transaction committed on
 * the server. Any thread. */
static void commit_failed(const struct completion *c)
{
	atomic_fetch_add(&c->rec->in_doubt, 1);
	log_error("session %llu: a COMMIT record could not be written (%s); the transaction committed on the server "
		  "and is in doubt in the journal (its PREPARE is there)",
		  (unsigned long long)c->session_id, strerror(c->err));
}

static void commit_done(struct rec_session *rs, const struct completion *c)
{
	if (c->err)
		commit_failed(c);
	if (rs->pending_commits > 0)
		rs->pending_commits--;
	if (rs->pending_commits == 0 && rs->wait == WAIT_COMMITS) {
		hold_over(rs, false);
		rs->wait = WAIT_NONE;
		if (session_held(rs->s))
			session_release(rs->s);
	}
}

static void completion_on_worker(struct worker *w, void *arg)
{
	struct completion *c = arg;
	struct recorder *rec = c->rec;
	struct session *s = session_find(w, c->session_id);
	void **slot = s ? session_hook_data(s, &rec->hooks) : NULL;
	struct rec_session *rs = slot ? *slot : NULL;
	if (!rs) {
		/* The session ended while its command was held: the commit
		 * never reached the server. */
		if (c->kind == C_PREPARE && c->err == 0)
			write_abort(rec, rec->run_id, c->session_id, c->seq);
		free(c);
		return;
	}
	if (c->kind == C_PREPARE && !session_held(s)) {
		/* Closing: its command will never go. */
		if (c->err == 0)
			write_abort(rec, rec->run_id, c->session_id, c->seq);
		rs->wait = WAIT_NONE;
		inflight_done(rs);
	} else if (c->kind == C_PREPARE) {
		prepare_done(rs, c);
	} else {
		commit_done(rs, c);
	}
	free(c);
}

/* On the journal's writer thread. */
static void on_journal_done(void *arg, uint64_t seq, int err)
{
	struct completion *c = arg;
	c->seq = seq;
	c->err = err;
	if (c->kind == C_COMMIT_UNWAITED) {
		if (err)
			commit_failed(c);
		free(c);
		return;
	}
	struct recorder *rec = c->rec;
	pthread_mutex_lock(&rec->lock);
	bool posted = !rec->stopped && worker_call(c->worker, completion_on_worker, c);
	pthread_mutex_unlock(&rec->lock);
	if (!posted)
		free(c);
}

/* ------------------------------------------------------------------------
 * Session variables (the injected SELECT)
 * ------------------------------------------------------------------------ */

static void context_row(void *arg, struct session *s, const struct proto_slice *v, const bool *nulls, size_t ncols)
{
	struct rec_session *rs = arg;
	if (ncols != CONTEXT_COLUMNS)
		return;
	struct jtxn_context *c = &rs->ctx;
	copy_value(c->sql_mode, sizeof(c->sql_mode), &v[0], nulls[0]);
	copy_value(c->time_zone, sizeof(c->time_zone), &v[1], nulls[1]);
	copy_value(c->character_set_client, sizeof(c->character_set_client), &v[2], nulls[2]);
	copy_value(c->collation_connection, sizeof(c->collation_connection), &v[3], nulls[3]);
	copy_value(c->collation_server, sizeof(c->collation_server), &v[4], nulls[4]);
	copy_value(c->lc_time_names, sizeof(c->lc_time_names), &v[5], nulls[5]);
	c->foreign_key_checks = (uint8_t)value_u64(&v[6], nulls[6]);
	c->unique_checks = (uint8_t)value_u64(&v[7], nulls[7]);
	c->auto_increment_increment = (uint32_t)value_u64(&v[8], nulls[8]);
	c->auto_increment_offset = (uint32_t)value_u64(&v[9], nulls[9]);
	copy_value(c->database, sizeof(c->database), &v[10], nulls[10]);
	rs->last_insert_id = value_u64(&v[11], nulls[11]);
	snprintf(c->user, sizeof(c->user), "%s", session_user(s));
	c->known = true;
}

static void context_done(void *arg, struct session *s, const struct proto_result_end *end)
{
	struct rec_session *rs = arg;
	if (end->kind != END_ERR)
		return;
	rs->ctx.known = false;
	snprintf(rs->ctx.database, sizeof(rs->ctx.database), "%s", session_database(s));
	log_warning("session %llu: the server refused to report the session's variables (ERR %u); its transactions "
		    "are journaled without them",
		    (unsigned long long)rs->id, end->err_code);
}

static const struct session_inject_ops context_ops = {.on_row = context_row, .on_done = context_done};

/* ------------------------------------------------------------------------
 * Hooks
 * ------------------------------------------------------------------------ */

static struct rec_session *session_state(struct recorder *rec, struct session *s)
{
	void **slot = session_hook_data(s, &rec->hooks);
	if (!slot)
		return NULL;
	if (!*slot) {
		struct rec_session *rs = calloc(1, sizeof(*rs));
		if (!rs)
			return NULL;
		rs->rec = rec;
		rs->s = s;
		rs->id = session_id(s);
		rs->ctx_dirty = true;
		rs->txn_id = 1;
		*slot = rs;
	}
	return *slot;
}

static struct prepared *find_prepared(struct rec_session *rs, uint32_t id)
{
	for (size_t i = 0; i < rs->nprep; i++)
		if (rs->prep[i].id == id)
			return &rs->prep[i];
	return NULL;
}

static void clear_long_data(struct prepared *p)
{
	for (uint16_t i = 0; p->long_data && i < p->nparams; i++) {
		free((void *)p->long_data[i].data);
		p->long_data[i] = (struct proto_long_data){0};
	}
}

static void drop_prepared(struct rec_session *rs, uint32_t id)
{
	struct prepared *p = find_prepared(rs, id);
	if (!p)
		return;
	clear_long_data(p);
	free(p->long_data);
	free(p->types);
	free(p->text);
	*p = rs->prep[--rs->nprep];
}

static void on_prepare_ok(void *arg, struct session *s, uint32_t stmt_id, uint16_t nparams)
{
	struct recorder *rec = arg;
	void **slot = session_hook_data(s, &rec->hooks);
	struct rec_session *rs = slot ? *slot : NULL;
	if (!rs || !rs->preparing)
		return;
	drop_prepared(rs, stmt_id); /* a reused id: the server closed the old one */
	if (rs->nprep == rs->prep_cap) {
		size_t cap = rs->prep_cap ? rs->prep_cap * 2 : 4;
		struct prepared *p = realloc(rs->prep, cap * sizeof(*p));
		if (!p)
			return;
		rs->prep = p;
		rs->prep_cap = cap;
	}
	struct prepared *p = &rs->prep[rs->nprep];
	*p = (struct prepared){.id = stmt_id, .text = rs->preparing, .len = rs->preparing_len, .nparams = nparams};
	p->types = calloc(nparams ? 2u * nparams : 1, 1);
	p->long_data = calloc(nparams ? nparams : 1, sizeof(*p->long_data));
	if (!p->types || !p->long_data) {
		free(p->types);
		free(p->long_data);
		return; /* its executions count as unrecorded */
	}
	rs->preparing = NULL;
	rs->nprep++;
}

/* COM_STMT_SEND_LONG_DATA: a parameter's value in pieces, kept until the
 * execute that uses it. */
static void take_long_data(struct rec_session *rs, const struct hook_command *cmd)
{
	size_t len;
	char *args = hook_command_args(cmd, &len);
	if (!args)
		return;
	uint32_t id;
	uint16_t param;
	struct proto_slice data;
	struct prepared *p;
	if (proto_parse_stmt_long_data((const uint8_t *)args, len, &id, &param, &data, NULL) == PROTO_OK &&
	    (p = find_prepared(rs, id)) && param < p->nparams) {
		struct proto_long_data *ld = &p->long_data[param];
		uint8_t *grown = realloc((void *)ld->data, ld->len + data.len + 1);
		if (grown) {
			memcpy(grown + ld->len, data.ptr, data.len);
			ld->data = grown;
			ld->len += data.len;
			ld->sent = true;
		}
	}
	free(args);
}

static void count_unrecorded(struct rec_session *rs, const char *why)
{
	struct recorder *rec = rs->rec;
	atomic_fetch_add(&rec->unrecorded, 1);
	pthread_mutex_lock(&rec->lock);
	bool first = !rec->unrecorded_logged;
	rec->unrecorded_logged = true;
	pthread_mutex_unlock(&rec->lock);
	if (first)
		log_error("journal: session %llu: a prepared statement's execution cannot be recorded (%s): if it "
			  "writes, the journal misses it (counted in unrecorded; logged once)",
			  (unsigned long long)rs->id, why);
}

/* One statement: the whole of rs->text. */
static bool single_statement(struct rec_session *rs)
{
	if (rs->st_cap == 0) {
		rs->st = malloc(4 * sizeof(*rs->st));
		if (!rs->st)
			return false;
		rs->st_cap = 4;
	}
	rs->st[0] = (struct cmd_stmt){.start = 0, .len = rs->text_len};
	sql_analyse(rs->text, rs->text_len, &rs->st[0].facts);
	rs->nst = 1;
	rs->next = 0;
	rs->cmd_active = true;
	return true;
}

/* COM_STMT_EXECUTE as the text it executes; false when it cannot be had
 * (counted as unrecorded). */
static bool take_execute(struct rec_session *rs, const struct hook_command *cmd)
{
	size_t len;
	char *args = hook_command_args(cmd, &len);
	if (!args) {
		count_unrecorded(rs, "out of memory");
		return false;
	}
	struct proto_stmt_execute ex;
	struct prepared *p = NULL;
	struct proto_error perr = {0};
	bool ok = proto_parse_stmt_execute((const uint8_t *)args, len, &ex, &perr) == PROTO_OK &&
		  (p = find_prepared(rs, ex.stmt_id)) != NULL;
	if (!ok) {
		count_unrecorded(rs, p ? "malformed execute" : "the statement's prepare was not seen");
		free(args);
		return false;
	}
	size_t cap = p->len + 8 * ex.params_len + 32u * p->nparams + 64;
	for (uint16_t i = 0; i < p->nparams; i++)
		cap += 2 * p->long_data[i].len + 16;
	char *text = malloc(cap);
	bool escapes = strstr(rs->ctx.sql_mode, "NO_BACKSLASH_ESCAPES") == NULL;
	size_t tlen = 0;
	ok = text && proto_stmt_execute_to_sql(p->text, p->len, &ex, p->nparams, p->types, &p->types_known,
					       p->long_data, escapes, text, cap, &tlen, &perr) == PROTO_OK;
	clear_long_data(p);
	free(args);
	if (!ok) {
		free(text);
		count_unrecorded(rs, perr.what ? perr.what : "out of memory");
		return false;
	}
	free(rs->text);
	rs->text = text;
	rs->text_len = tlen;
	return single_statement(rs);
}

/* Statements that may change a table's definition (an SQL-level EXECUTE
 * may run one; a CALL is taken not to). */
static bool changes_definitions(const struct sql_facts *f)
{
	return f->kind == SQL_DDL || f->kind == SQL_PREPARE;
}

/*
 * May the command in flight read the server's clock? Not when every
 * statement's text reads none and every table they name is known to have
 * no time default, ON UPDATE or trigger (tableclock.h): then its time need
 * not be fixed, the replay's value being as good as any. Yes whenever
 * that is not known: no [snapshot] user to ask with, the session's
 * default database not read yet, a temporary table of the session's own
 * (information_schema does not show it, and it may shadow a known table).
 */
static bool may_read_clock(struct rec_session *rs)
{
	struct tableclock *tc = rs->rec->tables;
	if (!tc || rs->temp_tables || rs->ctx_dirty || !rs->ctx.known)
		return true;
	for (size_t i = 0; i < rs->nst; i++) {
		struct sql_tables t;
		if (!sql_clock_tables(rs->text + rs->st[i].start, rs->st[i].len, &rs->st[i].facts, &t) ||
		    !tableclock_all_free(tc, rs->ctx.database, &t))
			return true;
	}
	return false;
}

/* Definition changes that will get no answer (the command failed before
 * them, or the session ended) stop holding tableclock back. */
static void close_ddl(struct rec_session *rs)
{
	for (; rs->ddl_open > 0; rs->ddl_open--)
		tableclock_ddl_end(rs->rec->tables);
}

/* Split the command into statements, with their facts. */
static bool take_command(struct rec_session *rs, const struct hook_command *cmd)
{
	size_t len;
	char *text = hook_command_args(cmd, &len);
	if (!text)
		return false;
	free(rs->text);
	rs->text = text;
	rs->text_len = len;
	rs->nst = rs->next = 0;
	size_t pos = 0, start, slen;
	while (sql_next_statement(text, len, &pos, &start, &slen)) {
		if (rs->nst == rs->st_cap) {
			size_t cap = rs->st_cap ? rs->st_cap * 2 : 4;
			struct cmd_stmt *p = realloc(rs->st, cap * sizeof(*p));
			if (!p)
				return false;
			rs->st = p;
			rs->st_cap = cap;
		}
		struct cmd_stmt *c = &rs->st[rs->nst++];
		c->start = start;
		c->len = slen;
		sql_analyse(text + start, slen, &c->facts);
	}
	rs->cmd_active = true;
	return true;
}

static void set_timestamp(struct rec_session *rs, struct session *s, uint64_t usec)
{
	if (session_fix_time(s, usec))
		rs->ts_fixed = usec != 0;
}

static enum hook_verdict plan_command(struct rec_session *rs, struct session *s, struct hook_answer *answer);
static enum hook_verdict prepare_and_hold(struct rec_session *rs, struct hook_answer *answer);
static bool add_cut_waiter(struct recorder *rec, struct rec_session *rs);
static bool waits_for_cut(struct rec_session *rs);

static enum hook_verdict before_command(void *arg, struct session *s, const struct hook_command *cmd,
					struct hook_answer *answer)
{
	struct recorder *rec = arg;
	struct rec_session *rs = session_state(rec, s);
	if (!rs)
		return HOOK_FORWARD;
	rs->cmd_active = false;
	close_ddl(rs);
	rs->prepare_seq = 0;
	rs->prepare_resolved = true;
	rs->commit_sent = false;
	rs->marked = false;
	rs->clock = 0; /* a commit that took it and failed rolled it back too */
	switch (cmd->code) {
	case COM_QUERY:
		break;
	case COM_INIT_DB:
		rs->ctx_dirty = true;
		return HOOK_FORWARD;
	case COM_CHANGE_USER:
	case COM_RESET_CONNECTION:
		/* The server rolls back and resets the session's variables. */
		forget_transaction(rs);
		rs->ctx_dirty = true;
		rs->ts_fixed = false;
		rs->temp_tables = false;
		rs->last_insert_id = 0;
		return HOOK_FORWARD;
	case COM_STMT_PREPARE:
		free(rs->preparing);
		rs->preparing = hook_command_args(cmd, &rs->preparing_len);
		return HOOK_FORWARD;
	case COM_STMT_SEND_LONG_DATA:
		take_long_data(rs, cmd);
		return HOOK_FORWARD;
	case COM_STMT_CLOSE:
	case COM_STMT_RESET:
		if (cmd->args && cmd->args_len >= 4) {
			uint32_t id = (uint32_t)cmd->args[0] | (uint32_t)cmd->args[1] << 8 | (uint32_t)cmd->args[2] << 16 |
				      (uint32_t)cmd->args[3] << 24;
			if (cmd->code == COM_STMT_CLOSE)
				drop_prepared(rs, id);
			else if (find_prepared(rs, id))
				clear_long_data(find_prepared(rs, id));
		}
		return HOOK_FORWARD;
	case COM_STMT_EXECUTE:
		if (!take_execute(rs, cmd))
			return HOOK_FORWARD;
		return plan_command(rs, s, answer);
	default:
		return HOOK_FORWARD;
	}
	if (!take_command(rs, cmd)) {
		log_error("session %llu: out of memory reading a command for the journal; refused",
			  (unsigned long long)rs->id);
		answer->code = ER_ERROR_DURING_COMMIT;
		snprintf(answer->message, sizeof(answer->message), "acctgate: out of memory recording this statement");
		return HOOK_ANSWER;
	}
	return plan_command(rs, s, answer);
}

/* The command's statements are known: fix its context, and hold it for a
 * PREPARE if it may commit what was written. */
static enum hook_verdict plan_command(struct rec_session *rs, struct session *s, struct hook_answer *answer)
{
	bool writes = false, commits = false, uses_time = false;
	for (size_t i = 0; i < rs->nst; i++) {
		const struct sql_facts *f = &rs->st[i].facts;
		writes |= may_write(f);
		uses_time |= f->uses_time;
		commits |= may_commit(rs, s, &rs->st[i]);
		if (changes_definitions(f)) {
			if (f->kind == SQL_DDL && mentions(rs->text + rs->st[i].start, rs->st[i].len, "TEMPORARY"))
				rs->temp_tables = true;
			if (rs->rec->tables) {
				tableclock_ddl_begin(rs->rec->tables);
				rs->ddl_open++;
			}
		}
	}
	rs->cmd_ts = 0;
	bool clock = (writes || rs->ts_fixed) && may_read_clock(rs);
	if (writes) {
		if (rs->ctx_dirty && session_inject(s, context_query, sizeof(context_query) - 1, &context_ops, rs))
			rs->ctx_dirty = false;
		/* The time the journal gives the statements: the server's own
		 * whenever they may read it. */
		rs->cmd_ts = now_usec();
		if (clock) {
			set_timestamp(rs, s, rs->cmd_ts);
			atomic_fetch_add(&rs->rec->time_fixed, 1);
		} else {
			atomic_fetch_add(&rs->rec->time_unfixed, 1);
		}
	} else if (rs->ts_fixed && (uses_time || (clock && rs->rec->tables))) {
		/* A read after a write: the clock runs again, as the client expects. */
		set_timestamp(rs, s, 0);
	}
	rs->wrapped = writes && wrappable(rs, s) && session_inject(s, "BEGIN", 5, NULL, NULL);
	/* A wrapped write commits only at the COMMIT acctgate sends after it:
	 * its PREPARE and a snapshot's cut wait for that (before_result_end),
	 * not here, where the statement may still wait for row locks. */
	if (rs->wrapped || !commits || !(rs->wrote || writes))
		return HOOK_FORWARD;
	if (waits_for_cut(rs)) {
		rs->wait = WAIT_CUT;
		return HOOK_HOLD;
	}
	return prepare_and_hold(rs, answer);
}

/* Hold the command until its PREPARE is written. */
static enum hook_verdict prepare_and_hold(struct rec_session *rs, struct hook_answer *answer)
{
	if (!write_prepare(rs, false)) {
		inflight_done(rs);
		log_error("session %llu: out of memory writing a PREPARE record; commit refused", (unsigned long long)rs->id);
		answer->code = ER_ERROR_DURING_COMMIT;
		snprintf(answer->message, sizeof(answer->message), "acctgate: out of memory recording this transaction");
		rs->cmd_active = false;
		return HOOK_ANSWER;
	}
	hold_for(rs, WAIT_PREPARE);
	return HOOK_HOLD;
}

/* Log a flagged statement's reason once per digest. */
static void flag_statement(struct rec_session *rs, const char *text, size_t len, uint32_t unsafe)
{
	struct recorder *rec = rs->rec;
	atomic_fetch_add(&rec->flagged, 1);
	char digest[256];
	uint64_t h = sql_digest(text, len, digest, sizeof(digest));
	pthread_mutex_lock(&rec->lock);
	bool seen = false;
	for (size_t i = 0; i < rec->nflagged_digests && !seen; i++)
		seen = rec->flagged_digests[i] == h;
	if (!seen && rec->nflagged_digests < FLAGGED_LOG_MAX)
		rec->flagged_digests[rec->nflagged_digests++] = h;
	pthread_mutex_unlock(&rec->lock);
	if (seen)
		return;
	char reasons[256] = "";
	size_t used = 0;
	for (uint32_t bit = 1; bit && used < sizeof(reasons); bit <<= 1)
		if (unsafe & bit) {
			int n = snprintf(reasons + used, sizeof(reasons) - used, "%s%s", used ? "; " : "",
					 sql_unsafe_reason(bit));
			if (n > 0)
				used += (size_t)n;
		}
	char shown[sizeof(digest) * 4];
	log_escape(digest, strlen(digest), shown, sizeof(shown));
	log_warning("journal: a statement replay may not reproduce exactly (%s): %s", reasons, shown);
}

/* The statement `cs` ran, with result `end`. */
static void statement_ran(struct rec_session *rs, const struct cmd_stmt *cs, const struct proto_result_end *end)
{
	const struct sql_facts *f = &cs->facts;
	if (end->kind == END_ERR) {
		/* A failed statement changed nothing; a deadlock took the whole
		 * transaction with it. */
		if (rolls_back_transaction(end->err_code))
			forget_transaction(rs);
		return;
	}
	uint64_t lid_before = rs->last_insert_id;
	if (end->kind == END_OK && !end->result_set && end->last_insert_id)
		rs->last_insert_id = end->last_insert_id;
	if (changes_context(f))
		rs->ctx_dirty = true;
	if (f->kind == SQL_ROLLBACK) {
		forget_transaction(rs);
		return;
	}
	const char *text = rs->text + cs->start;
	if (recordable(f, text, cs->len)) {
		if (rs->n == rs->cap) {
			size_t cap = rs->cap ? rs->cap * 2 : 8;
			struct rec_stmt *p = realloc(rs->stmts, cap * sizeof(*p));
			if (!p)
				goto oom;
			rs->stmts = p;
			rs->cap = cap;
		}
		struct rec_stmt *r = &rs->stmts[rs->n];
		r->text = malloc(cs->len ? cs->len : 1);
		if (!r->text)
			goto oom;
		memcpy(r->text, text, cs->len);
		if (rs->n == 0) {
			rs->txn_ctx = rs->ctx;
			if (!rs->ctx.known)
				snprintf(rs->txn_ctx.database, sizeof(rs->txn_ctx.database), "%s", session_database(rs->s));
			snprintf(rs->txn_ctx.user, sizeof(rs->txn_ctx.user), "%s", session_user(rs->s));
		}
		bool did_write = wrote(f, end);
		uint32_t flags = 0;
		if (f->reads_last_insert_id)
			flags |= JSTMT_READS_LAST_INSERT_ID;
		if (f->sets_last_insert_id)
			flags |= JSTMT_SETS_LAST_INSERT_ID;
		if (f->kind == SQL_CALL)
			flags |= JSTMT_CALL;
		/* An upsert with LAST_INSERT_ID(expr) reports a generated id only
		 * when it inserted its one row (1 affected); updated (2) or
		 * unchanged (0), or several rows, the id is expr's or ambiguous:
		 * replay then lets the counter, which it keeps in step by
		 * burning the same ids, choose. */
		if (end->last_insert_id && (f->kind == SQL_INSERT || f->kind == SQL_REPLACE || f->kind == SQL_LOAD) &&
		    (!f->sets_last_insert_id || end->affected_rows == 1))
			flags |= JSTMT_GENERATED_ID;
		*r = (struct rec_stmt){.text = r->text,
				       .len = cs->len,
				       .flags = flags,
				       .unsafe = f->unsafe,
				       .timestamp_usec = rs->cmd_ts,
				       .last_insert_id_before = lid_before,
				       .affected_rows = end->affected_rows,
				       .insert_id = end->last_insert_id,
				       .warnings = end->warnings,
				       .assigns = assigns_variables(f, text, cs->len)};
		rs->n++;
		rs->wrote |= did_write;
		if (did_write && f->unsafe)
			flag_statement(rs, text, cs->len, f->unsafe);
	}
	if (!(end->status_flags & SERVER_STATUS_IN_TRANS)) {
		/* The server has no transaction open: whatever wrote is committed.
		 * What did not write may still have set variables the next
		 * transaction reads: those statements go with it. */
		if (rs->wrote && rs->n) {
			write_commit(rs);
			forget_transaction(rs);
			/* A commit in the middle of a multi-statement query: its OK
			 * (and the rest of the response) waits for the record, as a
			 * final packet does (commit_done releases). */
			if (rs->pending_commits > 0 && rs->next < rs->nst && session_pause_response(rs->s))
				hold_for(rs, WAIT_COMMITS);
		} else {
			write_clock_only(rs);
			keep_assignments(rs);
		}
	}
	return;
oom:
	log_error("session %llu: out of memory keeping a statement for the journal; transaction %llu will be "
		  "journaled incomplete",
		  (unsigned long long)rs->id, (unsigned long long)rs->txn_id);
}

static void on_result_end(void *arg, struct session *s, const struct proto_result_end *end)
{
	struct recorder *rec = arg;
	void **slot = session_hook_data(s, &rec->hooks);
	struct rec_session *rs = slot ? *slot : NULL;
	if (!rs || !rs->cmd_active) {
		if (rs && end->kind == END_OK && end->last_insert_id)
			rs->last_insert_id = end->last_insert_id;
		return;
	}
	if (rs->next >= rs->nst) {
		if (!rs->miscounted_logged)
			log_error("session %llu: a query gave more results than acctgate counted statements in it; the "
				  "journal may be incomplete for it",
				  (unsigned long long)rs->id);
		rs->miscounted_logged = true;
		return;
	}
	const struct cmd_stmt *cs = &rs->st[rs->next];
	/* A CALL's own result sets come before the OK that ends it. */
	if (cs->facts.kind == SQL_CALL && end->result_set)
		return;
	rs->next++;
	if (changes_definitions(&cs->facts) && rs->ddl_open > 0) {
		tableclock_ddl_end(rs->rec->tables);
		rs->ddl_open--;
	}
	statement_ran(rs, cs, end);
}

static const struct session_inject_ops wrap_commit_ops;

/* The clock and the COMMIT of a wrapped autocommit write, queued. */
static bool queue_wrap_commit(struct rec_session *rs)
{
	/* Clock, marker, clock read, COMMIT: SESSION_INJECT_MAX exactly. */
	take_clock(rs);
	if (rs->marked)
		inject_marker(rs, rs->prepare_seq);
	read_clock(rs);
	if (session_inject(rs->s, "COMMIT", 6, &wrap_commit_ops, rs))
		return true;
	log_error("session %llu: cannot send the COMMIT of a wrapped autocommit write; it commits at the session's "
		  "next statement",
		  (unsigned long long)rs->id);
	inflight_done(rs);
	return false;
}

/* The COMMIT of a wrapped autocommit write was answered. */
static void wrap_committed(void *arg, struct session *s, const struct proto_result_end *end)
{
	struct rec_session *rs = arg;
	if (end->kind == END_ERR) {
		log_error("session %llu: the server refused the COMMIT of an autocommit write (ERR %u); it did not "
			  "commit, but the client was told it ran",
			  (unsigned long long)rs->id, end->err_code);
		forget_transaction(rs);
	} else if (rs->wrote && rs->n) {
		write_commit(rs);
		forget_transaction(rs);
	} else {
		write_clock_only(rs);
		keep_assignments(rs);
	}
	rs->clock = 0;
	clear_in_trans(s);
	resolve_unused_prepare(rs);
	rs->cmd_active = false;
	inflight_done(rs);
	if (rs->pending_commits > 0)
		hold_for(rs, WAIT_COMMITS); /* commit_done releases */
	else
		session_release(s);
}

static const struct session_inject_ops wrap_commit_ops = {.on_done = wrap_committed};

/* The ROLLBACK of a wrapped write the journal could not record is done:
 * the client gets the ERR in place of the statement's answer. */
static void wrap_refused(void *arg, struct session *s, const struct proto_result_end *end)
{
	struct rec_session *rs = arg;
	if (end->kind == END_ERR)
		log_error("session %llu: the server refused the ROLLBACK of an unrecorded autocommit write (ERR %u)",
			  (unsigned long long)rs->id, end->err_code);
	struct hook_answer ans = {.code = ER_ERROR_DURING_COMMIT, .sql_state = "HY000"};
	snprintf(ans.message, sizeof(ans.message),
		 "acctgate: the journal cannot record this transaction (%s); it was rolled back", rs->refused_why);
	session_release_error(s, &ans);
}

static const struct session_inject_ops wrap_refused_ops = {.on_done = wrap_refused};

/* A wrapped write the journal cannot record: rolled back, and its answer
 * replaced by an ERR that says why. `from_hook`: called from
 * before_result_end, whose HOOK_HOLD sends what was queued; else it is
 * sent here. */
static void refuse_wrapped(struct rec_session *rs, const char *why, bool from_hook)
{
	inflight_done(rs);
	forget_transaction(rs);
	rs->cmd_active = false;
	rs->marked = false;
	snprintf(rs->refused_why, sizeof(rs->refused_why), "%s", why);
	if (session_inject(rs->s, "ROLLBACK", 8, &wrap_refused_ops, rs)) {
		if (!from_hook)
			session_send_injected(rs->s);
		return;
	}
	log_error("session %llu: cannot queue the ROLLBACK of an unrecorded autocommit write; closing the session, "
		  "which rolls it back",
		  (unsigned long long)rs->id);
	session_abort(rs->s, "an unrecorded autocommit write could not be rolled back");
}

/* The answer of a wrapped autocommit write is held and it may commit now:
 * what wrote gets its PREPARE first, written now that the statement has
 * run, so that a commit resolved from it at a later start has its insert
 * id and the rest of its results (prepare_done then queues the COMMIT);
 * what did not write commits (ends its BEGIN) at once. False when the
 * answer is to go on unheld. */
static bool wrap_commit(struct rec_session *rs, bool from_hook)
{
	if (rs->wrote && rs->n) {
		if (write_prepare(rs, true)) {
			hold_for(rs, WAIT_PREPARE_COMMIT);
			return true;
		}
		log_error("session %llu: out of memory writing a PREPARE record; the autocommit write is refused",
			  (unsigned long long)rs->id);
		refuse_wrapped(rs, "out of memory", from_hook);
		return true;
	}
	if (!queue_wrap_commit(rs))
		return false;
	if (!from_hook)
		session_send_injected(rs->s);
	return true;
}

/*
 * A command that may commit (DDL, BEGIN, SET autocommit = 1, COMMIT)
 * failed after its PREPARE: whether the transaction before it committed
 * depends on where it failed. A DDL commits implicitly when it starts, so
 * "CREATE TABLE t" for a table that exists has committed what came before
 * it; a syntax error has not. The server says: SELECT @@in_transaction,
 * while the ERR waits. Committed: the COMMIT record goes (and the ERR waits
 * for it as an OK would); still open: the PREPARE is given up as usual;
 * no answer: the PREPARE stays in doubt, which the next start resolves
 * from the server's marker or journal verify reports.
 */
static void implicit_row(void *arg, struct session *s, const struct proto_slice *v, const bool *nulls, size_t ncols)
{
	(void)s;
	struct rec_session *rs = arg;
	if (ncols == 1 && !nulls[0])
		rs->still_in_trans = !(v[0].len == 1 && v[0].ptr[0] == '0');
}

static void implicit_done(void *arg, struct session *s, const struct proto_result_end *end)
{
	struct rec_session *rs = arg;
	rs->wait = WAIT_NONE;
	if (end->kind == END_ERR) {
		log_warning("session %llu: a failed command may have committed transaction %llu implicitly, and the server "
			    "did not say (ERR %u): its PREPARE %llu stays in doubt",
			    (unsigned long long)rs->id, (unsigned long long)rs->txn_id, end->err_code,
			    (unsigned long long)rs->prepare_seq);
		rs->prepare_resolved = true; /* in doubt: no ABORT */
		release_reservation(rs);
	} else if (!rs->still_in_trans) {
		log_info("session %llu: transaction %llu committed implicitly before its failed command; recorded",
			 (unsigned long long)rs->id, (unsigned long long)rs->txn_id);
		write_commit(rs);
		forget_transaction(rs);
	}
	resolve_unused_prepare(rs);
	rs->cmd_active = false;
	inflight_done(rs);
	if (rs->pending_commits > 0)
		hold_for(rs, WAIT_COMMITS); /* commit_done releases */
	else
		session_release(s);
}

static const struct session_inject_ops implicit_ops = {.on_row = implicit_row, .on_done = implicit_done};

static bool ask_if_committed(struct rec_session *rs)
{
	static const char sql[] = "SELECT @@in_transaction";
	rs->still_in_trans = true;
	if (!session_inject(rs->s, sql, sizeof(sql) - 1, &implicit_ops, rs))
		return false;
	rs->wait = WAIT_IMPLICIT;
	return true;
}

static enum hook_verdict before_result_end(void *arg, struct session *s, const struct proto_result_end *end,
					   const uint8_t *packet, size_t len, struct hook_answer *answer)
{
	struct recorder *rec = arg;
	void **slot = session_hook_data(s, &rec->hooks);
	struct rec_session *rs = slot ? *slot : NULL;
	if (!rs)
		return HOOK_FORWARD;
	if (rs->wrapped) {
		/* Its COMMIT goes now, or once a snapshot's cut ends;
		 * wrap_committed releases the answer. */
		rs->wrapped = false;
		if (waits_for_cut(rs)) {
			rs->wait = WAIT_CUT_COMMIT;
			return HOOK_HOLD;
		}
		if (wrap_commit(rs, true))
			return HOOK_HOLD;
	}
	if (end->kind == END_ERR && rs->prepare_seq && !rs->prepare_resolved && rs->wrote && rs->n &&
	    ask_if_committed(rs))
		return HOOK_HOLD;
	resolve_unused_prepare(rs);
	rs->cmd_active = false;
	/* Its COMMIT record (if it committed) is queued by now: a cut's
	 * record comes after it. */
	inflight_done(rs);
	if (rs->pending_commits > 0) {
		hold_for(rs, WAIT_COMMITS);
		return HOOK_HOLD;
	}
	return HOOK_FORWARD;
}

static void on_session_end(void *arg, struct session *s)
{
	struct recorder *rec = arg;
	void **slot = session_hook_data(s, &rec->hooks);
	struct rec_session *rs = slot ? *slot : NULL;
	if (!rs)
		return;
	if (rs->prepare_seq && !rs->prepare_resolved) {
		if (rs->commit_sent) {
			atomic_fetch_add(&rec->in_doubt, 1);
			log_warning("session %llu: ended with its commit sent and unanswered: PREPARE %llu stays in doubt "
				    "(journal verify lists it)",
				    (unsigned long long)rs->id, (unsigned long long)rs->prepare_seq);
		} else {
			write_abort(rec, rec->run_id, rs->id, rs->prepare_seq);
		}
	}
	inflight_done(rs);
	release_reservation(rs);
	close_ddl(rs);
	forget_transaction(rs);
	while (rs->nprep)
		drop_prepared(rs, rs->prep[0].id);
	free(rs->prep);
	free(rs->preparing);
	free(rs->stmts);
	free(rs->st);
	free(rs->text);
	free(rs);
	*slot = NULL;
}

/* ------------------------------------------------------------------------
 * A snapshot's cut
 * ------------------------------------------------------------------------ */

/* Under rec->lock. False when out of memory: the commit then goes on, and
 * the cut waits for it like any in flight. */
static bool add_cut_waiter(struct recorder *rec, struct rec_session *rs)
{
	if (rec->ncut_waiters == rec->cut_waiters_cap) {
		size_t cap = rec->cut_waiters_cap ? rec->cut_waiters_cap * 2 : 16;
		struct cut_waiter *p = realloc(rec->cut_waiters, cap * sizeof(*p));
		if (!p)
			return false;
		rec->cut_waiters = p;
		rec->cut_waiters_cap = cap;
	}
	rec->cut_waiters[rec->ncut_waiters++] = (struct cut_waiter){session_worker(rs->s), rs->id};
	return true;
}

/* A commit about to go: while a snapshot's cut runs it waits for the end
 * (true: a cut waiter now); else it counts as in flight, which the cut
 * waits for. One decision under the lock, so none slips between. */
static bool waits_for_cut(struct rec_session *rs)
{
	struct recorder *rec = rs->rec;
	pthread_mutex_lock(&rec->lock);
	bool wait = rec->cutting && add_cut_waiter(rec, rs);
	if (!wait) {
		rs->inflight = true;
		atomic_fetch_add(&rec->inflight, 1);
	}
	pthread_mutex_unlock(&rec->lock);
	return wait;
}

/* On the session's worker, once the cut ended: its commit goes on, to
 * its PREPARE. */
static void resume_after_cut(struct worker *w, void *arg)
{
	struct completion *c = arg;
	struct recorder *rec = c->rec;
	struct session *s = session_find(w, c->session_id);
	void **slot = s ? session_hook_data(s, &rec->hooks) : NULL;
	struct rec_session *rs = slot ? *slot : NULL;
	free(c);
	if (!rs || (rs->wait != WAIT_CUT && rs->wait != WAIT_CUT_COMMIT) || !session_held(s))
		return;
	/* A cut that gave up lets its waiters go, and the next may already
	 * have begun: then this commit waits for that one too, or it would
	 * slip in after the cut checked that nothing was in flight. */
	if (waits_for_cut(rs))
		return;
	if (rs->wait == WAIT_CUT_COMMIT) {
		rs->wait = WAIT_NONE;
		if (!wrap_commit(rs, false))
			session_release(s);
		return;
	}
	struct hook_answer ans = {.code = ER_ERROR_DURING_COMMIT, .sql_state = "HY000"};
	if (prepare_and_hold(rs, &ans) == HOOK_ANSWER) {
		rs->wait = WAIT_NONE;
		session_release_error(s, &ans);
	}
}

bool recorder_cut_begin(struct recorder *r, int timeout_ms, char *err, size_t err_len)
{
	pthread_mutex_lock(&r->lock);
	if (r->cutting) {
		pthread_mutex_unlock(&r->lock);
		snprintf(err, err_len, "another snapshot's cut is in progress");
		return false;
	}
	r->cutting = true;
	clock_gettime(CLOCK_MONOTONIC, &r->cut_started);
	pthread_mutex_unlock(&r->lock);
	/* Commits already sent finish within a round trip and an fsync; a
	 * millisecond's poll costs nothing beside that. */
	for (int waited = 0; atomic_load(&r->inflight) > 0; waited++) {
		if (waited >= timeout_ms) {
			snprintf(err, err_len, "%d commits still in flight after %d ms", atomic_load(&r->inflight),
				 timeout_ms);
			recorder_cut_end(r, NULL);
			return false;
		}
		struct timespec ms = {0, 1000000};
		nanosleep(&ms, NULL);
	}
	return true;
}

uint64_t recorder_cut_mark(struct recorder *r, char *err, size_t err_len)
{
	struct jtxn t = {.run_id = r->run_id};
	uint8_t *payload;
	size_t len;
	if (!jtxn_encode(&t, &payload, &len)) {
		snprintf(err, err_len, "out of memory");
		return 0;
	}
	uint64_t seq = 0;
	int e = journal_append_wait(r->journal, JREC_CUT, now_usec(), payload, len, &seq);
	free(payload);
	if (e) {
		snprintf(err, err_len, "the journal cannot record the cut: %s", strerror(e));
		return 0;
	}
	return seq;
}

void recorder_cut_end(struct recorder *r, uint64_t *held_usec)
{
	pthread_mutex_lock(&r->lock);
	struct cut_waiter *waiters = r->cut_waiters;
	size_t n = r->ncut_waiters;
	r->cut_waiters = NULL;
	r->ncut_waiters = r->cut_waiters_cap = 0;
	r->cutting = false;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (held_usec)
		*held_usec = (uint64_t)((now.tv_sec - r->cut_started.tv_sec) * 1000000 +
					(now.tv_nsec - r->cut_started.tv_nsec) / 1000);
	for (size_t i = 0; i < n; i++) {
		struct completion *c = calloc(1, sizeof(*c));
		if (c) {
			*c = (struct completion){.rec = r, .worker = waiters[i].worker, .session_id = waiters[i].session_id};
			if (r->stopped || !worker_call(c->worker, resume_after_cut, c))
				free(c);
		}
	}
	pthread_mutex_unlock(&r->lock);
	free(waiters);
}

/* ------------------------------------------------------------------------
 * Life cycle
 * ------------------------------------------------------------------------ */

/* At start, before any session: what a crash left in doubt, asked of the
 * server as [snapshot] user, each server of the list in turn. A server
 * that cannot be asked leaves them for the next start. */
static void resolve_in_doubt(struct recorder *rec, const struct config *cfg)
{
	struct replay_options o = {
		.user = cfg->snapshot_user,
		.password = cfg->snapshot_password,
		.tls = gate_replay_tls(cfg->upstream_tls),
		.tls_ca = cfg->upstream_tls_ca,
		.tls_cert = cfg->upstream_tls_cert,
		.tls_key = cfg->upstream_tls_key,
	};
	char why[768] = "";
	for (int i = 0; i < cfg->nservers; i++) {
		o.host = cfg->servers[i].host;
		o.port = cfg->servers[i].port;
		struct indoubt_report rep;
		if (journal_resolve_in_doubt(rec->journal, cfg->journal_dir, &o, rec->markers, rec->run_id, &rep, why,
					     sizeof(why))) {
			if (rep.committed || rep.aborted || rep.ddl_ran || rep.ddl_did_not_run || rep.unresolved)
				log_warning("journal: a crash left transactions in doubt: %zu committed and %zu not, by the "
					    "server's markers; %zu definition changes ran and %zu did not, by its "
					    "catalog (recorded now); %zu stay in doubt (journal verify lists them)",
					    rep.committed, rep.aborted, rep.ddl_ran, rep.ddl_did_not_run, rep.unresolved);
			if (rep.catalog_error[0])
				log_warning("journal: the catalog could not answer for in-doubt definition changes: %s",
					    rep.catalog_error);
			return;
		}
	}
	log_error("journal: in-doubt transactions stay unresolved until the next start: %s", why);
}

struct recorder *recorder_new(struct gate *g, const struct config *cfg, char *err, size_t err_len)
{
	struct recorder *rec = calloc(1, sizeof(*rec));
	if (!rec) {
		snprintf(err, err_len, "out of memory");
		return NULL;
	}
	rec->gate = g;
	rec->fsync = (enum journal_fsync)cfg->journal_fsync;
	rec->on_error = (enum journal_on_error)cfg->journal_on_error;
	rec->run_id = now_usec();
	pthread_mutex_init(&rec->lock, NULL);
	struct journal_options o = {.dir = cfg->journal_dir,
				    .segment_size = cfg->journal_segment_size,
				    .fsync = rec->fsync,
				    .retention_sec = (uint64_t)cfg->journal_retention};
	struct journal_recovery recovery;
	char why[512];
	rec->journal = journal_open(&o, &recovery, why, sizeof(why));
	if (!rec->journal) {
		snprintf(err, err_len, "[journal] dir %s: %s", cfg->journal_dir, why);
		pthread_mutex_destroy(&rec->lock);
		free(rec);
		return NULL;
	}
	if (recovery.truncated_bytes)
		log_warning("journal: truncated a torn tail of %llu bytes at offset %llu of %s (a write cut short by a "
			    "crash; no record that completed is lost)",
			    (unsigned long long)recovery.truncated_bytes, (unsigned long long)recovery.truncated_offset,
			    recovery.truncated_segment);
	snprintf(rec->markers, sizeof(rec->markers), "%s", cfg->journal_markers);
	/* The server answers with the account acctgate reads it with. */
	if (cfg->snapshot_user[0])
		resolve_in_doubt(rec, cfg);
	log_notice("journal: %s, %llu segments, sequence %llu to %llu, fsync %s", cfg->journal_dir,
		   (unsigned long long)recovery.segments, (unsigned long long)recovery.first_seq,
		   (unsigned long long)recovery.last_seq,
		   rec->fsync == JOURNAL_FSYNC_ALWAYS ? "always" : rec->fsync == JOURNAL_FSYNC_EVERYSEC ? "everysec" : "off");
	if (cfg->snapshot_user[0]) {
		struct gate_db_account acct;
		struct replay_options conn;
		gate_db_account(cfg, &acct, &conn);
		rec->tables = tableclock_new(&conn, why, sizeof(why));
		OPENSSL_cleanse(acct.password, sizeof(acct.password));
		if (!rec->tables)
			log_warning("%s: every write gets its time fixed", why);
	}
	rec->hooks = (struct session_hooks){
		.name = "journal",
		.arg = rec,
		.before_command = before_command,
		.before_result_end = before_result_end,
		.on_result_end = on_result_end,
		.on_prepare_ok = on_prepare_ok,
		.on_session_end = on_session_end,
	};
	if (!gate_add_hooks(g, &rec->hooks)) {
		snprintf(err, err_len, "[journal]: no room for the journal's hooks");
		journal_close(rec->journal);
		pthread_mutex_destroy(&rec->lock);
		free(rec);
		return NULL;
	}
	return rec;
}

void recorder_stop(struct recorder *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	r->stopped = true;
	pthread_mutex_unlock(&r->lock);
}

void recorder_free(struct recorder *r)
{
	if (!r)
		return;
	recorder_stop(r);
	struct journal_stats js;
	journal_get_stats(r->journal, &js);
	struct recorder_stats rs;
	recorder_get_stats(r, &rs);
	/* The counters an operator (and bench/journal.sh) reads at exit. */
	log_info("journal: commits=%llu aborts=%llu records=%llu bytes=%llu fsyncs=%llu flagged=%llu in_doubt=%llu "
		 "refused=%llu gaps=%llu unrecorded=%llu time_fixed=%llu time_unfixed=%llu prepare_wait_us=%.0f "
		 "commit_wait_us=%.0f last_seq=%llu",
		 (unsigned long long)rs.commits, (unsigned long long)rs.aborts, (unsigned long long)js.records,
		 (unsigned long long)js.bytes, (unsigned long long)js.fsyncs, (unsigned long long)rs.flagged,
		 (unsigned long long)rs.in_doubt, (unsigned long long)rs.refused, (unsigned long long)rs.gaps,
		 (unsigned long long)rs.unrecorded, (unsigned long long)rs.time_fixed,
		 (unsigned long long)rs.time_unfixed,
		 rs.prepare_waits ? (double)rs.prepare_wait_usec / (double)rs.prepare_waits : 0.0,
		 rs.commit_waits ? (double)rs.commit_wait_usec / (double)rs.commit_waits : 0.0, (unsigned long long)js.last_seq);
	tableclock_free(r->tables);
	journal_close(r->journal);
	free(r->cut_waiters);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

bool recorder_journal_stats(struct recorder *r, struct journal_stats *out)
{
	journal_get_stats(r->journal, out);
	return true;
}

void recorder_journal_floor(struct recorder *r, uint64_t floor, bool trim)
{
	journal_set_floor(r->journal, floor, trim);
}

void recorder_get_stats(struct recorder *r, struct recorder_stats *out)
{
	*out = (struct recorder_stats){
		.commits = atomic_load(&r->commits),
		.aborts = atomic_load(&r->aborts),
		.flagged = atomic_load(&r->flagged),
		.in_doubt = atomic_load(&r->in_doubt),
		.refused = atomic_load(&r->refused),
		.gaps = atomic_load(&r->gaps),
		.unrecorded = atomic_load(&r->unrecorded),
		.time_fixed = atomic_load(&r->time_fixed),
		.time_unfixed = atomic_load(&r->time_unfixed),
		.prepare_waits = atomic_load(&r->prepare_waits),
		.prepare_wait_usec = atomic_load(&r->prepare_wait_usec),
		.commit_waits = atomic_load(&r->commit_waits),
		.commit_wait_usec = atomic_load(&r->commit_wait_usec),
	};
}
