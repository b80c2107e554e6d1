/*
 * digests.c - see digests.h. What a session does, as this hook follows it:
 *
 *   before a command   COM_QUERY: copy its text, split it into statements
 *                      (sqltext.h), hash each one's digest; COM_STMT_EXECUTE:
 *                      one statement, its prepared text's digest; note the
 *                      time (the command leaves now: this is the last hook)
 *   each result end    the next statement ran: account it in the worker's
 *                      table (adding its digest text on a miss), and time the
 *                      next one from here. A CALL's own result sets come
 *                      before the OK that ends it: their rows are the CALL's.
 *                      An ERR, or an end without SERVER_MORE_RESULTS_EXISTS,
 *                      ends the command (the server runs nothing after an
 *                      error).
 *   prepare answered   keep the statement's digest (hash and text) under the
 *                      server's id, until COM_STMT_CLOSE or a reset
 */
#include "digests.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gate.h"
#include "hooks.h"
#include "log.h"
#include "session.h"
#include "sqltext.h"
#include "worker.h"

/* "CALL " is what every CALL's digest begins with (keywords upper-cased,
 * comments and quotes gone); 8 bytes of digest text are enough to see it. */
#define CALL_PREFIX "CALL "
#define PREFIX_CAP 8

struct digests {
	struct session_hooks hooks;
	int ntables;
	struct digest_table tables[]; /* by worker index, each only on its worker's thread */
};

/* One statement of the command in flight. */
struct dig_stmt {
	size_t start, len; /* in dig_session.text */
	uint64_t hash;
	bool call;
};

/* A statement the session prepared, until it closes it. */
struct dig_prepared {
	uint32_t id;
	uint64_t hash;
	bool call;
	char *text;        /* its digest text (normalised) */
	size_t len;
};

struct dig_session {
	/* The command in flight: COM_QUERY's own text (normalised = false), or
	 * a prepared statement's digest text (true). */
	char *text;
	size_t text_len;
	bool normalised;
	struct dig_stmt *st;
	size_t nst, st_cap, next;
	bool active;           /* results are expected for st[next] */
	uint64_t mark_usec;    /* when st[next] began: the command left, or st[next - 1] ended */
	uint64_t call_rows;    /* rows of a CALL's result sets so far */
	char *preparing;       /* COM_STMT_PREPARE's text, until its answer */
	size_t preparing_len;
	struct dig_prepared *prep;
	size_t nprep, prep_cap;
};

