/*
 * admin_commands.c - what each admin command answers.
 *
 * Most answers are read on the main thread from state that is shared
 * already (the settings generation, the upstream pool under its lock, the
 * journal's and recorder's counters). Sessions and I/O counters belong to
 * the workers, unlocked: SHOW STATUS and SHOW SESSIONS ask every worker
 * with worker_call (an admin_gather), each worker copies what it has into
 * its own slot on its own thread (SHOW QUERY DIGESTS: a copy of its digest
 * table, merged here; RESET QUERY DIGESTS: it clears its table), and the
 * last one to finish posts the
 * gather back to the admin's mailbox, where the answer is written. The
 * admin connection waits in AS_GATHERING, unread, meanwhile; if it closed,
 * the answer is dropped. A gather belongs to the admin (its list), never
 * to a connection, so a worker never writes into freed memory.
 */
#include "admin_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "digests.h"
#include "gate.h"
#include "hooks.h"
#include "journal.h"
#include "log.h"
#include "recorder.h"
#include "session.h"
#include "snapshots.h"
#include "throttle.h"
#include "worker.h"

#ifndef ACCTGATE_VERSION
#define ACCTGATE_VERSION "unknown"
#endif

#define ER_UNKNOWN_ERROR 1105

/* ------------------------------------------------------------------------
 * Gathering from the workers
 * ------------------------------------------------------------------------ */

struct session_row {
	uint64_t id;
	char user[128];
	char database[256];
	char state[16];
	bool in_transaction;
	char peer[INET6_ADDRSTRLEN + 8];
};

struct worker_report {
	int nsessions;
	uint64_t commands;
	struct conn_stats stats;
	struct session_row *rows; /* SHOW SESSIONS only */
	size_t nrows;
	struct digest_table digests; /* SHOW QUERY DIGESTS only: a copy of the worker's */
	bool digests_copied;
};

struct admin_gather {
	struct admin *admin;
	struct admin_gather *prev, *next; /* the admin's list (main thread) */
	uint64_t conn_id;                 /* who waits; it may have gone */
	struct admin_command req;
	atomic_int pending;               /* workers yet to answer, plus one while posting */
	int nworkers;
	struct worker_report reports[];   /* by worker index */
};

static void gather_free(struct admin_gather *g)
{
	for (int i = 0; i < g->nworkers; i++) {
		free(g->reports[i].rows);
		if (g->reports[i].digests_copied)
			digest_table_free(&g->reports[i].digests);
	}
	free(g);
}

void admin_gathers_free(struct admin *a)
{
	while (a->gathers) {
		struct admin_gather *g = a->gathers;
		a->gathers = g->next;
		gather_free(g);
	}
}

static void gather_complete(struct admin_gather *g);

/* On the main thread, from the admin's mailbox. */
void admin_deliver(struct mail *m, void *arg)
{
	(void)arg;
	if (m->kind == MAIL_CALL)
		m->u.call.fn(NULL, m->u.call.arg);
	free(m);
}

static void gather_done_on_main(struct worker *unused, void *arg)
{
	(void)unused;
	gather_complete(arg);
}

/* The last one out hands the gather back to the main thread. */
static void gather_arrive(struct admin_gather *g, bool on_main)
{
	if (atomic_fetch_sub(&g->pending, 1) != 1)
		return;
	if (on_main) {
		gather_complete(g);
		return;
	}
	struct mail *m = calloc(1, sizeof(*m));
	if (!m) {
		/* The admin waits for its client's timeout; the gather is
		 * freed with the admin. */
		log_error("admin: out of memory answering from a worker");
		return;
	}
	m->kind = MAIL_CALL;
	m->u.call.fn = gather_done_on_main;
	m->u.call.arg = g;
	mailbox_post(&g->admin->mailbox, m);
}

