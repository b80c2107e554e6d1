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

/* Commits wait here for the clock values before theirs (see journal_walk.h),
 * and commits without a clock for every clocked one read before them. */
struct waiting {
	uint64_t clock;   /* 0: none (a mid-query or implicit commit) */
	uint64_t after;   /* without a clock: the highest clock read before it */
	uint64_t arrival; /* read order, which breaks ties */
	struct journal_record rec; /* rec.payload points to payload */
	uint8_t *payload;
	char segment[64];
};

/* At most this many commits wait for a missing clock value (a commit a
 * crash left in doubt) before the walk goes on without it. */
#define CLOCK_WINDOW 4096

struct walk {
	struct journal_walk_summary *sum;
	size_t cap;
	const struct journal_walk_range *range;
	journal_commit_fn each;
	void *arg;
	bool calling;
	uint64_t run, want;         /* the run being ordered, and the clock value due next */
	uint64_t max_clock;         /* the highest clock value of the run read so far */
	uint64_t arrivals;
	struct waiting *wait;
	size_t nwait, wait_cap;
	bool oom;
	/* Per range undo: it applies, and its roll forward's end was met. */
	struct undo_state {
		bool applies, skipping;
	} *undo;
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

/* Does the undo matter to this range? Only when the range starts before
 * its cut (a later start never saw the undone commits) and ends past it
 * (an earlier end looks at the old branch as it was). */
static bool undo_applies(const struct journal_walk_range *r, const struct journal_undo *u)
{
	return r->from_seq <= u->cut_seq && (!r->until_seq || r->until_seq > u->cut_seq) &&
	       (!r->until_time_usec || r->until_time_usec >= u->cut_time_usec);
}

/* Is this commit one an in-place restore undid? The restore's roll
 * forward ended, in commit order, at the first commit past its range;
 * from there up to its cut everything is undone. The same test as
 * past_range, so the walk stops skipping exactly where that one stopped
 * delivering. */
static bool undone(struct walk *w, const struct journal_record *rec)
{
	bool skip = false;
	for (size_t i = 0; i < w->range->nundo; i++) {
		const struct journal_undo *u = &w->range->undo[i];
		struct undo_state *st = &w->undo[i];
		if (!st->applies || rec->seq > u->cut_seq)
			continue;
		const struct journal_walk_range end = {.until_seq = u->until_seq, .until_time_usec = u->until_time_usec};
		if (!st->skipping && past_range(&end, rec))
			st->skipping = true;
		if (st->skipping && rec->seq < w->range->from_seq) {
			w->sum->undone_start = true;
			w->sum->undone_cut_seq = u->cut_seq;
		}
		skip = skip || st->skipping;
	}
	return skip;
}

/* Hand one committed transaction to the caller, within the range. */
static void deliver(struct walk *w, const struct journal_record *rec, const struct jtxn *t)
{
	if (rec->type != JREC_COMMIT || !w->calling)
		return;
	/* The first commit past the range's end, in commit order, ends it:
	 * what is delivered is always a prefix of the commit order. */
	if (past_range(w->range, rec)) {
		w->calling = false;
		w->sum->stopped_early = true;
		return;
	}
	if (w->undo && undone(w, rec)) {
		if (w->sum->undone_start) {
			w->calling = false;
			w->sum->stopped_early = true;
		} else if (in_range(w->range, rec)) {
			w->sum->undone++;
		}
		return;
	}
	if (w->each && in_range(w->range, rec) && !w->each(w->arg, rec, t)) {
		w->calling = false;
		w->sum->stopped_early = true;
	}
}

static void deliver_waiting(struct walk *w, size_t i)
{
	struct waiting *x = &w->wait[i];
	struct jtxn t;
	char bad[128];
	if (jtxn_decode(x->payload, x->rec.len, &t, bad, sizeof(bad))) {
		x->rec.payload = x->payload;
		x->rec.segment = x->segment;
		deliver(w, &x->rec, &t);
		jtxn_free_decoded(&t);
	}
	free(x->payload);
	w->wait[i] = w->wait[--w->nwait];
}

/* Due: a clocked commit whose value is next, or one without a clock
 * once every value read before it has gone. */
static bool due(const struct walk *w, const struct waiting *x)
{
	return x->clock ? x->clock == w->want : x->after < w->want;
}

/* Deliver the waiting commits that are due, the earliest read first: a
 * clocked one before a commit without a clock read after it (that commit
 * was answered later: the only order known for it). */
static void drain_due(struct walk *w)
{
	for (;;) {
		size_t pick = w->nwait;
		for (size_t i = 0; i < w->nwait; i++)
			if (due(w, &w->wait[i]) && (pick == w->nwait || w->wait[i].arrival < w->wait[pick].arrival))
				pick = i;
		if (pick == w->nwait)
			return;
		bool clocked = w->wait[pick].clock != 0;
		deliver_waiting(w, pick);
		if (clocked)
			w->want++;
	}
}

/* Give up on the missing value: the smallest waiting one is next; with
 * only commits without a clock waiting, the value they wait for. */
static void skip_gap(struct walk *w)
{
	uint64_t low = 0, low_after = 0;
	for (size_t i = 0; i < w->nwait; i++) {
		const struct waiting *x = &w->wait[i];
		if (x->clock && (!low || x->clock < low))
			low = x->clock;
		if (!x->clock && (!low_after || x->after < low_after))
			low_after = x->after;
	}
	w->sum->clock_gaps++;
	w->want = low ? low : low_after + 1;
	drain_due(w);
}

static void flush_waiting(struct walk *w)
{
	while (w->nwait)
		skip_gap(w);
}

static void wait_for_turn(struct walk *w, const struct journal_record *rec, uint64_t clock)
{
	if (w->nwait == w->wait_cap) {
		size_t cap = w->wait_cap ? w->wait_cap * 2 : 64;
		struct waiting *p = realloc(w->wait, cap * sizeof(*p));
		if (!p) {
			w->oom = true;
			return;
		}
		w->wait = p;
		w->wait_cap = cap;
	}
	struct waiting *x = &w->wait[w->nwait];
	x->payload = malloc(rec->len ? rec->len : 1);
	if (!x->payload) {
		w->oom = true;
		return;
	}
	memcpy(x->payload, rec->payload, rec->len);
	x->rec = *rec;
	x->clock = clock;
	x->after = w->max_clock;
	x->arrival = w->arrivals++;
	snprintf(x->segment, sizeof(x->segment), "%s", rec->segment);
	w->nwait++;
	if (w->nwait > CLOCK_WINDOW)
		skip_gap(w);
}

/*
 * A COMMIT or ABORT in the order of its commit clock, not of its record:
 * the records follow the servers' answers, which conflicting commits can
 * send in either order (indoubt.h). A commit without a clock goes after
 * every clocked one read before it (a mid-query COMMIT that changed a row
 * an earlier clocked commit created must find it), at once if none waits.
 */
static void ordered(struct walk *w, const struct journal_record *rec, const struct jtxn *t)
{
	if (!t->clock) {
		if (w->nwait)
			wait_for_turn(w, rec, 0);
		else
			deliver(w, rec, t);
		return;
	}
	if (t->run_id != w->run) {
		/* A restart: what the earlier run left waiting comes first. */
		size_t before = w->sum->clock_gaps;
		flush_waiting(w);
		w->sum->clock_gaps = before;
		w->run = t->run_id;
		/* A run's clock starts at 1 (indoubt.c): the first value read
		 * may be a later one answered first. One far from 1 is a run
		 * whose start retention removed. */
		w->want = t->clock <= CLOCK_WINDOW ? 1 : t->clock;
		w->max_clock = 0;
	}
	if (t->clock > w->max_clock)
		w->max_clock = t->clock;
	if (t->clock < w->want) {
		deliver(w, rec, t);
		return;
	}
	if (t->clock == w->want) {
		deliver(w, rec, t);
		w->want++;
		drain_due(w);
		return;
	}
	wait_for_turn(w, rec, t->clock);
}

int journal_walk(const char *dir, const struct journal_walk_range *range, journal_commit_fn each, void *arg,
		 struct journal_walk_summary *sum, char *why, size_t why_len)
{
	memset(sum, 0, sizeof(*sum));
	struct walk w = {.sum = sum, .range = range, .each = each, .arg = arg, .calling = true};
	if (range && range->nundo) {
		w.undo = calloc(range->nundo, sizeof(*w.undo));
		if (!w.undo) {
			snprintf(why, why_len, "out of memory");
			return 2;
		}
		bool any = false;
		for (size_t i = 0; i < range->nundo; i++)
			any |= w.undo[i].applies = undo_applies(range, &range->undo[i]);
		if (!any) {
			free(w.undo);
			w.undo = NULL;
		}
	}
	struct journal_reader *r = journal_reader_open(dir, why, why_len);
	if (!r) {
		free(w.undo);
		return 2;
	}
	int status = 0;
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
			ordered(&w, &rec, &t);
			break;
		case JREC_CUT:
			sum->cuts++;
			break;
		case JREC_ABORT:
			sum->aborts++;
			if (t.prepare_seq)
				resolve_prepare(sum, t.prepare_seq);
			ordered(&w, &rec, &t);
			break;
		default:
			snprintf(why, why_len, "%s: offset %llu, seq %llu: unknown record type %u", rec.segment,
				 (unsigned long long)rec.offset, (unsigned long long)rec.seq, rec.type);
			status = 1;
			break;
		}
		jtxn_free_decoded(&t);
		if (!ok || w.oom) {
			snprintf(why, why_len, "out of memory");
			status = 2;
		}
		if (status)
			break;
	}
	/* The end: whatever waits for a value that never came. */
	if (status == 0) {
		size_t before = sum->clock_gaps;
		flush_waiting(&w);
		sum->clock_gaps = before;
	}
	for (size_t i = 0; i < w.nwait; i++)
		free(w.wait[i].payload);
	free(w.wait);
	free(w.undo);
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

bool journal_read_prepare(const char *dir, uint64_t seq, struct jtxn *t, uint8_t **buf, char *err, size_t err_len)
{
	err[0] = '\0';
	struct journal_reader *r = journal_reader_open(dir, err, err_len);
	if (!r)
		return false;
	journal_reader_seek(r, seq);
	struct journal_record rec;
	bool ok = false;
	while (journal_reader_next(r, &rec, err, err_len) == JOURNAL_READ_RECORD) {
		if (rec.seq < seq)
			continue;
		if (rec.seq == seq && rec.type == JREC_PREPARE && (*buf = malloc(rec.len ? rec.len : 1))) {
			memcpy(*buf, rec.payload, rec.len);
			ok = jtxn_decode(*buf, rec.len, t, err, err_len);
			if (!ok)
				free(*buf);
		}
		break;
	}
	if (!ok && !err[0])
		snprintf(err, err_len, "PREPARE seq %llu not found", (unsigned long long)seq);
	journal_reader_close(r);
	return ok;
}
