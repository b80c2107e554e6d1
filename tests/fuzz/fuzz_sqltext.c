/*
 * fuzz_sqltext.c - the SQL lexer over arbitrary bytes. Oracles: the
 * statements of a text lie inside it, in order, without overlap, each
 * non-empty with no blank at either edge, and each read alone (with the
 * byte that ended it) splits into exactly itself; facts name a known kind and only known unsafe bits, and a
 * statement that assigns a user variable is never one a replay runs again,
 * and one whose tables decide its clock reads no clock itself; a DDL
 * whose effect the catalog shows names one printable table and is one
 * that the check for later definition changes sees; a
 * digest is NUL-terminated inside its buffer, free of control bytes, and a
 * short buffer gets a prefix of the full text (less a partial UTF-8
 * character at most) with the same hash; the throttle's matcher takes any
 * digest for "*" and for itself.
 */
#include "fuzz_util.h"

#include "sqltext.h"

static bool blank(char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

static void check_facts(const char *p, size_t len)
{
	struct sql_facts f;
	sql_analyse(p, len, &f);
	FUZZ_CHECK((unsigned)f.kind <= SQL_XA);
	FUZZ_CHECK(strcmp(sql_kind_name(f.kind), "UNKNOWN") != 0);
	FUZZ_CHECK((f.unsafe & ~((1u << SQL_UNSAFE_COUNT) - 1)) == 0);
	for (uint32_t i = 0; i < SQL_UNSAFE_COUNT; i++)
		if (f.unsafe & (1u << i))
			FUZZ_CHECK(strcmp(sql_unsafe_reason(1u << i), "unknown") != 0);
	struct sql_var_ledger l = {0};
	const char *why = sql_not_rerunnable(p, len, &l);
	FUZZ_CHECK(!why || strlen(why) > 0);
	/* A statement that writes a user variable cannot follow itself in a
	 * replayed transaction: the second run assigns what the first named. */
	const char *again = why ? why : sql_not_rerunnable(p, len, &l);
	FUZZ_CHECK(!f.writes_user_vars || again != NULL);
	FUZZ_CHECK(l.n <= SQL_VAR_LEDGER_MAX);
	/* Tables that decide the clock: only for statements that read no
	 * clock themselves, each name non-empty and inside its buffer. */
	struct sql_tables t;
	if (sql_clock_tables(p, len, &f, &t)) {
		FUZZ_CHECK(!f.uses_time && t.n <= SQL_TABLES_MAX);
		for (size_t i = 0; i < t.n; i++) {
			FUZZ_CHECK(strnlen(t.t[i].db, SQL_NAME_MAX) < SQL_NAME_MAX);
			FUZZ_CHECK(strnlen(t.t[i].table, SQL_NAME_MAX) < SQL_NAME_MAX && t.t[i].table[0]);
		}
	}
	/* A definition change the catalog can show: one table, named in
	 * printable ASCII, and one the check for later changes sees. */
	struct sql_ddl d;
	sql_ddl_effect(p, len, &d);
	FUZZ_CHECK((unsigned)d.effect <= SQL_DDL_TABLE_COMMENT);
	if (d.effect != SQL_DDL_OTHER) {
		FUZZ_CHECK(f.kind == SQL_DDL && d.table.table[0]);
		FUZZ_CHECK(strnlen(d.table.table, SQL_NAME_MAX) < SQL_NAME_MAX &&
			   strnlen(d.detail, SQL_NAME_MAX) < SQL_NAME_MAX);
		for (const char *c = d.table.table; *c; c++)
			FUZZ_CHECK(*c >= 0x20 && *c <= 0x7e);
		FUZZ_CHECK(sql_may_redefine(p, len, d.table.table));
		FUZZ_CHECK(sql_body_may_redefine(p, len, d.table.table));
	}
	struct sql_table_name proc;
	if (sql_call_target(p, len, &proc)) {
		FUZZ_CHECK(f.kind == SQL_CALL && proc.table[0]);
		FUZZ_CHECK(sql_may_redefine(p, len, proc.table));
	}
}

/* The digest into a full-size buffer and into one of `small` bytes. */
static void check_digest(const char *p, size_t len, size_t small)
{
	/* Normalising at most doubles a text: "in(1)" -> "IN(...)" is the worst. */
	size_t cap = 2 * len + 16;
	char *full = malloc(cap), *cut = malloc(small ? small : 1);
	FUZZ_CHECK(full && cut);
	uint64_t h = sql_digest(p, len, full, cap);
	size_t n = strnlen(full, cap);
	FUZZ_CHECK(n + 1 < cap);
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK((unsigned char)full[i] >= 0x20 && full[i] != 0x7f);
	/* The throttle's matcher: any digest matches "*" and itself (a '*'
	 * in it stands for its own byte among others). */
	FUZZ_CHECK(sql_digest_matches("*", full));
	FUZZ_CHECK(sql_digest_matches(full, full));
	FUZZ_CHECK(sql_digest(p, len, small ? cut : NULL, small) == h);
	if (small > 0) {
		size_t m = strnlen(cut, small);
		FUZZ_CHECK(m < small);
		FUZZ_CHECK(m <= n && memcmp(cut, full, m) == 0);
		FUZZ_CHECK(m == n || m + 4 >= small);
	}
	free(cut);
	free(full);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t small = data[0];
	size_t len = size - 1;
	/* An exact copy, so ASan sees any read past the end. */
	char *text = malloc(len ? len : 1);
	FUZZ_CHECK(text);
	memcpy(text, data + 1, len);

	size_t pos = 0, start, slen, prev_end = 0;
	while (sql_next_statement(text, len, &pos, &start, &slen)) {
		FUZZ_CHECK(start >= prev_end && slen > 0 && start + slen <= pos && pos <= len);
		FUZZ_CHECK(!blank(text[start]) && !blank(text[start + slen - 1]));
		prev_end = start + slen;

		/* Read alone with the byte that ended it (its ';'): "--" before a
		 * ';' is two minus signs, but at the very end of a text the
		 * server takes it for a comment, so the cut must keep it. */
		size_t with_end = start + slen < len ? slen + 1 : slen;
		char *one = malloc(with_end);
		FUZZ_CHECK(one);
		memcpy(one, text + start, with_end);
		size_t pos2 = 0, start2, len2;
		FUZZ_CHECK(sql_next_statement(one, with_end, &pos2, &start2, &len2));
		FUZZ_CHECK(start2 == 0 && len2 == slen);
		FUZZ_CHECK(!sql_next_statement(one, with_end, &pos2, &start2, &len2));
		check_facts(one, slen);
		free(one);
	}
	FUZZ_CHECK(pos == len);
	check_facts(text, len);
	check_digest(text, len, small);
	free(text);
	return 0;
}
