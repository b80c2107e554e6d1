/*
 * admin_parse.c - see admin_parse.h. A command is a few words: the text is
 * cut into words (runs of anything but whitespace and ';', or a quoted
 * value), trailing ';' dropped, and the words matched against the grammar
 * one by one, so each error can say which word was wrong and what would
 * have been right.
 */
#include "admin_parse.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define WORDS_MAX 10

struct word {
	const char *p;
	size_t len;
	bool quoted;
};

enum split_error {
	SPLIT_OK,
	SPLIT_EXTRA_STATEMENT, /* text after a ';' */
	SPLIT_TOO_MANY,
	SPLIT_UNTERMINATED,    /* a quote never closed */
};

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

/* Split into words (a quoted value is one, without its quotes). */
static enum split_error split(const char *t, size_t len, struct word *w, size_t *n)
{
	size_t i = 0;
	*n = 0;
	bool semicolon = false;
	while (i < len) {
		if (is_space(t[i])) {
			i++;
			continue;
		}
		if (t[i] == ';') {
			semicolon = true;
			i++;
			continue;
		}
		if (semicolon)
			return SPLIT_EXTRA_STATEMENT;
		if (*n == WORDS_MAX)
			return SPLIT_TOO_MANY;
		if (t[i] == '\'' || t[i] == '"') {
			char q = t[i++];
			size_t start = i;
			while (i < len && t[i] != q)
				i++;
			if (i == len)
				return SPLIT_UNTERMINATED;
			w[(*n)++] = (struct word){t + start, i - start, true};
			i++;
			continue;
		}
		size_t start = i;
		while (i < len && !is_space(t[i]) && t[i] != ';')
			i++;
		w[(*n)++] = (struct word){t + start, i - start, false};
	}
	return SPLIT_OK;
}

static bool is(const struct word *w, const char *kw)
{
	return !w->quoted && w->len == strlen(kw) && strncasecmp(w->p, kw, w->len) == 0;
}

/* "got 'WORD'" as the message quotes it: at most 40 bytes, printable only. */
static void quote(const struct word *w, char *buf, size_t len)
{
	size_t n = w->len < 40 ? w->len : 40, o = 0;
	for (size_t i = 0; i < n && o + 1 < len; i++)
		buf[o++] = (w->p[i] >= 0x20 && w->p[i] < 0x7f) ? w->p[i] : '?';
	buf[o] = '\0';
	if (w->len > 40 && o + 4 < len)
		strcat(buf, "...");
}

static const struct {
	const char *word;
	enum admin_verb verb;
} show_objects[] = {
	{"STATUS", ADMIN_SHOW_STATUS},	   {"SESSIONS", ADMIN_SHOW_SESSIONS}, {"SERVERS", ADMIN_SHOW_SERVERS},
	{"JOURNAL", ADMIN_SHOW_JOURNAL},   {"SNAPSHOTS", ADMIN_SHOW_SNAPSHOTS}, {"CONFIG", ADMIN_SHOW_CONFIG},
	{"THROTTLE", ADMIN_SHOW_THROTTLE},
};
#define SHOW_EXPECTED "STATUS, SESSIONS, SERVERS, JOURNAL, SNAPSHOTS, CONFIG, THROTTLE or QUERY DIGESTS"

static const enum digest_order orders[] = {
	DIGEST_ORDER_COUNT, DIGEST_ORDER_TOTAL,	 DIGEST_ORDER_MEAN, DIGEST_ORDER_P95,
	DIGEST_ORDER_MAX,   DIGEST_ORDER_ERRORS, DIGEST_ORDER_ROWS,
};
#define ORDER_EXPECTED "count, total, mean, p95, max, errors or rows"

static bool no_more(const struct word *w, size_t n, size_t from, const char *command, char *err, size_t errlen)
{
	if (n <= from)
		return true;
	char q[64];
	quote(&w[from], q, sizeof(q));
	snprintf(err, errlen, "%s takes nothing after it, got '%s'", command, q);
	return false;
}

/* A value made only of the bytes `allowed` accepts, copied out. */
static bool value(const struct word *w, bool (*allowed)(char), char *out, size_t cap)
{
	if (w->len == 0 || w->len >= cap)
		return false;
	for (size_t i = 0; i < w->len; i++)
		if (!allowed(w->p[i]))
			return false;
	memcpy(out, w->p, w->len);
	out[w->len] = '\0';
	return true;
}

static bool alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }
/* A snapshot id names a directory under [snapshot] dir: nothing that
 * could climb out of it ('/', a leading '.'). */
static bool id_byte(char c) { return alnum(c) || c == '-' || c == '_' || c == '.'; }
static bool db_byte(char c) { return alnum(c) || c == '_' || c == '$'; }
static bool time_byte(char c) { return alnum(c) || c == '-' || c == ':' || c == '.' || c == ' ' || c == '@' || c == '+'; }