static uint64_t clock_usec(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* The digest's hash, and whether it is a CALL. */
static uint64_t hash_statement(const char *text, size_t len, bool *call)
{
	char prefix[PREFIX_CAP];
	uint64_t hash = sql_digest(text, len, prefix, sizeof(prefix));
	*call = strncmp(prefix, CALL_PREFIX, strlen(CALL_PREFIX)) == 0;
	return hash;
}

static struct dig_session *session_state(struct digests *d, struct session *s)
{
	void **slot = session_hook_data(s, &d->hooks);
	if (!slot)
		return NULL;
	if (!*slot)
		*slot = calloc(1, sizeof(struct dig_session));
	return *slot;
}

static struct dig_session *existing_state(struct digests *d, struct session *s)
{
	void **slot = session_hook_data(s, &d->hooks);
	return slot ? *slot : NULL;
}

static bool reserve_statements(struct dig_session *ds, size_t n)
{
	if (n <= ds->st_cap)
		return true;
	size_t cap = ds->st_cap ? ds->st_cap : 4;
	while (cap < n)
		cap *= 2;
	struct dig_stmt *p = realloc(ds->st, cap * sizeof(*p));
	if (!p)
		return false;
	ds->st = p;
	ds->st_cap = cap;
	return true;
}

static void set_text(struct dig_session *ds, char *text, size_t len, bool normalised)
{
	free(ds->text);
	ds->text = text;
	ds->text_len = len;
	ds->normalised = normalised;
	ds->nst = ds->next = 0;
	ds->call_rows = 0;
}

/* COM_QUERY: its statements. False when out of memory (not measured). */
static bool take_query(struct dig_session *ds, const struct hook_command *cmd)
{
	size_t len;
	char *text = hook_command_args(cmd, &len);
	if (!text)
		return false;
	set_text(ds, text, len, false);
	size_t pos = 0, start, slen;
	while (sql_next_statement(text, len, &pos, &start, &slen)) {
		if (!reserve_statements(ds, ds->nst + 1))
			return false;
		struct dig_stmt *st = &ds->st[ds->nst++];
		*st = (struct dig_stmt){.start = start, .len = slen};
		st->hash = hash_statement(text + start, slen, &st->call);
	}
	return true;
}

static struct dig_prepared *find_prepared(struct dig_session *ds, uint32_t id)
{
	for (size_t i = 0; i < ds->nprep; i++)
		if (ds->prep[i].id == id)
			return &ds->prep[i];
	return NULL;
}

static void drop_prepared(struct dig_session *ds, uint32_t id)
{
	struct dig_prepared *p = find_prepared(ds, id);
	if (!p)
		return;
	free(p->text);
	*p = ds->prep[--ds->nprep];
}

static void drop_all_prepared(struct dig_session *ds)
{
	while (ds->nprep)
		drop_prepared(ds, ds->prep[0].id);
}

/* The statement id a COM_STMT_EXECUTE or COM_STMT_CLOSE names (its first
 * four bytes after the code, in the first chunk even when the command is
 * larger than one); 0, which the server never gives, when too short. */
static uint32_t stmt_id_of(const struct hook_command *cmd)
{
	const size_t at = PROTO_HEADER_LEN + 1;
	if (cmd->payload_len < 5 || cmd->wire_len < at + 4)
		return 0;
	const uint8_t *p = cmd->wire + at;
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* COM_STMT_EXECUTE: one statement, its prepared text's digest. False when
 * the prepare was not seen (or memory ran out): not measured. */
static bool take_execute(struct dig_session *ds, const struct hook_command *cmd)
{
	struct dig_prepared *p = find_prepared(ds, stmt_id_of(cmd));
	if (!p || !reserve_statements(ds, 1))
		return false;
	char *text = malloc(p->len ? p->len : 1);
	if (!text)
		return false;
	memcpy(text, p->text, p->len);
	set_text(ds, text, p->len, true);
	ds->st[0] = (struct dig_stmt){.start = 0, .len = p->len, .hash = p->hash, .call = p->call};
	ds->nst = 1;
	return true;
}

static enum hook_verdict before_command(void *arg, struct session *s, const struct hook_command *cmd,
					struct hook_answer *answer)
{
	struct digests *d = arg;
	struct dig_session *ds = session_state(d, s);
	if (!ds)
		return HOOK_FORWARD;
	ds->active = false;
	switch (cmd->code) {
	case COM_QUERY:
		ds->active = take_query(ds, cmd);
		break;
	case COM_STMT_EXECUTE:
		ds->active = take_execute(ds, cmd);
		break;
	case COM_STMT_PREPARE:
		free(ds->preparing);
		ds->preparing = hook_command_args(cmd, &ds->preparing_len);
		break;
	case COM_STMT_CLOSE:
		drop_prepared(ds, stmt_id_of(cmd));
		break;
	case COM_CHANGE_USER:
	case COM_RESET_CONNECTION:
		/* The server closes every prepared statement. */
		drop_all_prepared(ds);
		break;
	default:
		break;
	}
	if (ds->active)
		ds->mark_usec = clock_usec(CLOCK_MONOTONIC);
	return HOOK_FORWARD;
}

static void on_prepare_ok(void *arg, struct session *s, uint32_t stmt_id, uint16_t nparams)
{
	struct digests *d = arg;
	struct dig_session *ds = existing_state(d, s);
	if (!ds || !ds->preparing)
		return;
	drop_prepared(ds, stmt_id); /* a reused id: the server closed the old one */
	if (ds->nprep == ds->prep_cap) {
		size_t cap = ds->prep_cap ? ds->prep_cap * 2 : 4;
		struct dig_prepared *p = realloc(ds->prep, cap * sizeof(*p));
		if (!p)
			return;
		ds->prep = p;
		ds->prep_cap = cap;
	}
	char norm[DIGEST_TEXT_MAX];
	uint64_t hash = sql_digest(ds->preparing, ds->preparing_len, norm, sizeof(norm));
	size_t len = strlen(norm);
	char *text = malloc(len + 1);
	if (!text)
		return;
	memcpy(text, norm, len + 1);
	ds->prep[ds->nprep++] = (struct dig_prepared){.id = stmt_id,
						      .hash = hash,
						      .call = strncmp(norm, CALL_PREFIX, strlen(CALL_PREFIX)) == 0,
						      .text = text,
						      .len = len};
	free(ds->preparing);
	ds->preparing = NULL;
}

/* Statement st ran and ended with end: into the worker's table. */
static void account(struct digests *d, struct session *s, struct dig_session *ds, const struct dig_stmt *st,
		    const struct proto_result_end *end, uint64_t now)
{
	int w = session_worker(s)->index;
	if (w < 0 || w >= d->ntables)
		return;
	struct digest_table *t = &d->tables[w];
	struct digest_entry *e = digest_table_touch(t, st->hash);
	if (!e) {
		const char *text = ds->text + st->start;
		size_t len = st->len;
		char norm[DIGEST_TEXT_MAX];
		if (!ds->normalised) {
			(void)sql_digest(text, len, norm, sizeof(norm));
			text = norm;
			len = strlen(norm);
		}
		e = digest_table_add(t, st->hash, text, len);
		if (!e)
			return; /* out of memory: this statement goes uncounted */
		if (t->evicted == 1)
			log_notice("digests: worker %d holds [digests] max = %zu digests: the least recently used are "
				   "forgotten from now on (logged once)",
				   w, t->max);
	}
	struct digest_sample sample = {
		.latency_usec = now - ds->mark_usec,
		.rows_sent = end->rows + ds->call_rows,
		.rows_affected = end->kind == END_OK && !end->result_set ? end->affected_rows : 0,
		.err_code = end->kind == END_ERR ? end->err_code : 0,
		.now_usec = clock_usec(CLOCK_REALTIME),
	};
	digest_stats_add(&e->st, &sample);
}

static void on_result_end(void *arg, struct session *s, const struct proto_result_end *end)
{
	struct digests *d = arg;
	struct dig_session *ds = existing_state(d, s);
	if (!ds || !ds->active)
		return;
	if (ds->next >= ds->nst) {
		/* More results than statements counted: nothing to put them under. */
		ds->active = false;
		return;
	}
	const struct dig_stmt *st = &ds->st[ds->next];
	if (st->call && end->result_set) {
		ds->call_rows += end->rows;
		return;
	}
	uint64_t now = clock_usec(CLOCK_MONOTONIC);
	account(d, s, ds, st, end, now);
	ds->next++;
	ds->call_rows = 0;
	ds->mark_usec = now;
	if (end->kind == END_ERR || !(end->status_flags & SERVER_MORE_RESULTS_EXISTS))
		ds->active = false;
}

static void on_session_end(void *arg, struct session *s)
{
	struct digests *d = arg;
	void **slot = session_hook_data(s, &d->hooks);
	struct dig_session *ds = slot ? *slot : NULL;
	if (!ds)
		return;
	drop_all_prepared(ds);
	free(ds->prep);
	free(ds->preparing);
	free(ds->st);
	free(ds->text);
	free(ds);
	*slot = NULL;
}

struct digests *digests_new(struct gate *g, const struct config *cfg, char *err, size_t err_len)
{
	struct digests *d = calloc(1, sizeof(*d) + (size_t)cfg->threads * sizeof(struct digest_table));
	if (!d) {
		snprintf(err, err_len, "digests: out of memory");
		return NULL;
	}
	for (; d->ntables < cfg->threads; d->ntables++) {
		if (!digest_table_init(&d->tables[d->ntables], (size_t)cfg->digests_max)) {
			digests_free(d);
			snprintf(err, err_len, "digests: out of memory");
			return NULL;
		}
	}
	d->hooks = (struct session_hooks){
		.name = "digests",
		.arg = d,
		.before_command = before_command,
		.on_result_end = on_result_end,
		.on_prepare_ok = on_prepare_ok,
		.on_session_end = on_session_end,
	};
	if (!gate_add_hooks(g, &d->hooks)) {
		digests_free(d);
		snprintf(err, err_len, "digests: the session layer's hook table is full (%d)", HOOKS_MAX);
		return NULL;
	}
	return d;
}

void digests_free(struct digests *d)
{
	if (!d)
		return;
	for (int i = 0; i < d->ntables; i++)
		digest_table_free(&d->tables[i]);
	free(d);
}

bool digests_copy(struct digests *d, int worker, struct digest_table *out)
{
	if (worker < 0 || worker >= d->ntables)
		return false;
	const struct digest_table *t = &d->tables[worker];
	if (!digest_table_init(out, t->n))
		return false;
	if (digest_table_merge(out, t))
		return true;
	digest_table_free(out);
	return false;
}

bool digests_slow(struct digests *d, int worker, uint64_t hash, uint64_t p95_usec, uint64_t min_count)
{
	if (worker < 0 || worker >= d->ntables)
		return false;
	const struct digest_entry *e = digest_table_touch(&d->tables[worker], hash);
	return e && e->st.count >= min_count && digest_stats_p95(&e->st) >= p95_usec;
}

void digests_reset(struct digests *d, int worker)
{
	if (worker >= 0 && worker < d->ntables)
		digest_table_clear(&d->tables[worker]);
}