/* On worker w's thread: copy what the admin asked for into its slot. */
static void gather_on_worker(struct worker *w, void *arg)
{
	struct admin_gather *g = arg;
	struct worker_report *r = &g->reports[w->index];
	r->nsessions = w->nsessions;
	r->commands = w->commands;
	r->stats = w->stats;
	struct digests *dg = g->admin->gate->digests;
	if (g->req.verb == ADMIN_SHOW_DIGESTS && dg)
		r->digests_copied = digests_copy(dg, w->index, &r->digests);
	if (g->req.verb == ADMIN_RESET_DIGESTS && dg)
		digests_reset(dg, w->index);
	if (g->req.verb == ADMIN_SHOW_SESSIONS && w->nsessions > 0) {
		r->rows = calloc((size_t)w->nsessions, sizeof(*r->rows));
		for (struct session *s = session_first(w); r->rows && s && r->nrows < (size_t)w->nsessions;
		     s = session_next(s)) {
			struct session_row *row = &r->rows[r->nrows++];
			row->id = session_id(s);
			snprintf(row->user, sizeof(row->user), "%s", session_user(s));
			snprintf(row->database, sizeof(row->database), "%s", session_database(s));
			snprintf(row->state, sizeof(row->state), "%s", session_state_label(s));
			row->in_transaction = session_in_transaction(s);
			snprintf(row->peer, sizeof(row->peer), "%s", session_peer(s));
		}
	}
	gather_arrive(g, false);
}

static void start_gather(struct admin_conn *ac, const struct admin_command *cmd)
{
	struct admin *a = ac->admin;
	struct gate *gt = a->gate;
	struct admin_gather *g = calloc(1, sizeof(*g) + (size_t)gt->nworkers * sizeof(struct worker_report));
	if (!g) {
		(void)admin_send_err(ac, ER_UNKNOWN_ERROR, "HY000", "acctgate admin: out of memory");
		return;
	}
	g->admin = a;
	g->conn_id = ac->id;
	g->req = *cmd;
	g->nworkers = gt->nworkers;
	atomic_init(&g->pending, gt->nworkers + 1);
	g->next = a->gathers;
	if (a->gathers)
		a->gathers->prev = g;
	a->gathers = g;
	ac->state = AS_GATHERING;
	conn_set_reading(ac->c, false);
	for (int i = 0; i < gt->nworkers; i++)
		if (!worker_call(gt->workers[i], gather_on_worker, g))
			gather_arrive(g, true); /* out of memory: that worker's slot stays empty */
	gather_arrive(g, true);
}

struct admin_conn *admin_find_conn(struct admin *a, uint64_t id)
{
	for (struct admin_conn *ac = a->conns; ac; ac = ac->next)
		if (ac->id == id)
			return ac;
	return NULL;
}

static void answer_status(struct admin_conn *ac, const struct admin_gather *g);
static void answer_sessions(struct admin_conn *ac, const struct admin_gather *g);
static void answer_digests(struct admin_conn *ac, const struct admin_gather *g);
static bool fail_oom(struct admin_conn *ac);

static void gather_complete(struct admin_gather *g)
{
	struct admin *a = g->admin;
	if (g->prev)
		g->prev->next = g->next;
	else
		a->gathers = g->next;
	if (g->next)
		g->next->prev = g->prev;
	struct admin_conn *ac = admin_find_conn(a, g->conn_id);
	if (ac && ac->state == AS_GATHERING) {
		switch (g->req.verb) {
		case ADMIN_SHOW_SESSIONS:
			answer_sessions(ac, g);
			break;
		case ADMIN_SHOW_DIGESTS:
			answer_digests(ac, g);
			break;
		case ADMIN_RESET_DIGESTS:
			if (!admin_send_ok(ac, "every worker forgot its digests"))
				fail_oom(ac);
			break;
		default:
			answer_status(ac, g);
			break;
		}
		admin_command_done(ac);
		admin_flush(ac);
	}
	gather_free(g);
}

/* ------------------------------------------------------------------------
 * The answers
 * ------------------------------------------------------------------------ */

static bool fail_oom(struct admin_conn *ac)
{
	admin_close(ac, "out of memory writing an answer");
	return false;
}

