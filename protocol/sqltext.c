/*
 * sqltext.c - the SQL lexer behind statement splitting, statement facts and
 * digests (the contracts are in sqltext.h).
 *
 * Everything reads the text through one token reader, lex_next(), which
 * looks at no byte outside [0, len) and always moves forward, so every loop
 * over tokens ends. What it knows of MariaDB's lexer (sql_lex.cc):
 *
 *   blanks     ' ', \t \n \v \f \r
 *   comments   "#" to the end of the line; "--" followed by a blank, a
 *              control byte or the end of the text, to the end of the line;
 *              slash-star to star-slash (unterminated: to the end)
 *   executable slash-star-bang [5 or 6 version digits] and
 *              slash-star-M-bang [digits]: the opener and the matching
 *              star-slash are blanks, what lies between is code (whatever
 *              the version, as this server is assumed new enough)
 *   quotes     '...' and "..." with backslash escapes and doubled quotes;
 *              `...` with doubled backticks only; unterminated: to the end
 *   literals   12  1.5  .5  1e-3  0x1F  0b01  X'1F'  B'01'  N'text'
 *              (a digit run that goes on into letters, 123abc, is a name)
 *   variables  @name @`name` @'name' @"name", and @@[scope.]name
 *   operators  := <=> <= >= <> != << >> && || -> ->>, any other byte alone
 *
 * "..." is a string in the default sql_mode and an identifier under
 * ANSI_QUOTES; only the digest has to tell them apart (see ansi_quotes()).
 */
#include <string.h>

#include "sqltext.h"

/* ---- lexer --------------------------------------------------------------- */

enum tok_kind {
	TOK_END,    /* no token left */
	TOK_WORD,   /* unquoted name or keyword */
	TOK_IDENT,  /* `quoted name` */
	TOK_DQUOTE, /* "...": a string, or a name under ANSI_QUOTES */
	TOK_STRING, /* '...', N'...' */
	TOK_NUMBER, /* 12, 1.5, .5e-3 */
	TOK_HEXBIT, /* 0x1F, X'1F', 0b01, B'01' */
	TOK_PARAM,  /* ? of a prepared statement */
	TOK_VAR,    /* @name, @`name`, @'name', @"name" */
	TOK_SYSVAR, /* @@name, @@session.name */
	TOK_SEMI,   /* ; */
	TOK_PUNCT,  /* an operator, or any other single byte */
};

struct lexer {
	const unsigned char *s;
	size_t len;
	size_t pos;
	bool in_exec; /* inside an executable comment: its star-slash is a blank */
};

struct token {
	enum tok_kind kind;
	size_t start;
	size_t len;
	bool space_before; /* blanks or a comment lie between it and the token before */
};

static struct lexer lexer_at(const char *text, size_t len, size_t pos)
{
	return (struct lexer){.s = (const unsigned char *)text, .len = len, .pos = pos};
}

/* The byte at i, or -1 past the end: every look-ahead goes through here. */
static int at(const struct lexer *lx, size_t i)
{
	return i < lx->len ? lx->s[i] : -1;
}

