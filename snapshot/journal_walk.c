/*
 * journal_walk.c - records to transactions (journal_walk.h).
 *
 * The whole journal is always read, even when the range ends early: a
 * PREPARE is in doubt only if no record after it resolves it, and a
 * corrupt record anywhere must be reported.
 */
#include "journal_walk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void journal_format_time(uint64_t usec, char *out, size_t len)
{
	time_t sec = (time_t)(usec / 1000000u);
	struct tm tm;
	gmtime_r(&sec, &tm);
	char base[32];
	strftime(base, sizeof(base), "%Y-%m-%d %H:%M:%S", &tm);
	snprintf(out, len, "%s.%06u UTC", base, (unsigned)(usec % 1000000u));
}

/* Digits after a '.', as microseconds ("5" = 500000); false on junk. */
static bool parse_fraction(const char *p, uint64_t *usec)
{
	uint64_t v = 0, scale = 100000;
	if (!*p)
		return false;
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return false;
		v += (uint64_t)(*p - '0') * scale;
		scale /= 10;
	}
	*usec = v;
	return true;
}

bool journal_parse_time(const char *text, uint64_t *usec)
{
	uint64_t frac = 0;
	if (text[0] == '@') {
		char *end;
		unsigned long long sec = strtoull(text + 1, &end, 10);
		if (end == text + 1 || (*end && (*end != '.' || !parse_fraction(end + 1, &frac))))
			return false;
		*usec = (uint64_t)sec * 1000000u + frac;
		return true;
	}
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	const char *rest = strptime(text, "%Y-%m-%d %H:%M:%S", &tm);
	if (!rest)
		rest = strptime(text, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!rest)
		return false;
	if (*rest == '.') {
		if (!parse_fraction(rest + 1, &frac))
			return false;
	} else if (*rest && strcmp(rest, "Z") != 0 && strcmp(rest, " UTC") != 0) {
		return false;
	}
	time_t sec = timegm(&tm);
	if (sec < 0)
		return false;
	*usec = (uint64_t)sec * 1000000u + frac;
	return true;
}

struct walk {
	struct journal_walk_summary *sum;
	size_t cap;
};

static bool remember_prepare(struct walk *w, const struct journal_record *rec, const struct jtxn *t)
{
	struct journal_walk_summary *sum = w->sum;
	if (sum->nin_doubt == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 16;
		struct journal_in_doubt *p = realloc(sum->in_doubt, cap * sizeof(*p));
		if (!p)
			return false;
		sum->in_doubt = p;
		w->cap = cap;
	}
	struct journal_in_doubt *d = &sum->in_doubt[sum->nin_doubt++];
	*d = (struct journal_in_doubt){.seq = rec->seq,
				       .time_usec = rec->time_usec,
				       .run_id = t->run_id,
				       .session_id = t->session_id,
				       .txn_id = t->txn_id,
				       .nstmts = t->nstmts,
				       .marked = (t->flags & JTXN_MARKED) != 0};
	if (t->nstmts) {
		size_t n = t->stmts[0].len < sizeof(d->first_stmt) - 1 ? t->stmts[0].len : sizeof(d->first_stmt) - 1;
		memcpy(d->first_stmt, t->stmts[0].text, n);
		d->first_stmt[n] = '\0';
	}
	return true;
}

/* A COMMIT or ABORT names its PREPARE: no longer in doubt. Pending
 * PREPAREs are few (one per session at most, plus real doubts), and the
 * one resolved is almost always among the newest. */
static void resolve_prepare(struct journal_walk_summary *sum, uint64_t seq)
{
	for (size_t i = sum->nin_doubt; i-- > 0;) {
		if (sum->in_doubt[i].seq == seq) {
			memmove(&sum->in_doubt[i], &sum->in_doubt[i + 1], (sum->nin_doubt - i - 1) * sizeof(sum->in_doubt[0]));
			sum->nin_doubt--;
			return;
		}
	}
}

static bool in_range(const struct journal_walk_range *r, const struct journal_record *rec)
{
	return !r || rec->seq >= r->from_seq;
}

