/*
 * sqltext.h - what acctgate needs to know of SQL text without a server:
 * where the statements of a multi-statement query begin and end, what kind
 * each one is, what in it makes a statement log unable to replay it
 * faithfully, and its digest (literals removed) for statistics.
 *
 * One lexer serves all of them. It knows MariaDB's quoting ('...', "...",
 * `...`, backslash escapes and doubled quotes), comments ("-- ", "#", C-style, and the
 * executable forms that open with slash-star-bang or slash-star-M-bang,
 * whose content is code), and the compound statements of stored programs (BEGIN ... END,
 * CASE ... END [CASE], IF/LOOP/WHILE/REPEAT/FOR ... END IF/LOOP/...), so that the ';'
 * inside a CREATE PROCEDURE body does not split it.
 *
 * Pure functions over bytes: no I/O, no allocation, bounded by the input
 * length, never read outside it. Any input (binary, unterminated quotes,
 * unbalanced BEGIN/END) gives an answer, never a crash: an unterminated
 * quote or comment runs to the end of the text.
 */
#ifndef ACCTGATE_SQLTEXT_H
#define ACCTGATE_SQLTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The next statement of a multi-statement text, from *pos on: sets
 * [*start, *start + *len) to the statement without its terminating ';' and
 * without leading/trailing whitespace (comments at its edges stay), advances
 * *pos past the ';' (or to the end), and returns true. Statements that are
 * empty or only comments are skipped. Returns false when none is left, with
 * *pos at the end. A ';' ends a statement unless quoted, commented, or
 * inside the BEGIN ... END / CASE ... END of a compound statement: CREATE
 * [OR REPLACE] [DEFINER = u] [AGGREGATE] PROCEDURE|FUNCTION|TRIGGER|EVENT,
 * BEGIN NOT ATOMIC, or label: BEGIN. Outside those, BEGIN is a
 * transaction's start and its ';' ends it.
 */
bool sql_next_statement(const char *text, size_t text_len, size_t *pos, size_t *start, size_t *len);

/* What kind of statement: the first keyword, after comments and a
 * leading '(' (as in "(SELECT ...) UNION ..."). */
enum sql_kind {
	SQL_OTHER,        /* anything not below */
	SQL_SELECT,       /* SELECT, WITH ... SELECT, VALUES, TABLE */
	SQL_SHOW,         /* SHOW, DESCRIBE, DESC, EXPLAIN, HELP */
	SQL_SET,          /* SET ... (variables, NAMES, CHARACTER SET, PASSWORD...) */
	SQL_SET_TRANSACTION, /* SET [GLOBAL|SESSION] TRANSACTION ... */
	SQL_USE,
	SQL_BEGIN,        /* BEGIN [WORK], START TRANSACTION */
	SQL_COMMIT,
	SQL_ROLLBACK,     /* ROLLBACK, not ROLLBACK TO [SAVEPOINT] */
	SQL_SAVEPOINT,    /* SAVEPOINT, ROLLBACK TO, RELEASE SAVEPOINT */
	SQL_INSERT,
	SQL_REPLACE,
	SQL_UPDATE,
	SQL_DELETE,
	SQL_CALL,
	SQL_DDL,          /* CREATE, ALTER, DROP, RENAME, TRUNCATE */
	SQL_LOAD,         /* LOAD DATA / LOAD XML */
	SQL_LOCK,         /* LOCK TABLES, UNLOCK TABLES */
	SQL_DO,
	SQL_PREPARE,      /* PREPARE, EXECUTE, DEALLOCATE PREPARE (SQL-level) */
	SQL_ADMIN,        /* GRANT, REVOKE, FLUSH, ANALYZE, OPTIMIZE, REPAIR, CHECK, KILL, ... */
	SQL_XA,
};