/* "<VERB> SNAPSHOT 'id'": the id into cmd. */
static bool snapshot_id(const struct word *w, size_t n, const char *command, struct admin_command *cmd,
			char *err, size_t errlen)
{
	char q[64];
	if (n < 2 || !is(&w[1], "SNAPSHOT")) {
		if (n < 2)
			snprintf(err, errlen, "%s: expected SNAPSHOT 'id' after %s, got nothing", command, command);
		else {
			quote(&w[1], q, sizeof(q));
			snprintf(err, errlen, "%s: expected SNAPSHOT 'id' after %s, got '%s'", command, command, q);
		}
		return false;
	}
	if (n < 3) {
		snprintf(err, errlen, "%s SNAPSHOT: expected the snapshot's id (SHOW SNAPSHOTS lists them), got nothing",
			 command);
		return false;
	}
	if (w[2].p[0] == '.' || !value(&w[2], id_byte, cmd->snapshot_id, sizeof(cmd->snapshot_id))) {
		quote(&w[2], q, sizeof(q));
		snprintf(err, errlen, "%s SNAPSHOT: expected a snapshot id (letters, digits, '-', '_', '.'), got '%s'",
			 command, q);
		return false;
	}
	return true;
}

/* RESTORE SNAPSHOT 'id' [UNTIL 'time' | UNTIL SEQUENCE n] [INTO DATABASE 'name'] */
static bool restore_args(const struct word *w, size_t n, struct admin_command *cmd, char *err, size_t errlen)
{
	char q[64];
	size_t i = 3;
	if (i < n && is(&w[i], "UNTIL")) {
		if (i + 1 < n && is(&w[i + 1], "SEQUENCE")) {
			char digits[24];
			if (i + 2 >= n || !value(&w[i + 2], alnum, digits, sizeof(digits)) ||
			    strspn(digits, "0123456789") != strlen(digits) || (cmd->until_seq = strtoull(digits, NULL, 10)) == 0) {
				snprintf(err, errlen, "RESTORE SNAPSHOT: expected a journal sequence number after UNTIL SEQUENCE");
				return false;
			}
			i += 3;
		} else {
			if (i + 1 >= n || !(w[i + 1].p[0] == '@' || (w[i + 1].p[0] >= '0' && w[i + 1].p[0] <= '9')) ||
			    !value(&w[i + 1], time_byte, cmd->until_time, sizeof(cmd->until_time))) {
				snprintf(err, errlen, "RESTORE SNAPSHOT: expected UNTIL 'YYYY-MM-DD HH:MM:SS[.ffffff]' (UTC) or "
						      "UNTIL SEQUENCE n");
				return false;
			}
			i += 2;
		}
	}
	/* Without INTO DATABASE the restore is in place (admin_restore.c). */
	if (i >= n)
		return true;
	if (!is(&w[i], "INTO") || i + 1 >= n || !is(&w[i + 1], "DATABASE") || i + 2 >= n ||
	    !value(&w[i + 2], db_byte, cmd->into_database, sizeof(cmd->into_database))) {
		size_t at = i + (is(&w[i], "INTO") ? 1 + (i + 1 < n && is(&w[i + 1], "DATABASE")) : 0);
		if (at < n)
			quote(&w[at], q, sizeof(q));
		snprintf(err, errlen,
			 "RESTORE SNAPSHOT 'id': expected UNTIL, INTO DATABASE 'name' (letters, digits, '_', '$') or the "
			 "end, got %s%s%s",
			 at < n ? "'" : "nothing", at < n ? q : "", at < n ? "'" : "");
		return false;
	}
	i += 3;
	if (i < n) {
		quote(&w[i], q, sizeof(q));
		snprintf(err, errlen, "RESTORE SNAPSHOT 'id': expected UNTIL, INTO DATABASE or the end, got '%s'", q);
		return false;
	}
	return true;
}

/* What the message says came instead of the word expected at w[at]:
 * "'WORD'", or "nothing" past the end. */
static void got(const struct word *w, size_t n, size_t at, char *buf, size_t len)
{
	char q[64];
	if (at >= n) {
		snprintf(buf, len, "nothing");
		return;
	}
	quote(&w[at], q, sizeof(q));
	snprintf(buf, len, "'%s'", q);
}

/* "QUERY DIGESTS" after SHOW or RESET (w[0]). */
static bool query_digests(const struct word *w, size_t n, char *err, size_t errlen)
{
	char g[72], command[8];
	snprintf(command, sizeof(command), "%s", is(&w[0], "SHOW") ? "SHOW" : "RESET");
	if (n < 2 || !is(&w[1], "QUERY")) {
		got(w, n, 1, g, sizeof(g));
		snprintf(err, errlen, "%s: expected QUERY DIGESTS after %s, got %s", command, command, g);
		return false;
	}
	if (n < 3 || !is(&w[2], "DIGESTS")) {
		got(w, n, 2, g, sizeof(g));
		snprintf(err, errlen, "%s QUERY: expected DIGESTS after %s QUERY, got %s", command, command, g);
		return false;
	}
	return true;
}