static const char *const pair_columns[] = {"name", "value"};

static void utc_time(uint64_t usec, char *buf, size_t len)
{
	if (!usec) {
		snprintf(buf, len, "none");
		return;
	}
	time_t t = (time_t)(usec / 1000000u);
	struct tm tm;
	gmtime_r(&t, &tm);
	size_t n = strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%06u UTC", (unsigned)(usec % 1000000u));
}

static const char *admin_tls_label(const struct admin *a)
{
	return a->tls_mode == CLIENT_TLS_REQUIRED ? "required" : a->tls_ctx ? "optional" : "disabled";
}

static void answer_status(struct admin_conn *ac, const struct admin_gather *g)
{
	struct admin *a = ac->admin;
	struct gate *gt = a->gate;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	int sessions = 0;
	uint64_t commands = 0, bytes_in = 0, bytes_out = 0;
	for (int i = 0; i < g->nworkers; i++) {
		sessions += g->reports[i].nsessions;
		commands += g->reports[i].commands;
		bytes_in += g->reports[i].stats.bytes_in;
		bytes_out += g->reports[i].stats.bytes_out;
	}
	int up = 0, down = 0, unknown = 0;
	pthread_mutex_lock(&gt->pool.lock);
	for (int i = 0; i < gt->pool.nservers; i++) {
		switch (gt->pool.servers[i].health) {
		case UPSTREAM_UP: up++; break;
		case UPSTREAM_DOWN: down++; break;
		default: unknown++; break;
		}
	}
	pthread_mutex_unlock(&gt->pool.lock);
	struct settings *st = gate_settings(gt);
	bool ok = admin_rs_begin(ac, pair_columns, 2) &&
		  admin_rs_pair(ac, "uptime", "%lld", (long long)(now.tv_sec - gt->started.tv_sec)) &&
		  admin_rs_pair(ac, "version", "%s", ACCTGATE_VERSION) &&
		  admin_rs_pair(ac, "sessions", "%d", sessions) &&
		  admin_rs_pair(ac, "connections_total", "%" PRIuFAST64, atomic_load(&gt->next_session_id));
	for (int i = 0; ok && i < g->nworkers; i++) {
		char name[32];
		snprintf(name, sizeof(name), "worker_%d_sessions", i);
		ok = admin_rs_pair(ac, name, "%d", g->reports[i].nsessions);
	}
	ok = ok && admin_rs_pair(ac, "queries", "%" PRIu64, commands) &&
	     admin_rs_pair(ac, "bytes_in", "%" PRIu64, bytes_in) && admin_rs_pair(ac, "bytes_out", "%" PRIu64, bytes_out) &&
	     admin_rs_pair(ac, "upstream_servers_up", "%d", up) &&
	     admin_rs_pair(ac, "upstream_servers_down", "%d", down) &&
	     admin_rs_pair(ac, "upstream_servers_unknown", "%d", unknown) &&
	     admin_rs_pair(ac, "client_tls", "%s", config_client_tls_name(st->cfg.client_tls)) &&
	     admin_rs_pair(ac, "upstream_tls", "%s", config_upstream_tls_name(st->cfg.upstream_tls)) &&
	     admin_rs_pair(ac, "admin_tls", "%s", admin_tls_label(a)) &&
	     admin_rs_pair(ac, "admin_connections", "%d", a->nconns) &&
	     admin_rs_pair(ac, "admin_logins_failed", "%" PRIu64, a->logins_failed);
	settings_release(st);
	struct journal_stats js;
	bool have_js = gt->recorder && recorder_journal_stats(gt->recorder, &js);
	ok = ok && admin_rs_pair(ac, "journal", "%s", gt->recorder ? "on" : "off");
	if (gt->recorder) {
		struct recorder_stats rs;
		recorder_get_stats(gt->recorder, &rs);
		if (have_js)
			ok = ok && admin_rs_pair(ac, "journal_last_sequence", "%" PRIu64, js.last_seq) &&
			     admin_rs_pair(ac, "journal_durable_sequence", "%" PRIu64, js.durable_seq) &&
			     admin_rs_pair(ac, "journal_segments", "%" PRIu64, js.segments) &&
			     admin_rs_pair(ac, "journal_fsyncs", "%" PRIu64, js.fsyncs);
		ok = ok && admin_rs_pair(ac, "journal_commits", "%" PRIu64, rs.commits) &&
		     admin_rs_pair(ac, "journal_in_doubt", "%" PRIu64, rs.in_doubt) &&
		     admin_rs_pair(ac, "journal_flagged", "%" PRIu64, rs.flagged) &&
		     admin_rs_pair(ac, "journal_refused", "%" PRIu64, rs.refused) &&
		     admin_rs_pair(ac, "journal_gaps", "%" PRIu64, rs.gaps);
	}
	ok = ok && admin_rs_pair(ac, "throttle", "%s", gt->throttle ? "on" : "off");
	if (gt->throttle) {
		struct throttle_counters tc;
		throttle_counters(gt->throttle, &tc);
		ok = ok && admin_rs_pair(ac, "throttle_coordination", "%s", tc.coordination) &&
		     admin_rs_pair(ac, "throttle_unadmitted", "%" PRIu64, tc.unadmitted) &&
		     admin_rs_pair(ac, "throttle_idle_releases", "%" PRIu64, tc.idle_releases) &&
		     admin_rs_pair(ac, "throttle_timeouts", "%" PRIu64, tc.timeouts) &&
		     admin_rs_pair(ac, "throttle_promoted", "%" PRIu64, tc.promoted);
	}
	ok = ok && admin_rs_pair(ac, "replays", "%" PRIu64, (uint64_t)atomic_load(&gt->replays)) &&
	     admin_rs_pair(ac, "replay_retries", "%" PRIu64, (uint64_t)atomic_load(&gt->replay_retries)) &&
	     admin_rs_pair(ac, "replays_failed", "%" PRIu64, (uint64_t)atomic_load(&gt->replays_failed)) &&
	     admin_rs_pair(ac, "replays_refused", "%" PRIu64, (uint64_t)atomic_load(&gt->replays_refused));
	struct snapshots_status ss;
	snapshots_status(gt->snapshots, &ss);
	if (ss.have_newest) {
		struct timespec wall;
		clock_gettime(CLOCK_REALTIME, &wall);
		uint64_t now_usec = (uint64_t)wall.tv_sec * 1000000u + (uint64_t)wall.tv_nsec / 1000u;
		ok = ok && admin_rs_pair(ac, "last_snapshot", "%s", ss.newest) &&
		     admin_rs_pair(ac, "last_snapshot_age_seconds", "%llu",
				   (unsigned long long)(now_usec > ss.newest_usec ? (now_usec - ss.newest_usec) / 1000000u : 0));
	} else {
		ok = ok && admin_rs_pair(ac, "last_snapshot", "none");
	}
	ok = ok && admin_rs_pair(ac, "snapshot_schedule", "%s", ss.schedule);
	if (ss.next) {
		char next[64];
		utc_time((uint64_t)ss.next * 1000000u, next, sizeof(next));
		ok = ok && admin_rs_pair(ac, "snapshot_next", "%s", next) &&
		     admin_rs_pair(ac, "snapshot_stale", "%s", ss.stale ? "yes" : "no");
	}
	if (ss.last_error[0])
		ok = ok && admin_rs_pair(ac, "snapshot_last_error", "%s", ss.last_error);
	ok = ok && admin_rs_end(ac);
	if (!ok)
		fail_oom(ac);
}