/* Why a statement log cannot promise the same result on replay. */
enum sql_unsafe {
	SQL_UNSAFE_UUID = 1u << 0,        /* UUID(), UUID_SHORT(), SYS_GUID() */
	SQL_UNSAFE_RAND = 1u << 1,        /* RAND() without a seed */
	SQL_UNSAFE_SYSDATE = 1u << 2,     /* SYSDATE(): ignores the fixed timestamp */
	SQL_UNSAFE_SESSION_FN = 1u << 3,  /* USER(), CURRENT_USER, CONNECTION_ID(), FOUND_ROWS(),
	                                     ROW_COUNT(), VERSION(), DATABASE() in a write ... */
	SQL_UNSAFE_LOCK_FN = 1u << 4,     /* GET_LOCK(), RELEASE_LOCK(), IS_FREE_LOCK(), SLEEP(), BENCHMARK() */
	SQL_UNSAFE_LIMIT = 1u << 5,       /* UPDATE/DELETE/INSERT..SELECT with LIMIT and no ORDER BY */
	SQL_UNSAFE_INSERT_SELECT_ODKU = 1u << 6, /* INSERT ... SELECT ... ON DUPLICATE KEY UPDATE */
	SQL_UNSAFE_LOAD_FILE = 1u << 7,   /* LOAD_FILE(), LOAD DATA (the file is not journaled) */
};
#define SQL_UNSAFE_COUNT 8

/* What the recorder needs to know of one statement. */
struct sql_facts {
	enum sql_kind kind;
	uint32_t unsafe;            /* enum sql_unsafe bits; only meaningful for statements that write */
	bool uses_time;             /* NOW, CURRENT_TIMESTAMP, LOCALTIME[STAMP], CURDATE, CURRENT_DATE,
	                               CURTIME, CURRENT_TIME, UNIX_TIMESTAMP, UTC_DATE/TIME/TIMESTAMP */
	bool reads_last_insert_id;  /* LAST_INSERT_ID() with no argument */
	bool sets_last_insert_id;   /* LAST_INSERT_ID(expr) */
	bool reads_user_vars;       /* an @name that is not the target of :=, of SET @name =
	                               (each item of the list) or of SELECT ... INTO @name */
	bool writes_user_vars;      /* an @name that is such a target */
	bool has_on_duplicate_key;  /* INSERT ... ON DUPLICATE KEY UPDATE */
	bool for_update;            /* SELECT ... FOR UPDATE / FOR SHARE / LOCK IN SHARE MODE */
	bool select_into;           /* SELECT ... INTO @var / OUTFILE / DUMPFILE */
};

/* Facts of one statement (as sql_next_statement gives it). Function names
 * match case-insensitively and only as calls (name followed by '(' after
 * optional spaces), except the keywords that need no parentheses
 * (CURRENT_TIMESTAMP, CURRENT_USER, ...); never after a '.' (t.now()), as
 * a table or routine being named (INSERT INTO uuid ...), nor, for the
 * functions that take no argument (USER, UUID, VERSION, ...), with one
 * (KEY (user(42)) is an index prefix). Quoted text and comments never
 * match; executable comments do. LIMIT counts at the level that picks the
 * rows written: the top of an UPDATE or DELETE, the SELECT of an
 * INSERT/REPLACE ... SELECT. SET STATEMENT ... FOR stmt and ANALYZE stmt
 * have the kind of stmt. */
void sql_analyse(const char *stmt, size_t len, struct sql_facts *out);

/*
 * The user variables of a transaction's statements so far, for
 * sql_not_rerunnable (zeroed before the first). A rollback keeps what the
 * transaction assigned to them, so a statement run again would read what
 * the run that deadlocked left, not what it read the first time, unless
 * the assignment runs before any read. A variable the transaction assigns
 * passes when no earlier statement named it and one statement assigns it
 * once, where nothing decides whether the assignment runs and nothing
 * before it reads the variable: a target of a SET statement whose
 * expressions do not name it, or an item of the list of the statement's
 * first SELECT (no LIMIT or HAVING at that level), read again only in its
 * ON DUPLICATE KEY UPDATE clause, which runs after the list for the same
 * row. That is Slurm's rollup: INSERT ... SELECT ..., @ASUM:=SUM(...) ...
 * ON DUPLICATE KEY UPDATE alloc_secs=@ASUM. Later statements may read it.
 * A variable only read keeps its value from before the transaction, and
 * passes. When such an assignment's value differs on the replay, what the
 * client sees of it is compared like every other result.
 */