/* A row count: decimal digits only, at most ADMIN_LIMIT_MAX. */
static bool parse_limit(const struct word *w, size_t *out)
{
	if (w->len == 0 || w->len > 10)
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i < w->len; i++) {
		if (w->p[i] < '0' || w->p[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(w->p[i] - '0');
	}
	if (v > ADMIN_LIMIT_MAX)
		return false;
	*out = (size_t)v;
	return true;
}

/* The clauses after SHOW QUERY DIGESTS (w[3] on): [ORDER BY key] [LIMIT n]. */
static bool digests_clauses(const struct word *w, size_t n, struct admin_command *cmd, char *err, size_t errlen)
{
	char g[72];
	size_t at = 3;
	if (at < n && is(&w[at], "ORDER")) {
		if (at + 1 >= n || !is(&w[at + 1], "BY")) {
			got(w, n, at + 1, g, sizeof(g));
			snprintf(err, errlen, "SHOW QUERY DIGESTS: expected BY after ORDER, got %s", g);
			return false;
		}
		size_t k = 0, norders = sizeof(orders) / sizeof(orders[0]);
		while (k < norders && !(at + 2 < n && is(&w[at + 2], digest_order_name(orders[k]))))
			k++;
		if (k == norders) {
			got(w, n, at + 2, g, sizeof(g));
			snprintf(err, errlen, "SHOW QUERY DIGESTS: expected " ORDER_EXPECTED " after ORDER BY, got %s", g);
			return false;
		}
		cmd->order = orders[k];
		at += 3;
	}
	if (at < n && is(&w[at], "LIMIT")) {
		if (at + 1 >= n || !parse_limit(&w[at + 1], &cmd->limit)) {
			got(w, n, at + 1, g, sizeof(g));
			snprintf(err, errlen, "SHOW QUERY DIGESTS: expected a number of rows (0 to %u) after LIMIT, got %s",
				 ADMIN_LIMIT_MAX, g);
			return false;
		}
		at += 2;
	}
	if (at >= n)
		return true;
	got(w, n, at, g, sizeof(g));
	snprintf(err, errlen, "SHOW QUERY DIGESTS: expected [ORDER BY " ORDER_EXPECTED "] [LIMIT n], got %s", g);
	return false;
}

bool admin_parse(const char *text, size_t len, struct admin_command *cmd, char *err, size_t errlen)
{
	struct word w[WORDS_MAX];
	size_t n;
	char q[64];
	*cmd = (struct admin_command){.order = DIGEST_ORDER_COUNT, .limit = SIZE_MAX};
	switch (split(text, len, w, &n)) {
	case SPLIT_OK:
		break;
	case SPLIT_EXTRA_STATEMENT:
		snprintf(err, errlen, "expected one command per query (nothing after ';')");
		return false;
	case SPLIT_TOO_MANY:
		snprintf(err, errlen, "expected a command of at most %d words (HELP lists them)", WORDS_MAX);
		return false;
	case SPLIT_UNTERMINATED:
		snprintf(err, errlen, "expected a closing quote");
		return false;
	}
	if (n == 0) {
		snprintf(err, errlen, "expected a command (HELP lists them), got an empty query");
		return false;
	}
	if (is(&w[0], "HELP")) {
		/* One word after it is allowed and ignored: the stock client keeps
		 * a bare "help" to itself and sends "help 'WORD'" for "help WORD". */
		cmd->verb = ADMIN_HELP;
		return no_more(w, n, 2, "HELP [topic]", err, errlen);
	}
	if (is(&w[0], "RELOAD")) {
		cmd->verb = ADMIN_RELOAD;
		return no_more(w, n, 1, "RELOAD", err, errlen);
	}
	if (is(&w[0], "SNAPSHOT")) {
		cmd->verb = ADMIN_SNAPSHOT;
		return no_more(w, n, 1, "SNAPSHOT", err, errlen);
	}
	if (is(&w[0], "VERIFY")) {
		cmd->verb = ADMIN_VERIFY_SNAPSHOT;
		return snapshot_id(w, n, "VERIFY", cmd, err, errlen) && no_more(w, n, 3, "VERIFY SNAPSHOT 'id'", err, errlen);
	}
	if (is(&w[0], "DROP")) {
		cmd->verb = ADMIN_DROP_SNAPSHOT;
		return snapshot_id(w, n, "DROP", cmd, err, errlen) && no_more(w, n, 3, "DROP SNAPSHOT 'id'", err, errlen);
	}
	if (is(&w[0], "RESTORE")) {
		cmd->verb = ADMIN_RESTORE_SNAPSHOT;
		return snapshot_id(w, n, "RESTORE", cmd, err, errlen) && restore_args(w, n, cmd, err, errlen);
	}
	if (is(&w[0], "RESET")) {
		cmd->verb = ADMIN_RESET_DIGESTS;
		return query_digests(w, n, err, errlen) && no_more(w, n, 3, "RESET QUERY DIGESTS", err, errlen);
	}
	if (is(&w[0], "SHOW")) {
		if (n < 2) {
			snprintf(err, errlen, "SHOW: expected " SHOW_EXPECTED " after SHOW, got nothing");
			return false;
		}
		if (is(&w[1], "QUERY")) {
			cmd->verb = ADMIN_SHOW_DIGESTS;
			return query_digests(w, n, err, errlen) && digests_clauses(w, n, cmd, err, errlen);
		}
		for (size_t i = 0; i < sizeof(show_objects) / sizeof(show_objects[0]); i++) {
			if (is(&w[1], show_objects[i].word)) {
				cmd->verb = show_objects[i].verb;
				char command[32];
				snprintf(command, sizeof(command), "SHOW %s", show_objects[i].word);
				return no_more(w, n, 2, command, err, errlen);
			}
		}
		quote(&w[1], q, sizeof(q));
		snprintf(err, errlen, "SHOW: expected " SHOW_EXPECTED " after SHOW, got '%s'", q);
		return false;
	}
	if (is(&w[0], "SELECT")) {
		/* The stock client's first query in interactive mode. */
		if (n >= 2 && is(&w[1], "@@version_comment") &&
		    (n == 2 || (n == 4 && is(&w[2], "LIMIT") && is(&w[3], "1")))) {
			cmd->verb = ADMIN_VERSION_COMMENT;
			return true;
		}
		snprintf(err, errlen, "SELECT: expected SELECT @@version_comment [LIMIT 1], the only SELECT the admin "
				      "port answers (HELP lists the commands)");
		return false;
	}
	quote(&w[0], q, sizeof(q));
	snprintf(err, errlen,
		 "unknown command '%s': expected HELP, SHOW " SHOW_EXPECTED
		 ", RESET QUERY DIGESTS, SNAPSHOT, VERIFY SNAPSHOT, DROP SNAPSHOT, RESTORE SNAPSHOT or RELOAD",
		 q);
	return false;
}

static const struct {
	const char *command, *description;
} help[] = {
	{"HELP", "this list"},
	{"SHOW STATUS", "uptime, sessions, queries, bytes, upstream state, TLS modes, journal counters (name, value)"},
	{"SHOW SESSIONS", "one row per live client session: id, worker, user, database, state, transaction, client"},
	{"SHOW SERVERS", "each upstream server: state, consecutive failures, backoff, last error"},
	{"SHOW JOURNAL", "the journal: segments, sequences, in-doubt and flagged counts (name, value)"},
	{"SHOW SNAPSHOTS", "snapshots taken and in progress"},
	{"SHOW CONFIG", "every configuration key with its running value (passwords as '(set)')"},
	{"SHOW THROTTLE", "each throttle class (heavy, bulk) and each cluster in it: limit, holding, waiting, admitted, "
			  "waited, timed out, longest and mean wait"},
	{"SHOW QUERY DIGESTS", "per-statement-digest statistics, largest first: [ORDER BY " ORDER_EXPECTED
			       "] (default count) [LIMIT n]; count, errors by code, mean/p95/max ms, rows, lock waits"},
	{"RESET QUERY DIGESTS", "forget every digest's statistics"},
	{"SNAPSHOT", "a consistent snapshot into [snapshot] dir, cut with the journal: id, sequence, time, tables, "
		     "rows, bytes, seconds, longest commit hold"},
	{"VERIFY SNAPSHOT 'id'", "re-read a snapshot: its manifest, every data file's rows and checksum"},
	{"DROP SNAPSHOT 'id'", "delete a snapshot's directory"},
	{"RESTORE SNAPSHOT 'id' [UNTIL 'time' | UNTIL SEQUENCE n] [INTO DATABASE 'name']",
	 "load a one-database snapshot and roll it forward with the journal (to its end, a UTC time or a sequence): "
	 "under another name, or in place with client commands held meanwhile (the old tables kept aside); one "
	 "line per step, divergence and transaction in doubt"},
	{"RELOAD", "reload the configuration file, as SIGHUP does; ERR says why when it is refused"},
};

bool admin_help_at(size_t i, const char **command, const char **description)
{
	if (i >= sizeof(help) / sizeof(help[0]))
		return false;
	*command = help[i].command;
	*description = help[i].description;
	return true;
}
