/*
 * admin_parse.h - the admin port's command language, as a pure function
 * (no I/O, no allocation) so that tests/unit/test_admin_parse.c covers it
 * whole.
 *
 *   HELP [topic]    (ignored: the stock client answers a bare "help" itself
 *                    and sends "help 'topic'" for "help topic")
 *   SHOW STATUS | SESSIONS | SERVERS | JOURNAL | SNAPSHOTS | CONFIG | THROTTLE
 *   SHOW QUERY DIGESTS [ORDER BY count|total|mean|p95|max|errors|rows] [LIMIT n]
 *   RESET QUERY DIGESTS
 *   RELOAD
 *   SNAPSHOT
 *   VERIFY SNAPSHOT 'id' | DROP SNAPSHOT 'id'
 *   RESTORE SNAPSHOT 'id' [UNTIL 'YYYY-MM-DD HH:MM:SS[.ffffff]' | UNTIL SEQUENCE n]
 *           [INTO DATABASE 'name']   (without it: in place, admin_restore.c)
 *   SELECT @@version_comment [LIMIT 1]   (what the stock client sends first)
 *
 * Keywords are case-insensitive; whitespace anywhere between words and one
 * or more trailing ';' are tolerated. A value is quoted ('...' or "...",
 * no escapes: none of them needs a quote) or, if it has no space, bare.
 */
#ifndef ACCTGATE_ADMIN_PARSE_H
#define ACCTGATE_ADMIN_PARSE_H

#include <stdbool.h>
#include <stddef.h>

#include "digest_table.h"

enum admin_verb {
	ADMIN_HELP,
	ADMIN_SHOW_STATUS,
	ADMIN_SHOW_SESSIONS,
	ADMIN_SHOW_SERVERS,
	ADMIN_SHOW_JOURNAL,
	ADMIN_SHOW_SNAPSHOTS,
	ADMIN_SHOW_CONFIG,
	ADMIN_SHOW_THROTTLE,
	ADMIN_SHOW_DIGESTS,
	ADMIN_RESET_DIGESTS,
	ADMIN_RELOAD,
	ADMIN_SNAPSHOT,
	ADMIN_VERIFY_SNAPSHOT,
	ADMIN_DROP_SNAPSHOT,
	ADMIN_RESTORE_SNAPSHOT,
	ADMIN_VERSION_COMMENT,
};

/* The largest LIMIT SHOW QUERY DIGESTS takes. */
#define ADMIN_LIMIT_MAX 1000000000u

#define ADMIN_SNAPSHOT_ID_MAX 64
#define ADMIN_TIME_MAX 48
#define ADMIN_DATABASE_MAX 65

/* A parsed command: the verb and its arguments ("" / 0 when absent). */
struct admin_command {
	enum admin_verb verb;
	char snapshot_id[ADMIN_SNAPSHOT_ID_MAX]; /* a directory name: letters, digits, '-', '_', '.' */
	char until_time[ADMIN_TIME_MAX];         /* as written; the caller parses it (journal_parse_time) */
	unsigned long long until_seq;
	char into_database[ADMIN_DATABASE_MAX];  /* letters, digits, '_', '$' */
	enum digest_order order;                 /* SHOW QUERY DIGESTS: ORDER BY (count when not given) */
	size_t limit;                            /* SHOW QUERY DIGESTS: LIMIT (SIZE_MAX when not given) */
};

/*
 * Parse one COM_QUERY's text (len bytes, not NUL-terminated). True with
 * *cmd filled; false with err holding the ERR 1064 message, which names what
 * was expected and what came instead ("SHOW: expected STATUS, SESSIONS,
 * ... after SHOW, got 'STAUTS'").
 */
bool admin_parse(const char *text, size_t len, struct admin_command *cmd, char *err, size_t errlen);

/* The commands and one line on each, for HELP: false past the end. */
bool admin_help_at(size_t i, const char **command, const char **description);

#endif
