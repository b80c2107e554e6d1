/*
 * admin_parse.h - the admin port's command language, as a pure function
 * (no I/O, no allocation) so that tests/unit/test_admin_parse.c covers it
 * whole.
 *
 *   HELP [topic]    (ignored: the stock client answers a bare "help" itself
 *                    and sends "help 'topic'" for "help topic")
 *   SHOW STATUS | SESSIONS | SERVERS | JOURNAL | SNAPSHOTS | CONFIG
 *   RELOAD
 *   SELECT @@version_comment [LIMIT 1]   (what the stock client sends first)
 *
 * Keywords are case-insensitive; whitespace anywhere between words and one
 * or more trailing ';' are tolerated.
 */
#ifndef ACCTGATE_ADMIN_PARSE_H
#define ACCTGATE_ADMIN_PARSE_H

#include <stdbool.h>
#include <stddef.h>

enum admin_verb {
	ADMIN_HELP,
	ADMIN_SHOW_STATUS,
	ADMIN_SHOW_SESSIONS,
	ADMIN_SHOW_SERVERS,
	ADMIN_SHOW_JOURNAL,
	ADMIN_SHOW_SNAPSHOTS,
	ADMIN_SHOW_CONFIG,
	ADMIN_RELOAD,
	ADMIN_SNAPSHOT,
	ADMIN_VERSION_COMMENT,
};

/*
 * Parse one COM_QUERY's text (len bytes, not NUL-terminated). True with
 * *verb set; false with err holding the ERR 1064 message, which names what
 * was expected and what came instead ("SHOW: expected STATUS, SESSIONS,
 * ... after SHOW, got 'STAUTS'").
 */
bool admin_parse(const char *text, size_t len, enum admin_verb *verb, char *err, size_t errlen);

/* The commands and one line on each, for HELP: false past the end. */
bool admin_help_at(size_t i, const char **command, const char **description);

#endif
