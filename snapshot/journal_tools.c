/*
 * journal_tools.c - `journal verify` and `journal cat` (journal_tools.h).
 *
 * cat prints what mysqlbinlog prints for a statement binlog: the delimiter
 * is "/" "*!*" "/;" so that the ';' inside a stored procedure's body does
 * not end it, and each statement is preceded by the SET statements that
 * give it the context it had: session variables (when they changed),
 * the default database, the fixed timestamp, the insert id and the
 * session's LAST_INSERT_ID.
 */
#include "journal_tools.h"

#include <stdlib.h>
#include <string.h>

#define DELIM "/*!*/;"

static void print_summary(FILE *out, const char *dir, const struct journal_walk_summary *sum)
{
	char first[48], last[48];
	fprintf(out, "journal %s: %llu segments, %llu records\n", dir, (unsigned long long)sum->segments,
		(unsigned long long)sum->records);
	if (sum->records) {
		journal_format_time(sum->first_time_usec, first, sizeof(first));
		journal_format_time(sum->last_time_usec, last, sizeof(last));
		fprintf(out, "  first: seq %llu at %s\n  last:  seq %llu at %s\n", (unsigned long long)sum->first_seq,
			first, (unsigned long long)sum->last_seq, last);
	}
	fprintf(out, "  transactions: %llu committed (%llu statements), %llu not committed, %zu in doubt\n",
		(unsigned long long)sum->commits, (unsigned long long)sum->statements, (unsigned long long)sum->aborts,
		sum->nin_doubt);
	if (sum->resolved)
		fprintf(out, "  resolved at a start: %llu commits the server's markers showed committed\n",
			(unsigned long long)sum->resolved);
	fprintf(out, "  flagged statements: %llu\n", (unsigned long long)sum->flagged);
	for (int b = 0; b < SQL_UNSAFE_COUNT; b++)
		if (sum->flagged_by_reason[b])
			fprintf(out, "    %llu: %s\n", (unsigned long long)sum->flagged_by_reason[b],
				sql_unsafe_reason(1u << b));
	for (size_t i = 0; i < sum->nin_doubt; i++) {
		const struct journal_in_doubt *d = &sum->in_doubt[i];
		char when[48];
		journal_format_time(d->time_usec, when, sizeof(when));
		fprintf(out,
			"  in doubt: PREPARE seq %llu at %s, session %llu of run %llu, transaction %llu, %zu statements "
			"(first: %s): its commit was sent and its outcome never recorded; %s\n",
			(unsigned long long)d->seq, when, (unsigned long long)d->session_id,
			(unsigned long long)d->run_id, (unsigned long long)d->txn_id, d->nstmts, d->first_stmt,
			d->marked ? "acctgate resolves it at its next start with the server's marker"
				  : "check the database");
	}
	if (sum->torn)
		fprintf(out, "  torn tail: %llu bytes at offset %llu of %s (a write a crash cut short; acctgate "
			     "truncates it at its next start)\n",
			(unsigned long long)sum->torn_bytes, (unsigned long long)sum->torn_offset, sum->torn_segment);
}

int journal_verify(const char *dir, FILE *out, FILE *err)
{
	struct journal_walk_summary sum;
	char why[512] = "";
	int status = journal_walk(dir, NULL, NULL, NULL, &sum, why, sizeof(why));
	print_summary(out, dir, &sum);
	if (status == 0)
		fprintf(out, "OK\n");
	else
		fprintf(err, "acctgate: journal %s: %s\n", dir, why);
	journal_walk_summary_free(&sum);
	return status;
}

/* A quoted SQL string literal (backslash escapes, the server's default). */
static void print_quoted(FILE *out, const char *s)
{
	fputc('\'', out);
	for (; *s; s++) {
		if (*s == '\'' || *s == '\\')
			fputc('\\', out);
		fputc(*s, out);
	}
	fputc('\'', out);
}

struct cat {
	FILE *out;
	struct jtxn_context ctx; /* last printed */
	bool have_ctx;
	bool ts_fixed;
	uint64_t printed;
};

static bool same_context(const struct jtxn_context *a, const struct jtxn_context *b)
{
	return strcmp(a->sql_mode, b->sql_mode) == 0 && strcmp(a->time_zone, b->time_zone) == 0 &&
	       strcmp(a->character_set_client, b->character_set_client) == 0 &&
	       strcmp(a->collation_connection, b->collation_connection) == 0 &&
	       strcmp(a->collation_server, b->collation_server) == 0 &&
	       strcmp(a->lc_time_names, b->lc_time_names) == 0 && a->foreign_key_checks == b->foreign_key_checks &&
	       a->unique_checks == b->unique_checks && a->auto_increment_increment == b->auto_increment_increment &&
	       a->auto_increment_offset == b->auto_increment_offset && strcmp(a->database, b->database) == 0;
}