static void answer_sessions(struct admin_conn *ac, const struct admin_gather *g)
{
	static const char *const cols[] = {"id", "worker", "user", "database", "state", "in_transaction", "client"};
	bool ok = admin_rs_begin(ac, cols, 7);
	for (int i = 0; ok && i < g->nworkers; i++) {
		const struct worker_report *r = &g->reports[i];
		for (size_t k = 0; ok && k < r->nrows; k++) {
			const struct session_row *row = &r->rows[k];
			char id[24], worker[12];
			snprintf(id, sizeof(id), "%" PRIu64, row->id);
			snprintf(worker, sizeof(worker), "%d", i);
			const char *v[] = {id,	       worker, row->user, row->database[0] ? row->database : NULL,
					   row->state, row->in_transaction ? "yes" : "no", row->peer};
			ok = admin_rs_row(ac, v, 7);
		}
	}
	if (!(ok && admin_rs_end(ac)))
		fail_oom(ac);
}

/* Microseconds as milliseconds with three decimals. */
static void ms(uint64_t usec, char *buf, size_t len)
{
	snprintf(buf, len, "%" PRIu64 ".%03u", usec / 1000u, (unsigned)(usec % 1000u));
}

/* "1213:5 1205:2 other:1", most frequent first; "" without errors. */
static void error_codes(const struct digest_stats *st, char *buf, size_t len)
{
	size_t used = 0;
	buf[0] = '\0';
	for (unsigned i = 0; i < DIGEST_ERR_CODES && st->err[i].count && used < len; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s%u:%" PRIu64, used ? " " : "", st->err[i].code,
					 st->err[i].count);
	if (st->err_other && used < len)
		snprintf(buf + used, len - used, "%sother:%" PRIu64, used ? " " : "", st->err_other);
}