static bool is_blank(int c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

static bool is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static bool is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Bytes of an unquoted name; every byte from 0x80 up, as multi-byte
 * characters are letters to the server. */
static bool is_name(int c)
{
	return is_alpha(c) || is_digit(c) || c == '_' || c == '$' || c >= 0x80;
}

static bool is_hex(int c)
{
	return is_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

/* After "--": the server wants a blank or a control byte (its end-of-text
 * NUL included), so "a--1" stays a subtraction. */
static bool dash_comment_follows(const struct lexer *lx, size_t i)
{
	int c = at(lx, i);
	return c < 0 || c <= ' ' || c == 0x7f;
}

/* Just past the '\n' that ends the line holding i, or the end. */
static size_t line_end(const struct lexer *lx, size_t i)
{
	const unsigned char *nl = memchr(lx->s + i, '\n', lx->len - i);
	return nl ? (size_t)(nl - lx->s) + 1 : lx->len;
}

/* Just past the star-slash from i on, or the end. */
static size_t comment_end(const struct lexer *lx, size_t i)
{
	for (; i + 1 < lx->len; i++)
		if (lx->s[i] == '*' && lx->s[i + 1] == '/')
			return i + 2;
	return lx->len;
}

/* An executable comment's version: five digits, or six when a sixth
 * follows (MariaDB's 10xxyy form). Fewer are code, not a version. */
static size_t version_len(const struct lexer *lx, size_t i)
{
	size_t n = 0;
	while (n < 6 && is_digit(at(lx, i + n)))
		n++;
	return n >= 5 ? n : 0;
}

/* Skips blanks and comments; true when it skipped anything. */
static bool skip_blanks(struct lexer *lx)
{
	size_t from = lx->pos;
	while (lx->pos < lx->len) {
		size_t p = lx->pos;
		int c = lx->s[p], c1 = at(lx, p + 1);
		if (is_blank(c)) {
			lx->pos++;
		} else if (c == '#' || (c == '-' && c1 == '-' && dash_comment_follows(lx, p + 2))) {
			lx->pos = line_end(lx, p);
		} else if (c == '/' && c1 == '*' && at(lx, p + 2) == '!') {
			lx->pos = p + 3 + version_len(lx, p + 3);
			lx->in_exec = true;
		} else if (c == '/' && c1 == '*' && at(lx, p + 2) == 'M' && at(lx, p + 3) == '!') {
			lx->pos = p + 4 + version_len(lx, p + 4);
			lx->in_exec = true;
		} else if (c == '/' && c1 == '*') {
			lx->pos = comment_end(lx, p + 2);
		} else if (c == '*' && c1 == '/' && lx->in_exec) {
			lx->pos = p + 2;
			lx->in_exec = false;
		} else {
			break;
		}
	}
	return lx->pos != from;
}

/* Just past the quote that closes the one at `open`, or the end.
 * A doubled quote stands for itself; so does a backslash pair when
 * `escapes` (never inside backticks). */
static size_t quote_end(const struct lexer *lx, size_t open, bool escapes)
{
	unsigned char q = lx->s[open];
	size_t i = open + 1;
	while (i < lx->len) {
		unsigned char c = lx->s[i];
		if (escapes && c == '\\') {
			i += 2;
		} else if (c == q && at(lx, i + 1) == q) {
			i += 2;
		} else if (c == q) {
			return i + 1;
		} else {
			i++;
		}
	}
	return lx->len;
}

static size_t name_end(const struct lexer *lx, size_t i)
{
	while (is_name(at(lx, i)))
		i++;
	return i;
}

/* A token that starts with a digit, or with '.' and a digit. */
static enum tok_kind lex_number(const struct lexer *lx, size_t p, size_t *end)
{
	int c1 = at(lx, p + 1);
	if (lx->s[p] == '0' && (c1 == 'x' || c1 == 'X' || c1 == 'b' || c1 == 'B')) {
		bool hex = c1 == 'x' || c1 == 'X';
		size_t i = p + 2;
		while (hex ? is_hex(at(lx, i)) : (at(lx, i) == '0' || at(lx, i) == '1'))
			i++;
		if (i > p + 2 && !is_name(at(lx, i))) {
			*end = i;
			return TOK_HEXBIT;
		}
	}
	size_t i = p;
	bool decimal = false;
	while (is_digit(at(lx, i)))
		i++;
	if (at(lx, i) == '.') {
		decimal = true;
		i++;
		while (is_digit(at(lx, i)))
			i++;
	}
	int e = at(lx, i), sign = at(lx, i + 1);
	if ((e == 'e' || e == 'E') &&
	    (is_digit(sign) || ((sign == '+' || sign == '-') && is_digit(at(lx, i + 2))))) {
		decimal = true;
		i += is_digit(sign) ? 1 : 2;
		while (is_digit(at(lx, i)))
			i++;
	}
	if (!decimal && is_name(at(lx, i))) {
		*end = name_end(lx, i);
		return TOK_WORD;
	}
	*end = i;
	return TOK_NUMBER;
}

/* Multi-byte operators, longest first. */
static const char *const operators[] = {"<=>", "->>", ":=", "<=", ">=", "<>", "!=", "<<", ">>", "&&", "||", "->"};

static size_t operator_len(const struct lexer *lx, size_t p)
{
	for (size_t k = 0; k < sizeof(operators) / sizeof(operators[0]); k++) {
		size_t n = strlen(operators[k]);
		if (lx->len - p >= n && memcmp(lx->s + p, operators[k], n) == 0)
			return n;
	}
	return 1;
}

static struct token lex_next(struct lexer *lx)
{
	bool space = skip_blanks(lx); /* before reading pos: initialisers are unordered */
	struct token t = {.space_before = space, .start = lx->pos};
	if (lx->pos >= lx->len) {
		t.kind = TOK_END;
		return t;
	}
	size_t p = lx->pos, end = p + 1;
	int c = lx->s[p], c1 = at(lx, p + 1);
	if (c == ';') {
		t.kind = TOK_SEMI;
	} else if (c == '\'' || c == '"' || c == '`') {
		t.kind = c == '\'' ? TOK_STRING : c == '"' ? TOK_DQUOTE : TOK_IDENT;
		end = quote_end(lx, p, c != '`');
	} else if (c == '?') {
		t.kind = TOK_PARAM;
	} else if (c == '@' && c1 == '@') {
		t.kind = TOK_SYSVAR;
		for (end = p + 2; is_name(at(lx, end)) || at(lx, end) == '.'; end++)
			;
	} else if (c == '@' && (c1 == '\'' || c1 == '"' || c1 == '`')) {
		t.kind = TOK_VAR;
		end = quote_end(lx, p + 1, c1 != '`');
	} else if (c == '@' && is_name(c1)) {
		t.kind = TOK_VAR;
		for (end = p + 1; is_name(at(lx, end)) || at(lx, end) == '.'; end++)
			;
	} else if (is_digit(c) || (c == '.' && is_digit(c1) && !(p > 0 && (is_name(lx->s[p - 1]) ||
									    lx->s[p - 1] == '`' ||
									    lx->s[p - 1] == '"')))) {
		t.kind = lex_number(lx, p, &end);
	} else if ((c == 'x' || c == 'X' || c == 'b' || c == 'B') && c1 == '\'') {
		t.kind = TOK_HEXBIT;
		end = quote_end(lx, p + 1, false);
	} else if ((c == 'n' || c == 'N') && c1 == '\'') {
		t.kind = TOK_STRING;
		end = quote_end(lx, p + 1, true);
	} else if (is_name(c)) {
		t.kind = TOK_WORD;
		end = name_end(lx, p);
	} else {
		t.kind = TOK_PUNCT;
		end = p + operator_len(lx, p);
	}
	t.len = end - p;
	lx->pos = end;
	return t;
}

/* The token after the lexer's position, without moving it. */
static struct token peek(const struct lexer *lx)
{
	struct lexer copy = *lx;
	return lex_next(&copy);
}

static int upper(int c)
{
	return c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c;
}

/* A word's bytes, ASCII case folded, against an upper-case name, in
 * strcmp() order (the tables below are sorted that way). */
static int word_cmp(const unsigned char *w, size_t n, const char *name)
{
	size_t i = 0;
	for (; i < n && name[i]; i++) {
		int a = upper(w[i]), b = (unsigned char)name[i];
		if (a != b)
			return a - b;
	}
	if (i < n)
		return 1;
	return name[i] ? -1 : 0;
}

static bool is_word(const struct lexer *lx, const struct token *t, const char *name)
{
	return t->kind == TOK_WORD && word_cmp(lx->s + t->start, t->len, name) == 0;
}

static bool is_punct(const struct lexer *lx, const struct token *t, const char *op)
{
	size_t n = strlen(op);
	return t->kind == TOK_PUNCT && t->len == n && memcmp(lx->s + t->start, op, n) == 0;
}

/* Index of the word in a sorted table of upper-case names, or -1. The name
 * is the first member of each entry, `stride` bytes apart, so one search
 * serves the kinds, the functions and the keywords. */
static long table_find(const struct lexer *lx, const struct token *t, const char *const *names, size_t stride,
		       size_t count)
{
	if (t->kind != TOK_WORD)
		return -1;
	size_t lo = 0, hi = count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *name = *(const char *const *)((const char *)names + mid * stride);
		int cmp = word_cmp(lx->s + t->start, t->len, name);
		if (cmp == 0)
			return (long)mid;
		if (cmp < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}

/* Whether the word is one of a sorted list of upper-case names. */
static bool in_sorted(const struct lexer *lx, const struct token *t, const char *const *names, size_t count)
{
	return table_find(lx, t, names, sizeof(names[0]), count) >= 0;
}
#define IN_LIST(lx, t, list) in_sorted((lx), (t), (list), sizeof(list) / sizeof((list)[0]))

/*
 * The bytes of a quoted token (`name`, "name", 'text') without its quotes,
 * one per call: *i starts at 0; -1 at the end. A doubled quote stands for
 * one; an unterminated quote runs to the end of the token.
 */
static int unquoted_byte(const struct lexer *lx, const struct token *t, size_t *i)
{
	const unsigned char *s = lx->s + t->start;
	unsigned char q = s[0];
	if (*i == 0)
		*i = 1;
	if (*i >= t->len || (s[*i] == q && !(*i + 1 < t->len && s[*i + 1] == q)))
		return -1;
	if (s[*i] == q)
		(*i)++;
	return s[(*i)++];
}

/* Keywords (sorted): MariaDB's reserved words, the keywords and functions
 * Slurm's statements use, and the functions the facts look for. The digest
 * writes them in upper case; before an @ they are not an account name. */
static const char *const keywords[] = {
	"ACCESSIBLE", "ADD", "AGGREGATE", "ALL", "ALTER", "ANALYZE", "AND", "AS", "ASC", "ATOMIC",
	"AUTO_INCREMENT", "AVG", "BEFORE", "BEGIN", "BENCHMARK", "BETWEEN", "BIGINT", "BINARY", "BLOB",
	"BOTH", "BY", "CALL", "CASCADE", "CASE", "CHANGE", "CHAR", "CHARACTER", "CHARSET", "CHECK",
	"COALESCE", "COLLATE", "COLUMN", "COMMIT", "CONCAT", "CONNECTION_ID", "CONSTRAINT", "CONTINUE",
	"CONVERT", "COUNT", "CREATE", "CROSS", "CURDATE", "CURRENT_DATE", "CURRENT_ROLE", "CURRENT_TIME",
	"CURRENT_TIMESTAMP", "CURRENT_USER", "CURSOR", "CURTIME", "DATA", "DATABASE", "DATABASES", "DATE",
	"DATETIME", "DAY", "DEALLOCATE", "DECIMAL", "DECLARE", "DEFAULT", "DEFINER", "DELAYED", "DELETE",
	"DESC", "DESCRIBE", "DETERMINISTIC", "DISTINCT", "DIV", "DO", "DOUBLE", "DROP", "DUAL",
	"DUPLICATE", "EACH", "ELSE", "ELSEIF", "ENCLOSED", "END", "ENGINE", "ESCAPED", "EVENT", "EXECUTE",
	"EXISTS", "EXIT", "EXPLAIN", "FALSE", "FETCH", "FIELDS", "FLOAT", "FLUSH", "FOR", "FORCE",
	"FOREIGN", "FOUND_ROWS", "FROM", "FULLTEXT", "FUNCTION", "GET_LOCK", "GLOBAL", "GRANT",
	"GREATEST", "GROUP", "GROUP_CONCAT", "HANDLER", "HAVING", "HIGH_PRIORITY", "HOUR", "IF", "IFNULL",
	"IGNORE", "IN", "INDEX", "INFILE", "INNER", "INOUT", "INSERT", "INT", "INTEGER", "INTERVAL",
	"INTO", "IS", "ISOLATION", "ITERATE", "JOIN", "KEY", "KEYS", "KILL", "LAST_INSERT_ID", "LEADING",
	"LEAST", "LEAVE", "LEFT", "LEVEL", "LIKE", "LIMIT", "LINES", "LOAD", "LOAD_FILE", "LOCAL",
	"LOCALTIME", "LOCALTIMESTAMP", "LOCK", "LONGBLOB", "LONGTEXT", "LOOP", "LOW_PRIORITY", "MATCH",
	"MAX", "MEDIUMBLOB", "MEDIUMINT", "MEDIUMTEXT", "MIN", "MINUTE", "MOD", "MODE", "MODIFIES",
	"MONTH", "NAMES", "NATURAL", "NOT", "NOW", "NO_WRITE_TO_BINLOG", "NULL", "NUMERIC", "OFFSET",
	"ON", "OPTIMIZE", "OPTION", "OPTIONALLY", "OR", "ORDER", "OUT", "OUTER", "OUTFILE", "OVER",
	"PARTITION", "PREPARE", "PRIMARY", "PROCEDURE", "PURGE", "RAND", "RANGE", "READ", "READS",
	"REAL", "RECURSIVE", "REFERENCES", "REGEXP", "RELEASE", "RELEASE_LOCK", "RENAME", "REPEAT",
	"REPLACE", "REQUIRE", "RESIGNAL", "RESTRICT", "RETURN", "RETURNS", "REVOKE", "RIGHT", "RLIKE",
	"ROLLBACK", "ROW", "ROWS", "ROW_COUNT", "SAVEPOINT", "SCHEMA", "SCHEMAS", "SECOND", "SELECT",
	"SEPARATOR", "SESSION", "SET", "SHARE", "SHOW", "SIGNAL", "SLEEP", "SMALLINT", "SOME", "SONAME",
	"SPATIAL", "SQL", "SQLEXCEPTION", "SQLSTATE", "SQLWARNING", "SQL_BIG_RESULT",
	"SQL_CALC_FOUND_ROWS", "SQL_NO_CACHE", "SQL_SMALL_RESULT", "START", "STARTING", "STATEMENT",
	"STRAIGHT_JOIN", "SUM", "SYSDATE", "TABLE", "TABLES", "TEMPORARY", "TERMINATED", "TEXT", "THEN",
	"TIME", "TIMESTAMP", "TINYINT", "TINYTEXT", "TO", "TRAILING", "TRANSACTION", "TRIGGER", "TRUE",
	"TRUNCATE", "UNION", "UNIQUE", "UNIX_TIMESTAMP", "UNLOCK", "UNSIGNED", "UNTIL", "UPDATE", "USAGE",
	"USE", "USING", "UTC_DATE", "UTC_TIME", "UTC_TIMESTAMP", "UUID", "UUID_SHORT", "VALUE", "VALUES",
	"VARBINARY", "VARCHAR", "VARYING", "VIEW", "WHEN", "WHERE", "WHILE", "WINDOW", "WITH", "WORK",
	"WRITE", "XA", "XOR", "YEAR", "ZEROFILL",
};

static bool is_keyword(const struct lexer *lx, const struct token *t)
{
	return table_find(lx, t, keywords, sizeof(keywords[0]), sizeof(keywords) / sizeof(keywords[0])) >= 0;
}

/* ---- splitting ----------------------------------------------------------- */

/*
 * Whether the statement that opens with `first` is a compound statement,
 * whose body holds ';': CREATE [OR REPLACE] [DEFINER = user] [AGGREGATE]
 * PROCEDURE | FUNCTION | TRIGGER | EVENT, BEGIN NOT ATOMIC, or a labelled
 * BEGIN block. The user of DEFINER is CURRENT_USER[()] or name[@host],
 * where the lexer reads @host as a variable.
 */
static bool starts_compound(struct lexer lx, struct token first)
{
	if (is_word(&lx, &first, "BEGIN")) {
		struct token t = lex_next(&lx);
		return is_word(&lx, &t, "NOT");
	}
	if (!is_word(&lx, &first, "CREATE")) {
		if (first.kind != TOK_WORD && first.kind != TOK_IDENT)
			return false;
		struct token colon = lex_next(&lx), t = lex_next(&lx);
		return is_punct(&lx, &colon, ":") && is_word(&lx, &t, "BEGIN");
	}
	struct token t = lex_next(&lx);
	if (is_word(&lx, &t, "OR")) {
		lex_next(&lx); /* REPLACE */
		t = lex_next(&lx);
	}
	if (is_word(&lx, &t, "DEFINER")) {
		t = lex_next(&lx);
		if (is_punct(&lx, &t, "="))
			t = lex_next(&lx);
		if (is_word(&lx, &t, "CURRENT_USER") || is_word(&lx, &t, "CURRENT_ROLE")) {
			t = lex_next(&lx);
			if (is_punct(&lx, &t, "(")) {
				t = lex_next(&lx);
				if (is_punct(&lx, &t, ")"))
					t = lex_next(&lx);
			}
		} else {
			t = lex_next(&lx);
			if (t.kind == TOK_VAR)
				t = lex_next(&lx);
		}
	}
	if (is_word(&lx, &t, "AGGREGATE"))
		t = lex_next(&lx);
	return is_word(&lx, &t, "PROCEDURE") || is_word(&lx, &t, "FUNCTION") || is_word(&lx, &t, "TRIGGER") ||
	       is_word(&lx, &t, "EVENT");
}

/* END IF, END LOOP ...: these close blocks whose openers are not counted. */
static bool end_closes_nothing(const struct lexer *lx, const struct token *t)
{
	return is_word(lx, t, "IF") || is_word(lx, t, "LOOP") || is_word(lx, t, "WHILE") ||
	       is_word(lx, t, "REPEAT") || is_word(lx, t, "FOR");
}

/*
 * From the statement's first token on, finds the ';' that ends it: the
 * first one, or in a compound statement the first one outside every
 * BEGIN ... END and CASE ... END [CASE]. *end is where the statement stops
 * (the ';' or the end of the text), *next where the next one is looked for.
 */
static void scan_statement(struct lexer *lx, struct token t, size_t *end, size_t *next)
{
	bool compound = starts_compound(*lx, t);
	size_t depth = 0;
	bool after_end = false;
	for (;; t = lex_next(lx)) {
		if (t.kind == TOK_END) {
			*end = *next = lx->len;
			return;
		}
		bool end_case = false;
		if (after_end) {
			after_end = false;
			if (!end_closes_nothing(lx, &t)) {
				if (depth > 0)
					depth--;
				end_case = is_word(lx, &t, "CASE");
			}
		}
		if (t.kind == TOK_SEMI && depth == 0) {
			*end = t.start;
			*next = t.start + 1;
			return;
		}
		if (!compound || end_case)
			continue;
		if (is_word(lx, &t, "BEGIN") || is_word(lx, &t, "CASE"))
			depth++;
		else if (is_word(lx, &t, "END"))
			after_end = true;
	}
}

bool sql_next_statement(const char *text, size_t text_len, size_t *pos, size_t *start, size_t *len)
{
	size_t from = *pos;
	while (from < text_len) {
		struct lexer lx = lexer_at(text, text_len, from);
		struct token first = lex_next(&lx);
		if (first.kind == TOK_END)
			break;
		if (first.kind == TOK_SEMI) {
			from = lx.pos;
			continue;
		}
		size_t end, next;
		scan_statement(&lx, first, &end, &next);
		size_t s = from;
		while (s < end && is_blank(lx.s[s]))
			s++;
		while (end > s && is_blank(lx.s[end - 1]))
			end--;
		*start = s;
		*len = end - s;
		*pos = next;
		return true;
	}
	if (*pos < text_len)
		*pos = text_len;
	return false;
}

/* ---- kinds --------------------------------------------------------------- */

struct kind_entry {
	const char *word;
	enum sql_kind kind;
};

/* First keywords whose kind needs no further look (sorted). The ones that
 * do (ANALYZE, BEGIN, DROP, LOAD, ROLLBACK, SET, START) are in classify(). */
static const struct kind_entry kinds[] = {
	{"ALTER", SQL_DDL},	   {"BACKUP", SQL_ADMIN},	{"BINLOG", SQL_ADMIN},	 {"CACHE", SQL_ADMIN},
	{"CALL", SQL_CALL},	   {"CHANGE", SQL_ADMIN},	{"CHECK", SQL_ADMIN},	 {"CHECKSUM", SQL_ADMIN},
	{"COMMIT", SQL_COMMIT},	   {"CREATE", SQL_DDL},		{"DEALLOCATE", SQL_PREPARE}, {"DELETE", SQL_DELETE},
	{"DESC", SQL_SHOW},	   {"DESCRIBE", SQL_SHOW},	{"DO", SQL_DO},		 {"EXECUTE", SQL_PREPARE},
	{"EXPLAIN", SQL_SHOW},	   {"FLUSH", SQL_ADMIN},	{"GRANT", SQL_ADMIN},	 {"HELP", SQL_SHOW},
	{"INSERT", SQL_INSERT},	   {"INSTALL", SQL_ADMIN},	{"KILL", SQL_ADMIN},	 {"LOCK", SQL_LOCK},
	{"OPTIMIZE", SQL_ADMIN},   {"PREPARE", SQL_PREPARE},	{"PURGE", SQL_ADMIN},	 {"RELEASE", SQL_SAVEPOINT},
	{"RENAME", SQL_DDL},	   {"REPAIR", SQL_ADMIN},	{"REPLACE", SQL_REPLACE}, {"RESET", SQL_ADMIN},
	{"REVOKE", SQL_ADMIN},	   {"SAVEPOINT", SQL_SAVEPOINT}, {"SELECT", SQL_SELECT}, {"SHOW", SQL_SHOW},
	{"SHUTDOWN", SQL_ADMIN},   {"STOP", SQL_ADMIN},		{"TABLE", SQL_SELECT},	 {"TRUNCATE", SQL_DDL},
	{"UNINSTALL", SQL_ADMIN},  {"UNLOCK", SQL_LOCK},	{"UPDATE", SQL_UPDATE},	 {"USE", SQL_USE},
	{"VALUES", SQL_SELECT},	   {"WITH", SQL_SELECT},	{"XA", SQL_XA},
};

/*
 * The statement's kind, from its first keyword after any '('. SET
 * STATEMENT ... FOR stmt and ANALYZE stmt (which runs stmt) take the kind
 * of stmt; *set_for is then where that FOR is, so it is not read as FOR
 * UPDATE (SIZE_MAX when there is none).
 */
static enum sql_kind classify(struct lexer lx, size_t *set_for)
{
	*set_for = SIZE_MAX;
	struct token t = lex_next(&lx);
	for (;;) {
		while (is_punct(&lx, &t, "("))
			t = lex_next(&lx);
		long k = table_find(&lx, &t, &kinds[0].word, sizeof(kinds[0]), sizeof(kinds) / sizeof(kinds[0]));
		if (k >= 0)
			return kinds[k].kind;
		struct token n = lex_next(&lx);
		if (is_word(&lx, &t, "BEGIN"))
			return is_word(&lx, &n, "NOT") ? SQL_OTHER : SQL_BEGIN;
		if (is_word(&lx, &t, "START"))
			return is_word(&lx, &n, "TRANSACTION") ? SQL_BEGIN : SQL_ADMIN;
		if (is_word(&lx, &t, "ROLLBACK")) {
			if (is_word(&lx, &n, "WORK"))
				n = lex_next(&lx);
			return is_word(&lx, &n, "TO") ? SQL_SAVEPOINT : SQL_ROLLBACK;
		}
		if (is_word(&lx, &t, "DROP"))
			return is_word(&lx, &n, "PREPARE") ? SQL_PREPARE : SQL_DDL;
		if (is_word(&lx, &t, "LOAD"))
			return is_word(&lx, &n, "DATA") || is_word(&lx, &n, "XML") ? SQL_LOAD : SQL_ADMIN;
		if (is_word(&lx, &t, "ANALYZE")) {
			if (n.kind == TOK_END || is_word(&lx, &n, "TABLE") || is_word(&lx, &n, "TABLES") ||
			    is_word(&lx, &n, "NO_WRITE_TO_BINLOG") || is_word(&lx, &n, "LOCAL") ||
			    is_word(&lx, &n, "PERSISTENT"))
				return SQL_ADMIN;
			if (is_word(&lx, &n, "FORMAT")) {
				lex_next(&lx); /* = */
				lex_next(&lx); /* JSON */
				n = lex_next(&lx);
			}
			t = n;
			continue;
		}
		if (!is_word(&lx, &t, "SET"))
			return SQL_OTHER;
		if (is_word(&lx, &n, "STATEMENT")) {
			size_t depth = 0;
			for (t = lex_next(&lx); t.kind != TOK_END && t.kind != TOK_SEMI; t = lex_next(&lx)) {
				if (is_punct(&lx, &t, "("))
					depth++;
				else if (is_punct(&lx, &t, ")") && depth > 0)
					depth--;
				else if (depth == 0 && is_word(&lx, &t, "FOR"))
					break;
			}
			if (t.kind == TOK_END || t.kind == TOK_SEMI)
				return SQL_SET;
			*set_for = t.start;
			t = lex_next(&lx);
			continue;
		}
		if (is_word(&lx, &n, "GLOBAL") || is_word(&lx, &n, "SESSION") || is_word(&lx, &n, "LOCAL"))
			n = lex_next(&lx);
		return is_word(&lx, &n, "TRANSACTION") ? SQL_SET_TRANSACTION : SQL_SET;
	}
}

const char *sql_kind_name(enum sql_kind k)
{
	static const char *const names[] = {
		[SQL_OTHER] = "OTHER",	       [SQL_SELECT] = "SELECT",
		[SQL_SHOW] = "SHOW",	       [SQL_SET] = "SET",
		[SQL_SET_TRANSACTION] = "SET TRANSACTION", [SQL_USE] = "USE",
		[SQL_BEGIN] = "BEGIN",	       [SQL_COMMIT] = "COMMIT",
		[SQL_ROLLBACK] = "ROLLBACK",   [SQL_SAVEPOINT] = "SAVEPOINT",
		[SQL_INSERT] = "INSERT",       [SQL_REPLACE] = "REPLACE",
		[SQL_UPDATE] = "UPDATE",       [SQL_DELETE] = "DELETE",
		[SQL_CALL] = "CALL",	       [SQL_DDL] = "DDL",
		[SQL_LOAD] = "LOAD",	       [SQL_LOCK] = "LOCK",
		[SQL_DO] = "DO",	       [SQL_PREPARE] = "PREPARE",
		[SQL_ADMIN] = "ADMIN",	       [SQL_XA] = "XA",
	};
	if ((unsigned)k < sizeof(names) / sizeof(names[0]) && names[k])
		return names[k];
	return "UNKNOWN";
}

const char *sql_unsafe_reason(uint32_t bit)
{
	switch (bit) {
	case SQL_UNSAFE_UUID:
		return "UUID() or UUID_SHORT()";
	case SQL_UNSAFE_RAND:
		return "RAND() without a seed";
	case SQL_UNSAFE_SYSDATE:
		return "SYSDATE() ignores the session timestamp";
	case SQL_UNSAFE_SESSION_FN:
		return "a function of the session (USER(), CONNECTION_ID(), FOUND_ROWS(), ...)";
	case SQL_UNSAFE_LOCK_FN:
		return "a lock or timing function (GET_LOCK(), SLEEP(), ...)";
	case SQL_UNSAFE_LIMIT:
		return "LIMIT without ORDER BY picks unpredictable rows";
	case SQL_UNSAFE_INSERT_SELECT_ODKU:
		return "INSERT ... SELECT ... ON DUPLICATE KEY UPDATE depends on row order";
	case SQL_UNSAFE_LOAD_FILE:
		return "a file the journal does not hold (LOAD_FILE(), LOAD DATA)";
	default:
		return "unknown";
	}
}

/* ---- facts --------------------------------------------------------------- */

enum fn_effect {
	FN_TIME,
	FN_SYSDATE,
	FN_RAND,
	FN_UUID,
	FN_SESSION,
	FN_LOCK,
	FN_LOAD_FILE,
	FN_LAST_INSERT_ID,
};

/* How a name must be written to be the built-in function. */
enum fn_form {
	FN_CALL,    /* name(...) */
	FN_NO_ARGS, /* name(): it takes none, so "user(42)" is something else (an
	               index prefix in "KEY (user(42))") */
	FN_KEYWORD, /* name or name(...): a keyword that calls it bare */
};

struct fn_entry {
	const char *name;
	enum fn_effect effect;
	enum fn_form form;
};

/* Functions whose value a replay cannot take for granted (sorted). */
static const struct fn_entry functions[] = {
	{"BENCHMARK", FN_LOCK, FN_CALL},
	{"CONNECTION_ID", FN_SESSION, FN_NO_ARGS},
	{"CURDATE", FN_TIME, FN_NO_ARGS},
	{"CURRENT_DATE", FN_TIME, FN_KEYWORD},
	{"CURRENT_ROLE", FN_SESSION, FN_KEYWORD},
	{"CURRENT_TIME", FN_TIME, FN_KEYWORD},
	{"CURRENT_TIMESTAMP", FN_TIME, FN_KEYWORD},
	{"CURRENT_USER", FN_SESSION, FN_KEYWORD},
	{"CURTIME", FN_TIME, FN_CALL},
	{"DATABASE", FN_SESSION, FN_NO_ARGS},
	{"FOUND_ROWS", FN_SESSION, FN_NO_ARGS},
	{"GET_LOCK", FN_LOCK, FN_CALL},
	{"IS_FREE_LOCK", FN_LOCK, FN_CALL},
	{"IS_USED_LOCK", FN_LOCK, FN_CALL},
	{"LAST_INSERT_ID", FN_LAST_INSERT_ID, FN_CALL},
	{"LOAD_FILE", FN_LOAD_FILE, FN_CALL},
	{"LOCALTIME", FN_TIME, FN_KEYWORD},
	{"LOCALTIMESTAMP", FN_TIME, FN_KEYWORD},
	{"NOW", FN_TIME, FN_CALL},
	{"RAND", FN_RAND, FN_CALL},
	{"RELEASE_ALL_LOCKS", FN_LOCK, FN_NO_ARGS},
	{"RELEASE_LOCK", FN_LOCK, FN_CALL},
	{"ROW_COUNT", FN_SESSION, FN_NO_ARGS},
	{"SCHEMA", FN_SESSION, FN_NO_ARGS},
	{"SESSION_USER", FN_SESSION, FN_NO_ARGS},
	{"SLEEP", FN_LOCK, FN_CALL},
	{"SYSDATE", FN_SYSDATE, FN_CALL},
	{"SYSTEM_USER", FN_SESSION, FN_NO_ARGS},
	{"SYS_GUID", FN_UUID, FN_NO_ARGS},
	{"UNIX_TIMESTAMP", FN_TIME, FN_CALL},
	{"USER", FN_SESSION, FN_NO_ARGS},
	{"UTC_DATE", FN_TIME, FN_KEYWORD},
	{"UTC_TIME", FN_TIME, FN_KEYWORD},
	{"UTC_TIMESTAMP", FN_TIME, FN_KEYWORD},
	{"UUID", FN_UUID, FN_NO_ARGS},
	{"UUID_SHORT", FN_UUID, FN_NO_ARGS},
	{"VERSION", FN_SESSION, FN_NO_ARGS},
};

/* Words after which a name is a table or routine being named, not called:
 * "INSERT INTO uuid (a) ..." or "CREATE TABLE sleep (...)". */
static bool names_object(const struct lexer *lx, const struct token *prev)
{
	static const char *const words[] = {"CALL",    "EXISTS",    "FROM",  "FUNCTION", "INSERT",
					    "INTO",    "JOIN",	    "PROCEDURE", "REPLACE", "TABLE", "UPDATE"};
	return IN_LIST(lx, prev, words);
}

/* Each @name of one statement, for sql_not_rerunnable's ledger. */
#define VARS_PER_STATEMENT 8
struct var_scan {
	size_t n;
	bool unfollowed; /* a name not ASCII or too long, or more than VARS_PER_STATEMENT */
	struct var_use {
		char name[SQL_VAR_NAME_MAX]; /* case folded: @A and @a are one variable */
		unsigned assigns;
		unsigned reads;	     /* outside the ON DUPLICATE KEY UPDATE clause */
		bool assign_first;   /* its one assignment runs before any read of the same row */
	} v[VARS_PER_STATEMENT];
};

/* What sql_analyse() carries from token to token. */
struct analysis {
	struct sql_facts *out;
	size_t set_for;	      /* where SET STATEMENT's FOR is, or SIZE_MAX */
	size_t depth;	      /* parentheses open */
	bool select_seen;     /* a SELECT came before */
	bool insert_rows;     /* INSERT's VALUES or SET came before any SELECT */
	bool insert_select;   /* INSERT/REPLACE ... SELECT */
	size_t select_depth;  /* depth of that SELECT */
	bool limit;	      /* LIMIT at the level that picks the rows */
	bool order;	      /* ORDER BY at that level */
	bool in_set;	      /* after a SET: "@x =" at set_depth after ',' assigns */
	size_t set_depth;
	bool into_list;	      /* after SELECT ... INTO: @x, @y are written */
	bool in_list;	      /* in the select list of the first SELECT (of a SELECT or INSERT ... SELECT) */
	size_t list_depth;    /* depth of that SELECT */
	bool list_cut;	      /* LIMIT or HAVING at that SELECT's level: rows evaluated may be dropped */
	struct var_scan *vars; /* where apply_var notes each @name, or NULL */
};

/* The level whose LIMIT picks the rows a write touches, if any. */
static bool picks_rows_here(const struct analysis *a)
{
	if (a->out->kind == SQL_UPDATE || a->out->kind == SQL_DELETE)
		return a->depth == 0;
	return a->insert_select && a->depth == a->select_depth;
}

static void apply_function(struct analysis *a, const struct lexer *lx, const struct token *t, const struct token *prev)
{
	if (is_punct(lx, prev, "."))
		return;
	long k = table_find(lx, t, &functions[0].name, sizeof(functions[0]), sizeof(functions) / sizeof(functions[0]));
	if (k < 0)
		return;
	const struct fn_entry *fn = &functions[k];
	struct lexer ahead = *lx;
	struct token open = lex_next(&ahead), arg = lex_next(&ahead);
	bool call = is_punct(lx, &open, "(");
	bool no_args = call && is_punct(lx, &arg, ")");
	if (fn->form != FN_KEYWORD && (!call || names_object(lx, prev)))
		return;
	if (fn->form == FN_NO_ARGS && !no_args)
		return;
	struct sql_facts *out = a->out;
	switch (fn->effect) {
	case FN_TIME:
		out->uses_time = true;
		break;
	case FN_SYSDATE:
		out->unsafe |= SQL_UNSAFE_SYSDATE;
		break;
	case FN_RAND:
		if (no_args)
			out->unsafe |= SQL_UNSAFE_RAND;
		break;
	case FN_UUID:
		out->unsafe |= SQL_UNSAFE_UUID;
		break;
	case FN_SESSION:
		out->unsafe |= SQL_UNSAFE_SESSION_FN;
		break;
	case FN_LOCK:
		out->unsafe |= SQL_UNSAFE_LOCK_FN;
		break;
	case FN_LOAD_FILE:
		out->unsafe |= SQL_UNSAFE_LOAD_FILE;
		break;
	case FN_LAST_INSERT_ID:
		if (no_args)
			out->reads_last_insert_id = true;
		else
			out->sets_last_insert_id = true;
		break;
	}
}

/* The words that steer the facts: clauses and row-locking reads. */
static void apply_keyword(struct analysis *a, const struct lexer *lx, const struct token *t)
{
	struct sql_facts *out = a->out;
	bool insert = out->kind == SQL_INSERT || out->kind == SQL_REPLACE;
	struct lexer ahead = *lx;
	struct token n1 = lex_next(&ahead);
	if (is_word(lx, t, "SELECT")) {
		if (!a->select_seen && (out->kind == SQL_SELECT || (insert && !a->insert_rows))) {
			a->in_list = true;
			a->list_depth = a->depth;
		}
		a->select_seen = true;
		if (insert && !a->insert_rows && !a->insert_select && !out->has_on_duplicate_key) {
			a->insert_select = true;
			a->select_depth = a->depth;
		}
	} else if (is_word(lx, t, "FROM") || is_word(lx, t, "INTO") || is_word(lx, t, "HAVING") ||
		   is_word(lx, t, "LIMIT")) {
		if (a->depth == a->list_depth) {
			a->in_list = false;
			a->list_cut |= is_word(lx, t, "HAVING") || is_word(lx, t, "LIMIT");
		}
		if (is_word(lx, t, "INTO") && a->select_seen && out->kind == SQL_SELECT) {
			out->select_into = true;
			a->into_list = true;
		}
		if (is_word(lx, t, "LIMIT") && picks_rows_here(a))
			a->limit = true;
	} else if (is_word(lx, t, "VALUES") || is_word(lx, t, "VALUE") || is_word(lx, t, "SET")) {
		if (insert && a->depth == 0 && !a->insert_select)
			a->insert_rows = true;
		if (is_word(lx, t, "SET")) {
			a->in_set = true;
			a->set_depth = a->depth;
		}
	} else if (is_word(lx, t, "ORDER")) {
		if (is_word(lx, &n1, "BY") && picks_rows_here(a))
			a->order = true;
	} else if (is_word(lx, t, "ON")) {
		struct token n2 = lex_next(&ahead), n3 = lex_next(&ahead);
		if (a->depth == 0 && is_word(lx, &n1, "DUPLICATE") && is_word(lx, &n2, "KEY") &&
		    is_word(lx, &n3, "UPDATE"))
			out->has_on_duplicate_key = true;
	} else if (is_word(lx, t, "FOR")) {
		if (t->start != a->set_for && (is_word(lx, &n1, "UPDATE") || is_word(lx, &n1, "SHARE")))
			out->for_update = true;
	} else if (is_word(lx, t, "LOCK")) {
		struct token n2 = lex_next(&ahead), n3 = lex_next(&ahead);
		if (is_word(lx, &n1, "IN") && is_word(lx, &n2, "SHARE") && is_word(lx, &n3, "MODE"))
			out->for_update = true;
	}
}

/* An @name's name without the '@' and its quotes, ASCII case folded, into
 * out[SQL_VAR_NAME_MAX]; false for one that is not all ASCII (the server
 * folds more than ASCII) or too long. */
static bool var_name(const struct lexer *lx, const struct token *t, char *out)
{
	struct token name = {.kind = TOK_IDENT, .start = t->start + 1, .len = t->len - 1};
	bool quoted = name.len > 0 && (lx->s[name.start] == '`' || lx->s[name.start] == '\'' || lx->s[name.start] == '"');
	size_t o = 0, i = 0;
	for (int c;; o++) {
		if (quoted)
			c = unquoted_byte(lx, &name, &i);
		else
			c = i < name.len ? lx->s[name.start + i++] : -1;
		if (c < 0)
			break;
		if (c >= 0x80 || o + 1 >= SQL_VAR_NAME_MAX)
			return false;
		out[o] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
	}
	out[o] = '\0';
	return o > 0;
}

/* Note one mention of @name for the ledger. An assignment runs
 * before every read of the same row only where nothing decides whether it
 * runs: as a SET target of a SET statement, or as an item of the first
 * SELECT's list (the list is evaluated for each row, and an ON DUPLICATE
 * KEY UPDATE clause after it for the same row); reads in that clause are
 * counted apart. */
static void note_var(struct analysis *a, const struct lexer *lx, const struct token *t, const struct token *prev,
		     bool assigns)
{
	struct var_scan *vs = a->vars;
	char name[SQL_VAR_NAME_MAX];
	if (!var_name(lx, t, name)) {
		vs->unfollowed = true;
		return;
	}
	size_t k = 0;
	while (k < vs->n && strcmp(vs->v[k].name, name) != 0)
		k++;
	if (k == vs->n) {
		if (vs->n == VARS_PER_STATEMENT) {
			vs->unfollowed = true;
			return;
		}
		vs->n++;
		vs->v[k] = (struct var_use){0};
		memcpy(vs->v[k].name, name, sizeof(name));
	}
	struct var_use *u = &vs->v[k];
	if (!assigns) {
		if (!a->out->has_on_duplicate_key)
			u->reads++;
		return;
	}
	bool item = is_word(lx, prev, "SELECT") || is_punct(lx, prev, ",");
	u->assigns++;
	/* An INTO target is neither: INTO ends the list at its own level. */
	u->assign_first = (a->out->kind == SQL_SET && a->depth == 0) || (a->in_list && a->depth == a->list_depth && item);
}

/*
 * An @name is written, not read, when it is assigned with :=, when it is a
 * SET target ("SET @a = 1, @b = 2"), or an INTO target. Right after a name
 * or string with nothing between ('u'@'host', u@host) it is the host of an
 * account (but "SELECT@x" reads @x).
 */
static void apply_var(struct analysis *a, const struct lexer *lx, const struct token *t, const struct token *prev)
{
	bool account = prev->kind == TOK_IDENT || prev->kind == TOK_STRING || prev->kind == TOK_DQUOTE ||
		       (prev->kind == TOK_WORD && !is_keyword(lx, prev));
	if (!t->space_before && account)
		return;
	struct token n = peek(lx);
	bool set_target = is_punct(lx, &n, "=") &&
			  (is_word(lx, prev, "SET") || (is_punct(lx, prev, ",") && a->in_set && a->depth == a->set_depth));
	bool assigns = is_punct(lx, &n, ":=") || a->into_list || set_target;
	if (assigns)
		a->out->writes_user_vars = true;
	else
		a->out->reads_user_vars = true;
	if (a->vars)
		note_var(a, lx, t, prev, assigns);
}

static void analyse(const char *stmt, size_t len, struct sql_facts *out, struct var_scan *vars)
{
	*out = (struct sql_facts){0};
	struct lexer lx = lexer_at(stmt, len, 0);
	struct analysis a = {.out = out, .vars = vars};
	out->kind = classify(lx, &a.set_for);
	struct token prev = {.kind = TOK_END};
	for (struct token t = lex_next(&lx); t.kind != TOK_END; prev = t, t = lex_next(&lx)) {
		bool keeps_into = t.kind == TOK_VAR || is_punct(&lx, &t, ",");
		switch (t.kind) {
		case TOK_PUNCT:
			if (is_punct(&lx, &t, "("))
				a.depth++;
			else if (is_punct(&lx, &t, ")") && a.depth > 0)
				a.depth--;
			break;
		case TOK_SEMI:
			a.in_set = false;
			break;
		case TOK_VAR:
			apply_var(&a, &lx, &t, &prev);
			break;
		case TOK_WORD:
			apply_function(&a, &lx, &t, &prev);
			/* SET STATEMENT's own SET and assignments are not the statement's clauses. */
			if (a.set_for == SIZE_MAX || t.start > a.set_for)
				apply_keyword(&a, &lx, &t);
			keeps_into = is_word(&lx, &t, "INTO");
			break;
		default:
			break;
		}
		if (!keeps_into)
			a.into_list = false;
	}
	if (out->kind == SQL_LOAD)
		out->unsafe |= SQL_UNSAFE_LOAD_FILE;
	if (a.limit && !a.order)
		out->unsafe |= SQL_UNSAFE_LIMIT;
	if (a.insert_select && out->has_on_duplicate_key)
		out->unsafe |= SQL_UNSAFE_INSERT_SELECT_ODKU;
	/* Rows the list was evaluated for may be dropped after: an assignment
	 * there may have run for a row nobody sees. */
	for (size_t k = 0; vars && a.list_cut && out->kind != SQL_SET && k < vars->n; k++)
		vars->v[k].assign_first = false;
}

void sql_analyse(const char *stmt, size_t len, struct sql_facts *out) { analyse(stmt, len, out, NULL); }

/* ---- tables and the clock ------------------------------------------------ */

/* Built-in functions whose value depends only on their arguments and the
 * session context the journal records (time_zone, lc_time_names, ...),
 * never on the clock (sorted). DEFAULT(col) reads a column default, which
 * the table check covers. Left out on purpose: INSERT(), REPLACE() and
 * TRUNCATE(), whose names are also statements. */
static const char *const clock_free_functions[] = {
	"ABS", "ASCII", "AVG", "BIT_AND", "BIT_COUNT", "BIT_LENGTH", "BIT_OR", "BIT_XOR", "CAST", "CEIL", "CEILING",
	"CHAR", "CHARACTER_LENGTH", "CHAR_LENGTH", "COALESCE", "CONCAT", "CONCAT_WS", "CONV", "CONVERT", "COUNT",
	"CRC32", "DATEDIFF", "DATE_ADD", "DATE_FORMAT", "DATE_SUB", "DEFAULT", "ELT", "EXP", "FIELD", "FIND_IN_SET",
	"FLOOR", "FORMAT", "FROM_DAYS", "FROM_UNIXTIME", "GREATEST", "GROUP_CONCAT", "HEX", "IF", "IFNULL",
	"INET_ATON", "INET_NTOA", "INSTR", "ISNULL", "LAST_INSERT_ID", "LCASE", "LEAST", "LEFT", "LENGTH", "LN",
	"LOCATE", "LOG", "LOG10", "LOG2", "LOWER", "LPAD", "LTRIM", "MAX", "MD5", "MID", "MIN", "MOD", "NULLIF",
	"OCT", "ORD", "POSITION", "POW", "POWER", "QUOTE", "REPEAT", "REVERSE", "RIGHT", "ROUND", "RPAD", "RTRIM",
	"SHA1", "SHA2", "SIGN", "SPACE", "SQRT", "STRCMP", "SUBSTR", "SUBSTRING", "SUBSTRING_INDEX", "SUM",
	"TIMESTAMPDIFF", "TO_DAYS", "TRIM", "UCASE", "UNHEX", "UPPER",
};

/* Words that may stand before a '(' without calling anything (sorted). */
static const char *const paren_words[] = {
	"AGAINST", "ALL", "AND", "ANY", "AS", "BETWEEN", "BY", "CASE", "DISTINCT", "DIV", "ELSE", "ESCAPE",
	"EXCEPT", "EXISTS", "FROM", "HAVING", "IN", "INDEX", "INTERSECT", "INTERVAL", "INTO", "IS", "JOIN", "KEY",
	"LIKE", "NOT", "ON", "OR", "OVER", "PARTITION", "REGEXP", "RETURNING", "RLIKE", "ROW", "SELECT", "SET",
	"SOME", "THEN", "UNION", "USING", "VALUE", "VALUES", "WHEN", "WHERE", "WITH", "XOR",
};

/* Words a table reference may open with that are not its name. */
static bool table_modifier(const struct lexer *lx, const struct token *t)
{
	static const char *const words[] = {"DELAYED", "HIGH_PRIORITY", "IGNORE", "LOW_PRIORITY", "QUICK"};
	return IN_LIST(lx, t, words);
}

/* Words that end a FROM or UPDATE table list at their own level. */
static bool ends_table_list(const struct lexer *lx, const struct token *t)
{
	static const char *const words[] = {"EXCEPT", "FOR",	   "GROUP",  "HAVING", "INTERSECT", "INTO",
					    "LIMIT",  "LOCK",	   "ORDER",  "PROCEDURE", "RETURNING", "SELECT",
					    "SET",    "UNION",	   "VALUES", "WHERE",  "WINDOW"};
	return IN_LIST(lx, t, words);
}

/* A name token's text without its quotes, into out[SQL_NAME_MAX]. */
static bool copy_name(const struct lexer *lx, const struct token *t, char *out)
{
	const unsigned char *p = lx->s + t->start;
	size_t n = t->len, o = 0;
	if (t->kind == TOK_IDENT || t->kind == TOK_DQUOTE) {
		size_t i = 0;
		for (int c; (c = unquoted_byte(lx, t, &i)) >= 0;) {
			if (o + 1 >= SQL_NAME_MAX)
				return false;
			out[o++] = (char)c;
		}
	} else {
		if (n + 1 > SQL_NAME_MAX)
			return false;
		memcpy(out, p, n);
		o = n;
	}
	out[o] = '\0';
	return o > 0;
}

static bool is_name_token(const struct lexer *lx, const struct token *t)
{
	return t->kind == TOK_IDENT || t->kind == TOK_DQUOTE || (t->kind == TOK_WORD && !is_keyword(lx, t));
}

/* Read the [db.]table at t; false when it is not one. */
static bool take_table(struct lexer *lx, const struct token *t, struct sql_tables *out)
{
	struct sql_table_name name = {0};
	if (!is_name_token(lx, t))
		return false;
	struct token dot = peek(lx);
	if (is_punct(lx, &dot, ".")) {
		lex_next(lx);
		struct token second = lex_next(lx);
		if (!is_name_token(lx, &second) || !copy_name(lx, t, name.db) || !copy_name(lx, &second, name.table))
			return false;
	} else if (!copy_name(lx, t, name.table)) {
		return false;
	}
	for (size_t i = 0; i < out->n; i++)
		if (!strcmp(out->t[i].db, name.db) && !strcmp(out->t[i].table, name.table))
			return true;
	if (out->n == SQL_TABLES_MAX)
		return false;
	out->t[out->n++] = name;
	return true;
}

#define CLOCK_DEPTH_MAX 64

bool sql_clock_tables(const char *stmt, size_t len, const struct sql_facts *f, struct sql_tables *out)
{
	out->n = 0;
	bool insert = f->kind == SQL_INSERT || f->kind == SQL_REPLACE;
	if (f->uses_time || (f->unsafe & SQL_UNSAFE_SYSDATE) || f->select_into ||
	    !(insert || f->kind == SQL_SELECT || f->kind == SQL_UPDATE || f->kind == SQL_DELETE))
		return false;
	struct lexer lx = lexer_at(stmt, len, 0);
	/* list[d]: a FROM/UPDATE/USING table list is open at depth d, so a ','
	 * there names another table. */
	bool list[CLOCK_DEPTH_MAX] = {false};
	size_t depth = 0;
	bool expect_table = false, first = true;
	struct token prev = {.kind = TOK_END};
	for (struct token t = lex_next(&lx); t.kind != TOK_END; prev = t, t = lex_next(&lx)) {
		if (first) {
			/* The statement's own keyword first: WITH, SET STATEMENT ...
			 * FOR or a '(' would put the written table elsewhere. */
			first = false;
			if (is_word(&lx, &t, "UPDATE")) {
				list[0] = expect_table = true;
				continue;
			}
			if (insert && (is_word(&lx, &t, "INSERT") || is_word(&lx, &t, "REPLACE"))) {
				expect_table = true;
				continue;
			}
			if (!is_word(&lx, &t, "DELETE") && !is_word(&lx, &t, "SELECT"))
				return false;
			continue;
		}
		if (expect_table) {
			if (t.kind == TOK_WORD && (table_modifier(&lx, &t) || (insert && is_word(&lx, &t, "INTO"))))
				continue;
			expect_table = false;
			if (is_word(&lx, &t, "DUAL"))
				continue;
			if (!is_punct(&lx, &t, "(")) {
				if (!take_table(&lx, &t, out))
					return false;
				continue;
			}
			/* A derived table: its subquery is read like the rest. */
		}
		switch (t.kind) {
		case TOK_SYSVAR:
			return false; /* @@timestamp is the clock */
		case TOK_PUNCT:
			if (is_punct(&lx, &t, "(")) {
				if (++depth == CLOCK_DEPTH_MAX)
					return false;
				list[depth] = false;
			} else if (is_punct(&lx, &t, ")")) {
				list[depth] = false;
				if (depth > 0)
					depth--;
			} else if (is_punct(&lx, &t, ",") && list[depth]) {
				expect_table = true;
			}
			break;
		case TOK_WORD:
		case TOK_IDENT: {
			struct token next = peek(&lx);
			if (is_punct(&lx, &next, "(")) {
				/* A call: only built-ins known not to read the clock. */
				if (t.kind == TOK_IDENT || is_punct(&lx, &prev, ".") ||
				    !(IN_LIST(&lx, &t, clock_free_functions) || IN_LIST(&lx, &t, paren_words)))
					return false;
			}
			if (t.kind != TOK_WORD)
				break;
			if (is_word(&lx, &t, "TABLE"))
				return false;
			if (is_word(&lx, &t, "FROM") || (is_word(&lx, &t, "USING") && f->kind == SQL_DELETE && depth == 0 &&
							  !is_punct(&lx, &next, "("))) {
				list[depth] = expect_table = true;
			} else if (is_word(&lx, &t, "JOIN") || is_word(&lx, &t, "STRAIGHT_JOIN")) {
				expect_table = true;
			} else if (is_word(&lx, &t, "INTO")) {
				if (!insert)
					return false;
				expect_table = true;
			} else if (list[depth] && ends_table_list(&lx, &t)) {
				list[depth] = false;
			}
			break;
		}
		default:
			break;
		}
	}
	return !expect_table;
}

/* ---- what a definition change leaves in the catalog ---------------------- */

static bool printable_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return false;
	return true;
}

/* Nothing but an optional ';' from t on. */
static bool ends_at(struct lexer *lx, struct token t)
{
	if (t.kind == TOK_SEMI)
		t = lex_next(lx);
	return t.kind == TOK_END;
}

/* IF [NOT] EXISTS at *t, if there: read past, *t the token after it. */
static bool take_if_clause(struct lexer *lx, struct token *t, bool not_exists, bool *seen)
{
	*seen = false;
	if (!is_word(lx, t, "IF"))
		return true;
	struct token w = lex_next(lx);
	if (not_exists) {
		if (!is_word(lx, &w, "NOT"))
			return false;
		w = lex_next(lx);
	}
	if (!is_word(lx, &w, "EXISTS"))
		return false;
	*seen = true;
	*t = lex_next(lx);
	return true;
}

static bool take_one_table(struct lexer *lx, const struct token *t, struct sql_table_name *out)
{
	struct sql_tables one = {0};
	if (!take_table(lx, t, &one))
		return false;
	*out = one.t[0];
	return printable_ascii(out->db) && printable_ascii(out->table);
}

/* CREATE TABLE [IF NOT EXISTS] t (...) [options], after CREATE. */
static bool read_create_table(struct lexer *lx, struct sql_ddl *out)
{
	struct token t = lex_next(lx);
	if (!is_word(lx, &t, "TABLE"))
		return false;
	t = lex_next(lx);
	if (!take_if_clause(lx, &t, true, &out->if_clause) || !take_one_table(lx, &t, &out->table))
		return false;
	t = lex_next(lx);
	struct token first = peek(lx);
	if (!is_punct(lx, &t, "(") || is_punct(lx, &first, "(") || is_word(lx, &first, "SELECT") ||
	    is_word(lx, &first, "LIKE") || is_word(lx, &first, "WITH") || is_word(lx, &first, "VALUES") ||
	    is_word(lx, &first, "TABLE"))
		return false;
	for (size_t depth = 1; depth > 0;) {
		t = lex_next(lx);
		if (t.kind == TOK_END || t.kind == TOK_SEMI)
			return false;
		if (is_punct(lx, &t, "("))
			depth++;
		else if (is_punct(lx, &t, ")"))
			depth--;
	}
	/* Table options only: rows from a SELECT, or partitions, are more
	 * than the table's existence. */
	for (t = lex_next(lx); t.kind != TOK_END && t.kind != TOK_SEMI; t = lex_next(lx))
		if (is_punct(lx, &t, "(") || is_word(lx, &t, "SELECT") || is_word(lx, &t, "AS") ||
		    is_word(lx, &t, "LIKE") || is_word(lx, &t, "WITH") || is_word(lx, &t, "VALUES") ||
		    is_word(lx, &t, "TABLE") || is_word(lx, &t, "IGNORE") || is_word(lx, &t, "REPLACE"))
			return false;
	out->effect = SQL_DDL_CREATE_TABLE;
	return ends_at(lx, t);
}

/* DROP TABLE [IF EXISTS] t [RESTRICT|CASCADE], after DROP. */
static bool read_drop_table(struct lexer *lx, struct sql_ddl *out)
{
	struct token t = lex_next(lx);
	if (!is_word(lx, &t, "TABLE"))
		return false;
	t = lex_next(lx);
	if (!take_if_clause(lx, &t, false, &out->if_clause) || !take_one_table(lx, &t, &out->table))
		return false;
	t = lex_next(lx);
	if (is_word(lx, &t, "RESTRICT") || is_word(lx, &t, "CASCADE"))
		t = lex_next(lx);
	out->effect = SQL_DDL_DROP_TABLE;
	return ends_at(lx, t);
}

/* ADD COLUMN [IF NOT EXISTS] c definition, after ADD: one clause. */
static bool read_add_column(struct lexer *lx, struct sql_ddl *out)
{
	struct token t = lex_next(lx);
	bool column = is_word(lx, &t, "COLUMN");
	if (column)
		t = lex_next(lx);
	if (!take_if_clause(lx, &t, true, &out->if_clause))
		return false;
	/* Without COLUMN, a bare word may be INDEX, KEY, PERIOD...: only a
	 * quoted name is surely a column. */
	if (!(column ? is_name_token(lx, &t) : t.kind == TOK_IDENT) || !copy_name(lx, &t, out->detail) ||
	    !printable_ascii(out->detail))
		return false;
	size_t depth = 0;
	for (t = lex_next(lx); t.kind != TOK_END && t.kind != TOK_SEMI; t = lex_next(lx)) {
		if (is_punct(lx, &t, "("))
			depth++;
		else if (is_punct(lx, &t, ")") && depth-- == 0)
			return false;
		else if (is_punct(lx, &t, ",") && depth == 0)
			return false; /* another clause */
	}
	out->effect = SQL_DDL_ADD_COLUMN;
	return ends_at(lx, t);
}

/* COMMENT [=] 'text', after COMMENT. */
static bool read_table_comment(struct lexer *lx, struct sql_ddl *out)
{
	struct token t = lex_next(lx);
	if (is_punct(lx, &t, "="))
		t = lex_next(lx);
	if (t.kind != TOK_STRING || lx->s[t.start] != '\'')
		return false;
	size_t i = 0, o = 0;
	for (int c; (c = unquoted_byte(lx, &t, &i)) >= 0;) {
		if (c == '\\' || c < 0x20 || c > 0x7e || o + 1 >= sizeof(out->detail))
			return false;
		out->detail[o++] = (char)c;
	}
	out->detail[o] = '\0';
	out->effect = SQL_DDL_TABLE_COMMENT;
	return ends_at(lx, lex_next(lx));
}

void sql_ddl_effect(const char *stmt, size_t len, struct sql_ddl *out)
{
	memset(out, 0, sizeof(*out));
	struct lexer lx = lexer_at(stmt, len, 0);
	struct token t = lex_next(&lx);
	bool ok = false;
	if (is_word(&lx, &t, "CREATE")) {
		ok = read_create_table(&lx, out);
	} else if (is_word(&lx, &t, "DROP")) {
		ok = read_drop_table(&lx, out);
	} else if (is_word(&lx, &t, "ALTER")) {
		t = lex_next(&lx);
		if (is_word(&lx, &t, "TABLE")) {
			t = lex_next(&lx);
			if (take_one_table(&lx, &t, &out->table)) {
				t = lex_next(&lx);
				if (is_word(&lx, &t, "ADD"))
					ok = read_add_column(&lx, out);
				else if (is_word(&lx, &t, "COMMENT"))
					ok = read_table_comment(&lx, out);
			}
		}
	}
	if (!ok)
		memset(out, 0, sizeof(*out));
}

/* A name token's text, unquoted, against an ASCII name, case folded. */
static bool name_equals(const struct lexer *lx, const struct token *t, const char *name)
{
	size_t n = strlen(name);
	if (t->kind == TOK_WORD) {
		if (t->len != n)
			return false;
		for (size_t i = 0; i < n; i++)
			if (upper(lx->s[t->start + i]) != upper((unsigned char)name[i]))
				return false;
		return true;
	}
	if (t->kind != TOK_IDENT && t->kind != TOK_DQUOTE)
		return false;
	size_t i = 0, o = 0;
	for (int c; (c = unquoted_byte(lx, t, &i)) >= 0; o++)
		if (o >= n || upper(c) != upper((unsigned char)name[o]))
			return false;
	return o == n;
}

bool sql_may_redefine(const char *stmt, size_t len, const char *table)
{
	size_t set_for;
	struct lexer lx = lexer_at(stmt, len, 0);
	enum sql_kind kind = classify(lx, &set_for);
	if (kind == SQL_CALL || kind == SQL_PREPARE)
		return true;
	if (kind != SQL_DDL)
		return false;
	for (struct token t = lex_next(&lx); t.kind != TOK_END; t = lex_next(&lx))
		if (is_word(&lx, &t, "DATABASE") || is_word(&lx, &t, "SCHEMA") || name_equals(&lx, &t, table))
			return true;
	return false;
}

bool sql_call_target(const char *stmt, size_t len, struct sql_table_name *out)
{
	struct lexer lx = lexer_at(stmt, len, 0);
	struct token t = lex_next(&lx);
	if (!is_word(&lx, &t, "CALL"))
		return false;
	t = lex_next(&lx);
	return take_one_table(&lx, &t, out);
}

bool sql_body_may_redefine(const char *body, size_t len, const char *table)
{
	static const char *const ddl_words[] = {"ALTER", "CREATE", "DROP", "RENAME", "TRUNCATE"};
	bool ddl = false, names = false;
	struct lexer lx = lexer_at(body, len, 0);
	for (struct token t = lex_next(&lx); t.kind != TOK_END; t = lex_next(&lx)) {
		if (is_word(&lx, &t, "CALL") || is_word(&lx, &t, "PREPARE") || is_word(&lx, &t, "EXECUTE"))
			return true;
		for (size_t i = 0; i < sizeof(ddl_words) / sizeof(ddl_words[0]); i++)
			ddl |= is_word(&lx, &t, ddl_words[i]);
		names |= is_word(&lx, &t, "DATABASE") || is_word(&lx, &t, "SCHEMA") || name_equals(&lx, &t, table);
	}
	return ddl && names;
}

/* ---- running a statement again ------------------------------------------ */

/* The ledger's part of sql_not_rerunnable: this statement's variables
 * (vs) against those of the statements before it (l), then added. */
static const char *vars_not_rerunnable(struct sql_var_ledger *l, const struct var_scan *vs)
{
	if (vs->unfollowed)
		return "a user variable acctgate does not follow (a name not in ASCII or too long, or too many)";
	for (size_t i = 0; i < vs->n; i++) {
		const struct var_use *u = &vs->v[i];
		size_t k = 0;
		while (k < l->n && strcmp(l->names[k], u->name) != 0)
			k++;
		if (u->assigns > 0 && k < l->n)
			return "a user variable assigned after an earlier statement of the transaction named it (a "
			       "rollback keeps its value)";
		if (u->assigns > 0 && !(u->assigns == 1 && u->reads == 0 && u->assign_first))
			return "an assignment to a user variable that may run after a read of it, or not at all (a "
			       "rollback keeps its value)";
		if (k < l->n)
			continue;
		if (l->n == SQL_VAR_LEDGER_MAX)
			return "more user variables than acctgate follows in one transaction";
		memcpy(l->names[l->n++], u->name, sizeof(u->name));
	}
	return NULL;
}

const char *sql_not_rerunnable(const char *stmt, size_t len, struct sql_var_ledger *vars)
{
	struct sql_facts f;
	struct var_scan vs = {0};
	analyse(stmt, len, &f, &vs);
	switch (f.kind) {
	case SQL_SELECT:
	case SQL_SHOW:
	case SQL_SET:
	case SQL_SET_TRANSACTION:
	case SQL_USE:
	case SQL_BEGIN:
	case SQL_SAVEPOINT:
	case SQL_INSERT:
	case SQL_REPLACE:
	case SQL_UPDATE:
	case SQL_DELETE:
		break;
	case SQL_CALL:
		return "CALL (a procedure may do what a rollback does not undo)";
	case SQL_DDL:
		return "DDL (it commits, and a temporary table outlives a rollback)";
	case SQL_LOAD:
		return "LOAD DATA (the file is read once)";
	case SQL_PREPARE:
		return "PREPARE or EXECUTE (the prepared text is not known here)";
	default:
		return "a statement whose effects a rollback may not undo";
	}
	if (f.select_into)
		return "SELECT ... INTO (a variable or a file)";
	if (f.unsafe & SQL_UNSAFE_LOCK_FN)
		return sql_unsafe_reason(SQL_UNSAFE_LOCK_FN);
	if (f.unsafe & SQL_UNSAFE_LOAD_FILE)
		return sql_unsafe_reason(SQL_UNSAFE_LOAD_FILE);
	return vars_not_rerunnable(vars, &vs);
}

/* ---- digest -------------------------------------------------------------- */


/* Keywords after which '-' and a number are one negative literal
 * ("WHERE -1", "THEN -1"); after any other word it is a subtraction. */
static bool starts_operand(const struct lexer *lx, const struct token *prev)
{
	static const char *const words[] = {"AND",	"BETWEEN", "DEFAULT", "DIV",	"DO",	"ELSE",	  "HAVING",
					    "INTERVAL", "LIKE",	   "LIMIT",   "MOD",	"NOT",	"OFFSET", "OR",
					    "RETURN",	"SELECT",  "THEN",    "WHEN",	"WHERE", "XOR"};
	if (prev->kind == TOK_END || prev->kind == TOK_SEMI)
		return true;
	if (prev->kind == TOK_PUNCT)
		return !is_punct(lx, prev, ")");
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (is_word(lx, prev, words[i]))
			return true;
	return false;
}

/*
 * Whether "..." names things in this statement. Without the sql_mode, the
 * statement tells: where a table name must stand (after FROM, INTO, UPDATE,
 * JOIN, TABLE, IF [NOT] EXISTS) or next to a '.', a "..." is an identifier,
 * and ANSI_QUOTES is on for all of them; otherwise they are strings.
 */
static bool ansi_quotes(struct lexer lx)
{
	struct token prev = {.kind = TOK_END};
	for (struct token t = lex_next(&lx); t.kind != TOK_END; prev = t, t = lex_next(&lx)) {
		if (t.kind != TOK_DQUOTE)
			continue;
		struct token n = peek(&lx);
		if (is_word(&lx, &prev, "FROM") || is_word(&lx, &prev, "INTO") || is_word(&lx, &prev, "UPDATE") ||
		    is_word(&lx, &prev, "JOIN") || is_word(&lx, &prev, "TABLE") || is_word(&lx, &prev, "EXISTS") ||
		    (is_punct(&lx, &prev, ".") && !t.space_before) || (is_punct(&lx, &n, ".") && !n.space_before))
			return true;
	}
	return false;
}

#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

struct digest {
	const struct lexer *lx;
	char *out;
	size_t cap;
	size_t used;
	bool full;    /* a byte did not fit: nothing more is written */
	bool started; /* a token was written: the next may need a space */
	bool ansi;
	uint64_t hash;
};

/* One byte of the normalised text: hashed always, written while it fits.
 * Control bytes (binary input) are written as '?', so the text stays
 * printable and free of NULs. */
static void put_byte(struct digest *d, int c)
{
	unsigned char b = c < 0x20 || c == 0x7f ? '?' : (unsigned char)c;
	d->hash = (d->hash ^ b) * FNV_PRIME;
	if (!d->full && d->used + 1 < d->cap)
		d->out[d->used++] = (char)b;
	else
		d->full = true;
}

static void put_str(struct digest *d, const char *s)
{
	while (*s)
		put_byte(d, (unsigned char)*s++);
}

/* Starts a token: one space when the text had blanks or a comment there. */
static void put_gap(struct digest *d, bool space)
{
	if (d->started && space)
		put_byte(d, ' ');
	d->started = true;
}

/* A quoted name without its quotes, doubled quotes made single. */
static void put_unquoted(struct digest *d, const struct token *t)
{
	size_t i = 0;
	for (int c; (c = unquoted_byte(d->lx, t, &i)) >= 0;)
		put_byte(d, c);
}

static void put_word(struct digest *d, const struct token *t, const struct token *prev, const struct token *next)
{
	const struct lexer *lx = d->lx;
	bool qualified = (is_punct(lx, prev, ".") && !t->space_before) || (is_punct(lx, next, ".") && !next->space_before);
	bool keyword = !qualified && is_keyword(lx, t);
	for (size_t i = 0; i < t->len; i++)
		put_byte(d, keyword ? upper(lx->s[t->start + i]) : lx->s[t->start + i]);
}

static bool is_literal(const struct digest *d, const struct token *t)
{
	return t->kind == TOK_STRING || t->kind == TOK_NUMBER || t->kind == TOK_HEXBIT || t->kind == TOK_PARAM ||
	       (t->kind == TOK_DQUOTE && !d->ansi) || is_word(d->lx, t, "NULL");
}

/* After "IN (": true, with *lx past the ')', when only literals (signed
 * numbers too) and commas follow up to it. */
static bool literal_list(const struct digest *d, struct lexer *lx)
{
	struct lexer ahead = *lx;
	for (;;) {
		struct token t = lex_next(&ahead);
		if (is_punct(&ahead, &t, "-") || is_punct(&ahead, &t, "+")) {
			t = lex_next(&ahead);
			if (t.kind != TOK_NUMBER)
				return false;
		} else if (!is_literal(d, &t)) {
			return false;
		}
		t = lex_next(&ahead);
		if (is_punct(&ahead, &t, ")")) {
			*lx = ahead;
			return true;
		}
		if (!is_punct(&ahead, &t, ","))
			return false;
	}
}

/* After a '(': moves *lx past its ')' (or to the end). */
static void skip_group(struct lexer *lx)
{
	size_t depth = 1;
	while (depth > 0) {
		struct token t = lex_next(lx);
		if (t.kind == TOK_END)
			return;
		if (is_punct(lx, &t, "("))
			depth++;
		else if (is_punct(lx, &t, ")"))
			depth--;
	}
}

/* After "VALUES (": moves *lx past the last row of "(...), (...), ...". */
static void skip_rows(struct lexer *lx)
{
	for (;;) {
		skip_group(lx);
		struct lexer ahead = *lx;
		struct token comma = lex_next(&ahead), open = lex_next(&ahead);
		if (!is_punct(&ahead, &comma, ",") || !is_punct(&ahead, &open, "("))
			return;
		*lx = ahead;
	}
}

/* VALUES opens rows after the table or its column list; after '=', ',',
 * '(' or an operator it is the VALUES(col) function of ON DUPLICATE KEY
 * UPDATE. */
static bool opens_rows(const struct lexer *lx, const struct token *prev)
{
	return prev->kind == TOK_END || prev->kind == TOK_WORD || prev->kind == TOK_IDENT ||
	       prev->kind == TOK_DQUOTE || is_punct(lx, prev, ")");
}

/* Where to cut n bytes so that no partial UTF-8 character ends them: a
 * lead byte followed by fewer continuation bytes than it announces goes,
 * with them. Anything else (ASCII, other bytes) is kept as it is. */
static size_t utf8_cut(const char *s, size_t n)
{
	size_t cont = 0;
	while (cont < 3 && cont < n && ((unsigned char)s[n - 1 - cont] & 0xC0) == 0x80)
		cont++;
	if (cont == n)
		return n;
	unsigned char lead = (unsigned char)s[n - 1 - cont];
	size_t want = lead >= 0xF0 ? 3 : lead >= 0xE0 ? 2 : lead >= 0xC0 ? 1 : 0;
	return cont < want ? n - 1 - cont : n;
}

uint64_t sql_digest(const char *stmt, size_t len, char *out, size_t out_cap)
{
	struct lexer lx = lexer_at(stmt, len, 0);
	struct digest d = {.lx = &lx, .out = out, .cap = out_cap, .ansi = ansi_quotes(lx), .hash = FNV_OFFSET};
	struct token prev = {.kind = TOK_END};
	for (struct token t = lex_next(&lx); t.kind != TOK_END; t = lex_next(&lx)) {
		struct token next = peek(&lx);
		put_gap(&d, t.space_before);
		if ((is_word(&lx, &t, "IN") || is_word(&lx, &t, "VALUES") || is_word(&lx, &t, "VALUE")) &&
		    is_punct(&lx, &next, "(")) {
			struct lexer inner = lx;
			lex_next(&inner);
			bool collapse = is_word(&lx, &t, "IN") ? literal_list(&d, &inner) : opens_rows(&lx, &prev);
			if (collapse) {
				if (!is_word(&lx, &t, "IN"))
					skip_rows(&inner);
				put_word(&d, &t, &prev, &next);
				put_gap(&d, next.space_before);
				put_str(&d, "(...)");
				lx = inner;
				prev = (struct token){.kind = TOK_PUNCT, .start = lx.pos - 1, .len = 1};
				continue;
			}
		}
		switch (t.kind) {
		case TOK_WORD:
			put_word(&d, &t, &prev, &next);
			break;
		case TOK_IDENT:
			put_unquoted(&d, &t);
			break;
		case TOK_DQUOTE:
			if (d.ansi)
				put_unquoted(&d, &t);
			else
				put_byte(&d, '?');
			break;
		case TOK_STRING:
		case TOK_NUMBER:
		case TOK_HEXBIT:
		case TOK_PARAM:
			put_byte(&d, '?');
			break;
		case TOK_PUNCT:
			if (is_punct(&lx, &t, "-") && next.kind == TOK_NUMBER && starts_operand(&lx, &prev)) {
				put_byte(&d, '?');
				t = lex_next(&lx);
				break;
			}
			for (size_t i = 0; i < t.len; i++)
				put_byte(&d, lx.s[t.start + i]);
			break;
		default:
			for (size_t i = 0; i < t.len; i++)
				put_byte(&d, lx.s[t.start + i]);
			break;
		}
		prev = t;
	}
	if (out_cap > 0) {
		if (d.full)
			d.used = utf8_cut(out, d.used);
		out[d.used] = '\0';
	}
	return d.hash;
}

static char fold(char c) { return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c; }

bool sql_digest_matches(const char *p, const char *d)
{
	/* After a '*' only the last one matters: it can absorb whatever an
	 * earlier one would have, so no deeper backtracking is needed. */
	const char *star = NULL, *resume = NULL;
	while (*d) {
		if (*p == '*') {
			star = ++p;
			resume = d;
		} else if (*p && fold(*p) == fold(*d)) {
			p++;
			d++;
		} else if (star) {
			p = star;
			d = ++resume;
		} else {
			return false;
		}
	}
	while (*p == '*')
		p++;
	return *p == '\0';
}