#define SQL_VAR_NAME_MAX 65 /* a user variable's name (64 bytes at most), NUL included */
#define SQL_VAR_LEDGER_MAX 16
struct sql_var_ledger {
	size_t n;
	char names[SQL_VAR_LEDGER_MAX][SQL_VAR_NAME_MAX]; /* every variable named so far, case folded */
};

/*
 * Why a statement must not run a second time on the same session after
 * the server rolled its transaction back (a deadlock replay, see
 * proxy/redo.c), or NULL when it may: what it does must be all inside the
 * transaction, so that the rollback undid it. Refused: CALL, DDL, LOAD
 * DATA, SQL-level PREPARE/EXECUTE and every kind not named below; SELECT
 * ... INTO; named locks, SLEEP() and LOAD_FILE(); user variables the
 * ledger above does not let pass. Allowed: SELECT, SHOW, SET (of session
 * variables), SET TRANSACTION, USE, BEGIN, savepoints, INSERT, REPLACE,
 * UPDATE and DELETE. Feed a transaction's statements in order, the failed
 * one last, with one ledger: each adds its variables to it. A static
 * string, for logs.
 */
const char *sql_not_rerunnable(const char *stmt, size_t len, struct sql_var_ledger *vars);


/*
 * The tables of a statement whose values can read the server's clock only
 * through them: a column default or ON UPDATE clause (CURRENT_TIMESTAMP), a
 * trigger, a view's definition. The recorder fixes the session's time
 * before a write unless every table it names is known to have none of
 * those (proxy/tableclock.h).
 */
#define SQL_TABLES_MAX 8
#define SQL_NAME_MAX 256 /* one unquoted name's bytes, NUL included */
struct sql_tables {
	size_t n;
	struct sql_table_name {
		char db[SQL_NAME_MAX];    /* "" = the session's default database */
		char table[SQL_NAME_MAX];
	} t[SQL_TABLES_MAX];
};

/*
 * True, with *out listing every table the statement names (after FROM,
 * JOIN, USING, UPDATE, INTO, INSERT and REPLACE, subqueries included,
 * duplicates once), when nothing else in it can read the clock. False when
 * it may, or when this reader cannot be sure: a time function (any form
 * sql_analyse counts as uses_time, SYSDATE too), a system variable
 * (@@timestamp), a call of a function not on a list of built-ins known not
 * to read the clock (a stored function may), a name written where a table
 * is expected that is not one, TABLE, SET STATEMENT, more than
 * SQL_TABLES_MAX tables or a name longer than SQL_NAME_MAX - 1 bytes, and
 * every kind but SELECT, INSERT, REPLACE, UPDATE and DELETE. f: the
 * statement's facts (sql_analyse), which the caller has already.
 */
bool sql_clock_tables(const char *stmt, size_t len, const struct sql_facts *f, struct sql_tables *out);

/*
 * What a definition change leaves in the catalog, for a DDL whose outcome a
 * crash hid (snapshot/indoubt_ddl.c): the server's information_schema
 * shows afterwards whether it ran. Only forms whose whole effect is one
 * such fact are read; everything else is SQL_DDL_OTHER.
 */
enum sql_ddl_effect {
	SQL_DDL_OTHER,
	SQL_DDL_CREATE_TABLE,  /* CREATE TABLE [IF NOT EXISTS] t (columns) [options]: t exists */
	SQL_DDL_DROP_TABLE,    /* DROP TABLE [IF EXISTS] t [RESTRICT|CASCADE]: t is gone */
	SQL_DDL_ADD_COLUMN,    /* ALTER TABLE t ADD COLUMN [IF NOT EXISTS] c definition (or ADD `c` ...): t has c */
	SQL_DDL_TABLE_COMMENT, /* ALTER TABLE t COMMENT [=] 'text': t's comment is text */
};
struct sql_ddl {
	enum sql_ddl_effect effect;
	bool if_clause;               /* IF [NOT] EXISTS: a no-op where the fact already holds */
	struct sql_table_name table;  /* db "" = the session's default database */
	char detail[SQL_NAME_MAX];    /* the column, or the comment's text */
};