/* Every worker's copy merged (histograms bucket by bucket), ranked. */
static void answer_digests(struct admin_conn *ac, const struct admin_gather *g)
{
	static const char *const cols[] = {"digest",	"digest_text", "count",	  "errors",	   "error_codes",
					   "total_ms",	"mean_ms",     "p95_ms",  "max_ms",	   "rows_sent",
					   "rows_affected", "lock_waits", "first_seen", "last_seen"};
	enum { NCOLS = sizeof(cols) / sizeof(cols[0]) };
	size_t total = 0;
	for (int i = 0; i < g->nworkers; i++) {
		if (!g->reports[i].digests_copied) {
			(void)admin_send_err(ac, ER_UNKNOWN_ERROR, "HY000",
					     "acctgate admin: out of memory copying worker %d's digests", i);
			return;
		}
		total += g->reports[i].digests.n;
	}
	struct digest_table merged;
	struct digest_ranked *ranked = NULL;
	bool ok = digest_table_init(&merged, total ? total : 1);
	for (int i = 0; ok && i < g->nworkers; i++)
		ok = digest_table_merge(&merged, &g->reports[i].digests);
	if (ok && (ranked = malloc((merged.n ? merged.n : 1) * sizeof(*ranked))) == NULL)
		ok = false;
	if (!ok) {
		digest_table_free(&merged);
		(void)admin_send_err(ac, ER_UNKNOWN_ERROR, "HY000", "acctgate admin: out of memory merging digests");
		return;
	}
	digest_table_rank(&merged, g->req.order, ranked);
	size_t rows = merged.n < g->req.limit ? merged.n : g->req.limit;
	ok = admin_rs_begin(ac, cols, NCOLS);
	for (size_t k = 0; ok && k < rows; k++) {
		const struct digest_entry *e = ranked[k].e;
		const struct digest_stats *st = &e->st;
		char digest[20], count[24], errors[24], codes[128], total_ms[32], mean_ms[32], p95_ms[32], max_ms[32],
			sent[24], affected[24], waits[24], first[64], last[64];
		snprintf(digest, sizeof(digest), "%016" PRIx64, e->hash);
		snprintf(count, sizeof(count), "%" PRIu64, st->count);
		snprintf(errors, sizeof(errors), "%" PRIu64, st->errors);
		error_codes(st, codes, sizeof(codes));
		ms(st->total_usec, total_ms, sizeof(total_ms));
		ms(st->count ? st->total_usec / st->count : 0, mean_ms, sizeof(mean_ms));
		ms(digest_stats_p95(st), p95_ms, sizeof(p95_ms));
		ms(st->max_usec, max_ms, sizeof(max_ms));
		snprintf(sent, sizeof(sent), "%" PRIu64, st->rows_sent);
		snprintf(affected, sizeof(affected), "%" PRIu64, st->rows_affected);
		snprintf(waits, sizeof(waits), "%" PRIu64, st->lock_waits);
		utc_time(st->first_seen_usec, first, sizeof(first));
		utc_time(st->last_seen_usec, last, sizeof(last));
		const char *v[NCOLS] = {digest,	 e->text, count,  errors,   codes[0] ? codes : NULL,
					total_ms, mean_ms, p95_ms, max_ms,   sent,
					affected, waits,   first,  last};
		ok = admin_rs_row(ac, v, NCOLS);
	}
	free(ranked);
	digest_table_free(&merged);
	if (!(ok && admin_rs_end(ac)))
		fail_oom(ac);
}