static void print_context(FILE *out, const struct jtxn_context *c)
{
	fputs("SET @@session.sql_mode=", out);
	print_quoted(out, c->sql_mode);
	fputs(", @@session.time_zone=", out);
	print_quoted(out, c->time_zone);
	fputs(", @@session.character_set_client=", out);
	print_quoted(out, c->character_set_client);
	fputs(", @@session.collation_connection=", out);
	print_quoted(out, c->collation_connection);
	fputs(", @@session.collation_server=", out);
	print_quoted(out, c->collation_server);
	fputs(", @@session.lc_time_names=", out);
	print_quoted(out, c->lc_time_names);
	fprintf(out,
		", @@session.foreign_key_checks=%u, @@session.unique_checks=%u, @@session.auto_increment_increment=%u, "
		"@@session.auto_increment_offset=%u" DELIM "\n",
		c->foreign_key_checks, c->unique_checks, c->auto_increment_increment, c->auto_increment_offset);
}

static bool cat_commit(void *arg, const struct journal_record *rec, const struct jtxn *t)
{
	struct cat *c = arg;
	FILE *out = c->out;
	char when[48];
	journal_format_time(rec->time_usec, when, sizeof(when));
	char clock[40] = "";
	if (t->clock)
		snprintf(clock, sizeof(clock), ", clock %llu", (unsigned long long)t->clock);
	fprintf(out, "-- seq %llu COMMIT at %s: session %llu of run %llu, transaction %llu, %zu statements%s%s\n",
		(unsigned long long)rec->seq, when, (unsigned long long)t->session_id, (unsigned long long)t->run_id,
		(unsigned long long)t->txn_id, t->nstmts, clock,
		(t->flags & JTXN_RESOLVED) ? ", resolved at a start from the server's marker" : "");
	if (t->ctx.known && (!c->have_ctx || !same_context(&c->ctx, &t->ctx))) {
		print_context(out, &t->ctx);
		c->ctx = t->ctx;
		c->have_ctx = true;
	}
	if (t->ctx.database[0]) {
		fputs("USE `", out);
		for (const char *p = t->ctx.database; *p; p++) {
			if (*p == '`')
				fputc('`', out);
			fputc(*p, out);
		}
		fputs("`" DELIM "\n", out);
	}
	fputs("START TRANSACTION" DELIM "\n", out);
	for (size_t i = 0; i < t->nstmts; i++) {
		const struct jstmt *st = &t->stmts[i];
		for (uint32_t b = 0; b < SQL_UNSAFE_COUNT; b++)
			if (st->unsafe & (1u << b))
				fprintf(out, "-- flagged: %s\n", sql_unsafe_reason(1u << b));
		char set[160];
		if (jstmt_context_set(st, &c->ts_fixed, set, sizeof(set)))
			fprintf(out, "%s" DELIM "\n", set);
		fwrite(st->text, 1, st->len, out);
		fputs("\n" DELIM "\n", out);
	}
	fputs("COMMIT" DELIM "\n", out);
	c->printed++;
	return true;
}

/* An in-doubt PREPARE, as comments: its statements, for the admin who
 * checks the database by hand. */
static void print_in_doubt(const char *dir, const struct journal_in_doubt *d, FILE *out)
{
	fprintf(out, "-- in doubt, not printed: PREPARE seq %llu (session %llu, transaction %llu)\n",
		(unsigned long long)d->seq, (unsigned long long)d->session_id, (unsigned long long)d->txn_id);
	struct jtxn t;
	uint8_t *buf = NULL;
	char why[256];
	if (!journal_read_prepare(dir, d->seq, &t, &buf, why, sizeof(why))) {
		fprintf(out, "-- in doubt:   (its statements cannot be read: %s)\n", why);
		return;
	}
	for (size_t i = 0; i < t.nstmts; i++) {
		fputs("-- in doubt:   ", out);
		for (size_t k = 0; k < t.stmts[i].len; k++) {
			char ch = t.stmts[i].text[k];
			if (ch == '\n' || ch == '\r')
				fputs("\n-- in doubt:   ", out);
			else
				fputc(ch, out);
		}
		fputc('\n', out);
	}
	jtxn_free_decoded(&t);
	free(buf);
}

int journal_cat(const char *dir, const struct journal_walk_range *range, FILE *out, FILE *err)
{
	struct cat c = {.out = out};
	struct journal_walk_summary sum;
	char why[512] = "";
	fputs("-- acctgate journal cat: run with the mariadb client\nDELIMITER " DELIM "\n", out);
	int status = journal_walk(dir, range, cat_commit, &c, &sum, why, sizeof(why));
	if (c.ts_fixed)
		fputs("SET timestamp=DEFAULT" DELIM "\n", out);
	fputs("DELIMITER ;\n", out);
	fprintf(out, "-- %llu transactions printed\n", (unsigned long long)c.printed);
	for (size_t i = 0; i < sum.nin_doubt; i++)
		print_in_doubt(dir, &sum.in_doubt[i], out);
	if (status != 0)
		fprintf(err, "acctgate: journal %s: %s\n", dir, why);
	journal_walk_summary_free(&sum);
	return status;
}