static bool past_range(const struct journal_walk_range *r, const struct journal_record *rec)
{
	return r && ((r->until_seq && rec->seq > r->until_seq) ||
		     (r->until_time_usec && rec->type == JREC_COMMIT && rec->time_usec > r->until_time_usec));
}

int journal_walk(const char *dir, const struct journal_walk_range *range, journal_commit_fn each, void *arg,
		 struct journal_walk_summary *sum, char *why, size_t why_len)
{
	memset(sum, 0, sizeof(*sum));
	struct walk w = {.sum = sum};
	struct journal_reader *r = journal_reader_open(dir, why, why_len);
	if (!r)
		return 2;
	int status = 0;
	bool calling = true;
	for (;;) {
		struct journal_record rec;
		enum journal_read st = journal_reader_next(r, &rec, why, why_len);
		if (st == JOURNAL_READ_END)
			break;
		if (st == JOURNAL_READ_ERROR) {
			status = 2;
			break;
		}
		if (st == JOURNAL_READ_CORRUPT) {
			status = 1;
			break;
		}
		if (sum->records == 0) {
			sum->first_seq = rec.seq;
			sum->first_time_usec = rec.time_usec;
		}
		sum->records++;
		sum->last_seq = rec.seq;
		sum->last_time_usec = rec.time_usec;
		struct jtxn t;
		char bad[256];
		if (!jtxn_decode(rec.payload, rec.len, &t, bad, sizeof(bad))) {
			snprintf(why, why_len, "%s: offset %llu, seq %llu: %s record: %s", rec.segment,
				 (unsigned long long)rec.offset, (unsigned long long)rec.seq, jrec_type_name(rec.type),
				 bad);
			status = 1;
			break;
		}
		bool ok = true;
		switch (rec.type) {
		case JREC_PREPARE:
			sum->prepares++;
			ok = remember_prepare(&w, &rec, &t);
			break;
		case JREC_COMMIT:
			sum->commits++;
			if (t.flags & JTXN_RESOLVED)
				sum->resolved++;
			if (t.prepare_seq)
				resolve_prepare(sum, t.prepare_seq);
			sum->statements += t.nstmts;
			for (size_t i = 0; i < t.nstmts; i++) {
				if (!t.stmts[i].unsafe)
					continue;
				sum->flagged++;
				for (int b = 0; b < SQL_UNSAFE_COUNT; b++)
					if (t.stmts[i].unsafe & (1u << b))
						sum->flagged_by_reason[b]++;
			}
			if (calling && past_range(range, &rec)) {
				calling = false;
				sum->stopped_early = true;
			}
			if (calling && each && in_range(range, &rec) && !each(arg, &rec, &t)) {
				calling = false;
				sum->stopped_early = true;
			}
			break;
		case JREC_CUT:
			sum->cuts++;
			break;
		case JREC_ABORT:
			sum->aborts++;
			if (t.prepare_seq)
				resolve_prepare(sum, t.prepare_seq);
			break;
		default:
			snprintf(why, why_len, "%s: offset %llu, seq %llu: unknown record type %u", rec.segment,
				 (unsigned long long)rec.offset, (unsigned long long)rec.seq, rec.type);
			status = 1;
			break;
		}
		jtxn_free_decoded(&t);
		if (!ok) {
			snprintf(why, why_len, "out of memory");
			status = 2;
		}
		if (status)
			break;
	}
	const char *seg = NULL;
	if (status == 0 && journal_reader_torn(r, &sum->torn_bytes, &seg, &sum->torn_offset)) {
		sum->torn = true;
		snprintf(sum->torn_segment, sizeof(sum->torn_segment), "%s", seg);
	}
	sum->segments = journal_reader_segments(r);
	journal_reader_close(r);
	return status;
}

void journal_walk_summary_free(struct journal_walk_summary *sum)
{
	free(sum->in_doubt);
	sum->in_doubt = NULL;
	sum->nin_doubt = 0;
}