static void answer_servers(struct admin_conn *ac)
{
	struct gate *gt = ac->admin->gate;
	static const char *const cols[] = {"server", "state", "failures", "backoff_seconds", "last_error"};
	struct upstream_server_state copy[CONFIG_MAX_SERVERS];
	pthread_mutex_lock(&gt->pool.lock);
	int n = gt->pool.nservers;
	memcpy(copy, gt->pool.servers, sizeof(copy[0]) * (size_t)n);
	pthread_mutex_unlock(&gt->pool.lock);
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	bool ok = admin_rs_begin(ac, cols, 5);
	for (int i = 0; ok && i < n; i++) {
		char failures[16], backoff[24];
		snprintf(failures, sizeof(failures), "%u", copy[i].failures);
		long long left = copy[i].health == UPSTREAM_DOWN ? (long long)(copy[i].retry_at - now.tv_sec) : 0;
		snprintf(backoff, sizeof(backoff), "%lld", left > 0 ? left : 0);
		const char *v[] = {copy[i].name, upstream_health_name(copy[i].health), failures, backoff,
				   copy[i].last_error[0] ? copy[i].last_error : NULL};
		ok = admin_rs_row(ac, v, 5);
	}
	if (!(ok && admin_rs_end(ac)))
		fail_oom(ac);
}

/* One row per class (cluster "*": the class's totals), then one per
 * cluster that used it. */
static void answer_throttle(struct admin_conn *ac)
{
	static const char *const cols[] = {"class",  "cluster",   "limit",	    "holding",	  "waiting",
					   "admitted", "waited", "timed_out", "wait_ms_max", "wait_ms_mean"};
	struct throttle *t = ac->admin->gate->throttle;
	bool ok = admin_rs_begin(ac, cols, 10);
	struct admission_cluster_stats cl[ADMISSION_CLUSTERS_MAX];
	struct throttle_class_stats cs;
	size_t ncl = 0;
	for (int c = 0; ok && t && throttle_class_stats(t, c, &cs, cl, ADMISSION_CLUSTERS_MAX, &ncl); c++) {
		char lim[16], hold[16], wait[16], adm[24], waited[24], tmo[24], mx[24];
		snprintf(lim, sizeof(lim), "%u", cs.adm.limit);
		snprintf(hold, sizeof(hold), "%u", cs.adm.holding);
		snprintf(wait, sizeof(wait), "%u", cs.adm.waiting);
		snprintf(adm, sizeof(adm), "%llu", (unsigned long long)cs.adm.admitted);
		snprintf(waited, sizeof(waited), "%llu", (unsigned long long)cs.adm.waited);
		snprintf(tmo, sizeof(tmo), "%llu", (unsigned long long)cs.adm.timed_out);
		snprintf(mx, sizeof(mx), "%llu", (unsigned long long)cs.adm.wait_ms_max);
		const char *v[] = {cs.name, "*", lim, hold, wait, adm, waited, tmo, mx, NULL};
		ok = admin_rs_row(ac, v, 10);
		for (size_t i = 0; ok && i < ncl; i++) {
			char mean[32];
			snprintf(hold, sizeof(hold), "%u", cl[i].holding);
			snprintf(wait, sizeof(wait), "%u", cl[i].waiting);
			snprintf(adm, sizeof(adm), "%llu", (unsigned long long)cl[i].admitted);
			snprintf(waited, sizeof(waited), "%llu", (unsigned long long)cl[i].waited);
			snprintf(tmo, sizeof(tmo), "%llu", (unsigned long long)cl[i].timed_out);
			snprintf(mx, sizeof(mx), "%llu", (unsigned long long)cl[i].wait_ms_max);
			/* Waits counted when they end: admitted ones. */
			uint64_t ended = cl[i].waited - cl[i].waiting - cl[i].timed_out;
			snprintf(mean, sizeof(mean), "%.1f", ended ? (double)cl[i].wait_ms_total / (double)ended : 0.0);
			const char *r[] = {cs.name, cl[i].name, lim, hold, wait, adm, waited, tmo, mx, mean};
			ok = admin_rs_row(ac, r, 10);
		}
	}
	if (!(ok && admin_rs_end(ac)))
		fail_oom(ac);
}

