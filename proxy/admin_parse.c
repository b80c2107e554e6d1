/*
 * admin_parse.c - see admin_parse.h. A command is a few words: the text is
 * cut into words (runs of anything but whitespace and ';'), trailing ';'
 * dropped, and the words matched against the grammar one by one, so each
 * error can say which word was wrong and what would have been right.
 */
#include "admin_parse.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define WORDS_MAX 6

struct word {
	const char *p;
	size_t len;
};

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

/* Split into words; false when a ';' is followed by more text (one command
 * per query) or there are more than WORDS_MAX words. */
static bool split(const char *t, size_t len, struct word *w, size_t *n, bool *extra_statement)
{
	size_t i = 0;
	*n = 0;
	*extra_statement = false;
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
		if (semicolon) {
			*extra_statement = true;
			return false;
		}
		size_t start = i;
		while (i < len && !is_space(t[i]) && t[i] != ';')
			i++;
		if (*n == WORDS_MAX)
			return false;
		w[(*n)++] = (struct word){t + start, i - start};
	}
	return true;
}

static bool is(const struct word *w, const char *kw) { return w->len == strlen(kw) && strncasecmp(w->p, kw, w->len) == 0; }

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
};
#define SHOW_EXPECTED "STATUS, SESSIONS, SERVERS, JOURNAL, SNAPSHOTS or CONFIG"

static bool no_more(const struct word *w, size_t n, size_t from, const char *command, char *err, size_t errlen)
{
	if (n <= from)
		return true;
	char q[64];
	quote(&w[from], q, sizeof(q));
	snprintf(err, errlen, "%s takes nothing after it, got '%s'", command, q);
	return false;
}

bool admin_parse(const char *text, size_t len, enum admin_verb *verb, char *err, size_t errlen)
{
	struct word w[WORDS_MAX];
	size_t n;
	bool extra;
	char q[64];
	if (!split(text, len, w, &n, &extra)) {
		snprintf(err, errlen, extra ? "expected one command per query (nothing after ';')"
					    : "expected a command of at most %d words (HELP lists them)",
			 WORDS_MAX);
		return false;
	}
	if (n == 0) {
		snprintf(err, errlen, "expected a command (HELP lists them), got an empty query");
		return false;
	}
	if (is(&w[0], "HELP")) {
		/* One word after it is allowed and ignored: the stock client keeps
		 * a bare "help" to itself and sends "help 'WORD'" for "help WORD". */
		*verb = ADMIN_HELP;
		return no_more(w, n, 2, "HELP [topic]", err, errlen);
	}
	if (is(&w[0], "RELOAD")) {
		*verb = ADMIN_RELOAD;
		return no_more(w, n, 1, "RELOAD", err, errlen);
	}
	if (is(&w[0], "SNAPSHOT")) {
		*verb = ADMIN_SNAPSHOT;
		return no_more(w, n, 1, "SNAPSHOT", err, errlen);
	}
	if (is(&w[0], "SHOW")) {
		if (n < 2) {
			snprintf(err, errlen, "SHOW: expected " SHOW_EXPECTED " after SHOW, got nothing");
			return false;
		}
		for (size_t i = 0; i < sizeof(show_objects) / sizeof(show_objects[0]); i++) {
			if (is(&w[1], show_objects[i].word)) {
				*verb = show_objects[i].verb;
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
			*verb = ADMIN_VERSION_COMMENT;
			return true;
		}
		snprintf(err, errlen, "SELECT: expected SELECT @@version_comment [LIMIT 1], the only SELECT the admin "
				      "port answers (HELP lists the commands)");
		return false;
	}
	quote(&w[0], q, sizeof(q));
	snprintf(err, errlen, "unknown command '%s': expected HELP, SHOW " SHOW_EXPECTED ", SNAPSHOT or RELOAD", q);
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
	{"SNAPSHOT", "a consistent snapshot into [snapshot] dir, cut with the journal: id, sequence, time, tables, "
		     "rows, bytes, seconds, longest commit hold"},
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