/*
 * The effect of one statement, names and text in printable ASCII only (a
 * name in another character set could not be compared with the catalog's
 * without the session's), a comment without backslashes (whose meaning
 * depends on sql_mode) and shorter than SQL_NAME_MAX. CREATE TABLE ...
 * SELECT / LIKE / AS, CREATE OR REPLACE, TEMPORARY tables, several tables
 * or several ALTER clauses are SQL_DDL_OTHER.
 */
void sql_ddl_effect(const char *stmt, size_t len, struct sql_ddl *out);

/*
 * Whether a statement may change the definition of `table` (ASCII,
 * compared case-insensitively): a DDL that names it anywhere (as a
 * word or a quoted name), one on a whole database or schema, and CALL and
 * SQL-level EXECUTE, whose inner statements are not known. Errs towards
 * true: it decides whether the catalog's present state is still the one
 * an earlier DDL left.
 */
bool sql_may_redefine(const char *stmt, size_t len, const char *table);

/* The procedure a CALL names (CALL [db.]name[(...)], printable ASCII);
 * false for any other statement. */
bool sql_call_target(const char *stmt, size_t len, struct sql_table_name *out);

/*
 * Whether a stored program's body (as information_schema.ROUTINES gives
 * it) may change the definition of `table`: a CREATE, ALTER, DROP, RENAME
 * or TRUNCATE in it next to the table's name or a DATABASE/SCHEMA, or a
 * CALL, PREPARE or EXECUTE, whose target is not known here.
 */
bool sql_body_may_redefine(const char *body, size_t len, const char *table);

/* "UUID() or UUID_SHORT()" ...: the reason for one SQL_UNSAFE_* bit, for logs. */
const char *sql_unsafe_reason(uint32_t bit);
/* "SELECT", "INSERT", ...: the kind's name, for logs. */
const char *sql_kind_name(enum sql_kind k);

/*
 * The statement's digest: the text with every literal (numbers, strings,
 * hex/bit literals, '?' placeholders, a '-' sign after an operator, '(',
 * ',' or a keyword such as WHERE; NULL kept as NULL) replaced by '?',
 * "IN (literals)" written "IN (...)" and the rows of "VALUES (...), (...)"
 * written "VALUES (...)" whatever they hold, so that batch sizes do not
 * make new digests (VALUES(col) after '=', ',', '(' or an operator is ON
 * DUPLICATE KEY UPDATE's function, kept); comments removed (executable
 * comments kept as code); blanks and comments between two tokens made one
 * space (none where there was none); keywords upper-cased; identifiers kept
 * as written (quotes dropped, and a name next to '.' is never a keyword).
 * "..." is an identifier when the statement shows ANSI_QUOTES (a "..."
 * after FROM, INTO, UPDATE, JOIN, TABLE, EXISTS or next to '.'), a string
 * otherwise. Control bytes are written '?'. Writes at most out_cap bytes
 * including a NUL (out may be NULL when out_cap is 0; a cut never ends
 * inside a UTF-8 character) and returns the 64-bit FNV-1a hash of the
 * whole normalised text (computed over all of it even when out was
 * truncated).
 */
uint64_t sql_digest(const char *stmt, size_t len, char *out, size_t out_cap);

/*
 * Whether a digest matches a pattern: '*' stands for any run of bytes
 * (empty too), every other byte for itself, letters in either case; '?'
 * is a literal's place in a digest, so it is literal here too. Both are
 * NUL-terminated. Linear in practice (the last '*' is retried, never an
 * earlier one), so a rule cannot be made to cost more than len(p)*len(d).
 */
bool sql_digest_matches(const char *pattern, const char *digest);

#endif