static void answer_journal(struct admin_conn *ac)
{
	struct gate *gt = ac->admin->gate;
	struct settings *st = gate_settings(gt);
	bool ok = admin_rs_begin(ac, pair_columns, 2) && admin_rs_pair(ac, "enabled", "%s", gt->recorder ? "yes" : "no") &&
		  admin_rs_pair(ac, "dir", "%s", st->cfg.journal_dir);
	settings_release(st);
	if (gt->recorder) {
		struct journal_stats js;
		if (recorder_journal_stats(gt->recorder, &js)) {
			char last_time[64];
			utc_time(js.last_time_usec, last_time, sizeof(last_time));
			ok = ok && admin_rs_pair(ac, "segments", "%" PRIu64, js.segments) &&
			     admin_rs_pair(ac, "first_sequence", "%" PRIu64, js.first_seq) &&
			     admin_rs_pair(ac, "last_sequence", "%" PRIu64, js.last_seq) &&
			     admin_rs_pair(ac, "last_time", "%s", last_time) &&
			     admin_rs_pair(ac, "durable_sequence", "%" PRIu64, js.durable_seq) &&
			     admin_rs_pair(ac, "records", "%" PRIu64, js.records) &&
			     admin_rs_pair(ac, "bytes", "%" PRIu64, js.bytes) &&
			     admin_rs_pair(ac, "fsyncs", "%" PRIu64, js.fsyncs) &&
			     admin_rs_pair(ac, "write_errors", "%" PRIu64, js.errors) &&
			     admin_rs_pair(ac, "last_errno", "%d", js.last_errno);
		}
		struct recorder_stats rs;
		recorder_get_stats(gt->recorder, &rs);
		ok = ok && admin_rs_pair(ac, "commits", "%" PRIu64, rs.commits) &&
		     admin_rs_pair(ac, "aborts", "%" PRIu64, rs.aborts) &&
		     admin_rs_pair(ac, "in_doubt", "%" PRIu64, rs.in_doubt) &&
		     admin_rs_pair(ac, "flagged", "%" PRIu64, rs.flagged) &&
		     admin_rs_pair(ac, "refused", "%" PRIu64, rs.refused) && admin_rs_pair(ac, "gaps", "%" PRIu64, rs.gaps) &&
		     admin_rs_pair(ac, "unrecorded", "%" PRIu64, rs.unrecorded) &&
		     admin_rs_pair(ac, "time_fixed", "%" PRIu64, rs.time_fixed) &&
		     admin_rs_pair(ac, "time_unfixed", "%" PRIu64, rs.time_unfixed) &&
		     admin_rs_pair(ac, "prepare_wait_us_mean", "%.0f",
				   rs.prepare_waits ? (double)rs.prepare_wait_usec / (double)rs.prepare_waits : 0.0) &&
		     admin_rs_pair(ac, "commit_wait_us_mean", "%.0f",
				   rs.commit_waits ? (double)rs.commit_wait_usec / (double)rs.commit_waits : 0.0);
	}
	if (!(ok && admin_rs_end(ac)))
		fail_oom(ac);
}

static void answer_config(struct admin_conn *ac)
{
	static const char *const cols[] = {"section", "key", "value", "reload"};
	struct settings *st = gate_settings(ac->admin->gate);
	bool ok = admin_rs_begin(ac, cols, 4);
	const char *section, *key;
	for (size_t i = 0; ok && config_key_at(i, &section, &key); i++) {
		char value[CONFIG_STR_MAX * 9];
		bool reloadable;
		(void)config_value_at(i, &st->cfg, value, sizeof(value), &reloadable);
		const char *v[] = {section, key, value, reloadable ? "reload" : "restart"};
		ok = admin_rs_row(ac, v, 4);
	}
	settings_release(st);
	if (!(ok && admin_rs_end(ac)))
		fail_oom(ac);
}

static void answer_help(struct admin_conn *ac)
{
	static const char *const cols[] = {"command", "description"};
	bool ok = admin_rs_begin(ac, cols, 2);
	const char *command, *description;
	for (size_t i = 0; ok && admin_help_at(i, &command, &description); i++) {
		const char *v[] = {command, description};
		ok = admin_rs_row(ac, v, 2);
	}
	if (!(ok && admin_rs_end(ac)))
		fail_oom(ac);
}

static void answer_reload(struct admin_conn *ac)
{
	char why[1024];
	char trigger[64];
	snprintf(trigger, sizeof(trigger), "admin RELOAD (admin %llu)", (unsigned long long)ac->id);
	bool ok = gate_reload(ac->admin->gate, trigger, why, sizeof(why))
			  ? admin_send_ok(ac, "reloaded: new sessions use the new configuration")
			  : admin_send_err(ac, ER_UNKNOWN_ERROR, "HY000", "reload refused, running configuration kept: %s",
					   why);
	if (!ok)
		fail_oom(ac);
}

void admin_run(struct admin_conn *ac, const struct admin_command *cmd)
{
	enum admin_verb verb = cmd->verb;
	switch (verb) {
	case ADMIN_HELP:
		answer_help(ac);
		break;
	case ADMIN_VERSION_COMMENT: {
		static const char *const cols[] = {"@@version_comment"};
		static const char *const row[] = {"acctgate admin port: HELP lists the commands"};
		if (!(admin_rs_begin(ac, cols, 1) && admin_rs_row(ac, row, 1) && admin_rs_end(ac)))
			fail_oom(ac);
		break;
	}
	case ADMIN_SHOW_STATUS:
	case ADMIN_SHOW_SESSIONS:
		start_gather(ac, cmd);
		break;
	case ADMIN_SHOW_DIGESTS:
	case ADMIN_RESET_DIGESTS:
		if (ac->admin->gate->digests)
			start_gather(ac, cmd);
		else if (!admin_send_err(ac, ER_UNKNOWN_ERROR, "HY000",
					 "acctgate admin: no digests are kept ([digests] max = 0)"))
			fail_oom(ac);
		break;
	case ADMIN_SHOW_SERVERS:
		answer_servers(ac);
		break;
	case ADMIN_SHOW_THROTTLE:
		answer_throttle(ac);
		break;
	case ADMIN_SHOW_JOURNAL:
		answer_journal(ac);
		break;
	case ADMIN_SHOW_SNAPSHOTS:
		admin_show_snapshots(ac);
		break;
	case ADMIN_SNAPSHOT:
		admin_snapshot(ac);
		break;
	case ADMIN_VERIFY_SNAPSHOT:
	case ADMIN_RESTORE_SNAPSHOT:
		admin_snapshot_task(ac, cmd);
		break;
	case ADMIN_DROP_SNAPSHOT:
		admin_drop_snapshot(ac, cmd);
		break;
	case ADMIN_SHOW_CONFIG:
		answer_config(ac);
		break;
	case ADMIN_RELOAD:
		answer_reload(ac);
		break;
	}
}
