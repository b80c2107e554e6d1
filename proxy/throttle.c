/*
 * throttle.c - see throttle.h.
 *
 * Threads: sessions live on the workers; the admission queue is one for
 * the process, behind one mutex, taken only at a heavy transaction's
 * start and end (a few per second), never per statement of the others.
 * A slot freed on one worker admits a waiter that may live on another: the
 * admission is handed to that worker (worker_call) and the session found
 * there by id, so that session_release runs on the session's own thread.
 * Each session's timer (its queue timeout while waiting, its idle release
 * while holding) lives on its worker's event base.
 */
#include "throttle.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "coord.h"
#include "digests.h"
#include "gate.h"
#include "hooks.h"
#include "log.h"
#include "ratelimit.h"
#include "sqltext.h"
#include "worker.h"

#define ER_UNKNOWN_ERROR 1105
#define THROTTLE_PATTERNS_MAX 32
/* A command's statements looked at for a heavy one, at most. */
#define THROTTLE_STATEMENTS_MAX 16
/* Waiters a freed slot admits at once, at most (more: the next release). */
#define THROTTLE_ADMIT_BATCH 16

/* A class of transactions sharing one admission queue. */
struct throttle_class {
	const char *name;
	unsigned limit;
	struct admission *adm; /* under the throttle's lock */
	char patterns[THROTTLE_PATTERNS_MAX][CONFIG_STR_MAX];
	size_t npatterns;
};

/* A promoted digest is logged once; at most this many are remembered. */
#define PROMOTED_LOG_MAX 256
/* Runs of a digest before its p95 counts for promotion. */
#define PROMOTE_MIN_COUNT 5
#define THROTTLE_BULK 1

struct throttle {
	struct session_hooks hooks;
	pthread_mutex_t lock;
	struct throttle_class classes[THROTTLE_CLASSES];
	struct coord *coord;   /* NULL: the limits hold in this acctgate only */
	struct ratelimit *rate; /* [throttle] cluster_rate, under lock; NULL = off */
	unsigned rate_per_second;
	uint64_t queue_timeout_ms, idle_release_ms;
	/* [throttle] promote_p95_ms: a digest that slow (by the digests
	 * module's figures on the session's worker) is bulk; 0 = off. */
	uint64_t promote_usec;
	struct gate *gate;
	uint64_t promoted_logged[PROMOTED_LOG_MAX]; /* digests whose promotion was logged (lock) */
	size_t npromoted_logged;
	atomic_uint_fast64_t unadmitted, idle_releases, timeouts, promoted;
	atomic_bool refused_logged;
};

enum ts_state {
	TS_NONE,    /* no slot, not waiting */
	TS_RATED,   /* its command is held until its cluster's rate lets it start */
	TS_WAITING, /* its command is held until admitted or timed out */
	TS_GLOBAL,  /* admitted here, its command held for the slot shared with other acctgates (coord.h) */
	TS_HOLDING, /* its transaction holds a slot */
};

struct ts_session {
	struct throttle *t;
	struct session *s;
	uint64_t id;
	enum ts_state state;
	int cls;              /* the class it waits for or holds */
	int slot;             /* the coordinated slot it holds (coord.h), -1 for none */
	bool lockfree;        /* its open transaction has run nothing that takes row locks */
	bool held_locks;      /* TS_RATED: what its held command runs takes row locks */
	uint64_t rated_us;    /* TS_RATED: how long it waits */
	char cluster[ADMISSION_CLUSTER_NAME_MAX];
	struct event *timer;
};

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t now_ms(void)
{
	return now_us() / 1000u;
}

static void arm(struct ts_session *ts, uint64_t ms)
{
	struct timeval tv = {(time_t)(ms / 1000u), (suseconds_t)(ms % 1000u) * 1000};
	evtimer_add(ts->timer, &tv);
}

/* ------------------------------------------------------------------------
 * Classification
 * ------------------------------------------------------------------------ */

/* The first class (heavy before bulk) one of whose patterns the
 * statement's digest matches, or THROTTLE_CLASSES. */
static int statement_class(struct throttle *t, const char *text, size_t len, int worker)
{
	char digest[1024];
	uint64_t hash = sql_digest(text, len, digest, sizeof(digest));
	for (int c = 0; c < THROTTLE_CLASSES; c++)
		for (size_t i = 0; i < t->classes[c].npatterns; i++)
			if (sql_digest_matches(t->classes[c].patterns[i], digest))
				return c;
	if (!t->promote_usec || !t->gate->digests ||
	    !digests_slow(t->gate->digests, worker, hash, t->promote_usec, PROMOTE_MIN_COUNT))
		return THROTTLE_CLASSES;
	atomic_fetch_add(&t->promoted, 1);
	pthread_mutex_lock(&t->lock);
	bool logged = false;
	for (size_t i = 0; i < t->npromoted_logged && !logged; i++)
		logged = t->promoted_logged[i] == hash;
	if (!logged && t->npromoted_logged < PROMOTED_LOG_MAX)
		t->promoted_logged[t->npromoted_logged++] = hash;
	pthread_mutex_unlock(&t->lock);
	if (!logged) {
		char shown[sizeof(digest) * 4];
		log_escape(digest, strlen(digest), shown, sizeof(shown));
		log_notice("throttle: digest promoted to bulk, its p95 latency is %llu ms or more "
			   "(promote_p95_ms): %s",
			   (unsigned long long)(t->promote_usec / 1000u), shown);
	}
	return THROTTLE_BULK;
}

/* The command's class: the first class any of its statements is in (a
 * transaction that begins with a rollup and touches an association is
 * heavy), THROTTLE_CLASSES for none. A command too large to be contiguous
 * (16 MiB and more) is not looked into: it goes as it is. */
static int command_class(struct throttle *t, const struct hook_command *cmd, int worker)
{
	if (cmd->code != COM_QUERY || !cmd->args)
		return THROTTLE_CLASSES;
	const char *text = (const char *)cmd->args;
	size_t pos = 0, start, len;
	int best = THROTTLE_CLASSES;
	for (int i = 0; i < THROTTLE_STATEMENTS_MAX && best > 0 &&
			sql_next_statement(text, cmd->args_len, &pos, &start, &len);
	     i++) {
		int c = statement_class(t, text + start, len, worker);
		if (c < best)
			best = c;
	}
	return best;
}

/* Whether a statement may take row locks: anything but a plain read
 * (a consistent read takes none), SHOW, SET, USE, BEGIN and savepoints. */
static bool statement_locks(const char *text, size_t len)
{
	struct sql_facts f;
	sql_analyse(text, len, &f);
	switch (f.kind) {
	case SQL_SELECT:
		return f.for_update;
	case SQL_SHOW:
	case SQL_SET:
	case SQL_SET_TRANSACTION:
	case SQL_USE:
	case SQL_BEGIN:
	case SQL_SAVEPOINT:
		return false;
	default:
		return true;
	}
}

static bool command_locks(const struct hook_command *cmd)
{
	if (cmd->code == COM_STMT_EXECUTE)
		return true; /* its text is the recorder's business; assume it writes */
	if (cmd->code != COM_QUERY)
		return false;
	if (!cmd->args)
		return true;
	const char *text = (const char *)cmd->args;
	size_t pos = 0, start, len;
	while (sql_next_statement(text, cmd->args_len, &pos, &start, &len))
		if (statement_locks(text + start, len))
			return true;
	return false;
}

/* ------------------------------------------------------------------------
 * Slots between workers
 * ------------------------------------------------------------------------ */

struct admit_call {
	struct throttle *t;
	uint64_t id;
};

static struct ts_session *ts_of(struct throttle *t, struct session *s)
{
	void **slot = session_hook_data(s, &t->hooks);
	return slot ? *slot : NULL;
}

/* Admitted here: with coordination, it waits on for the shared slot
 * (true: TS_GLOBAL, its command still held). */
static bool wait_global(struct ts_session *ts)
{
	struct throttle *t = ts->t;
	if (!t->coord || !coord_acquire(t->coord, ts->cls, ts->id, session_worker(ts->s)))
		return false;
	ts->state = TS_GLOBAL;
	return true;
}

struct global_call {
	struct throttle *t;
	uint64_t id;
	int cls, slot;
};

/* On the session's worker: the shared slot is there, or nobody wants it
 * any more (the wait timed out, the session ended): given back. */
static void global_on_worker(struct worker *w, void *arg)
{
	struct global_call *g = arg;
	struct session *s = session_find(w, g->id);
	struct ts_session *ts = s ? ts_of(g->t, s) : NULL;
	if (ts && ts->state == TS_GLOBAL && ts->cls == g->cls) {
		evtimer_del(ts->timer);
		ts->slot = g->slot;
		ts->state = TS_HOLDING;
		session_release(ts->s);
	} else {
		coord_release(g->t->coord, g->cls, g->slot);
	}
	free(g);
}

/* On the coordination thread. */
static void on_global_grant(void *arg, void *owner, uint64_t ticket, int cls, int slot)
{
	struct throttle *t = arg;
	struct global_call *g = malloc(sizeof(*g));
	if (g)
		*g = (struct global_call){t, ticket, cls, slot};
	if (!g || !worker_call(owner, global_on_worker, g)) {
		free(g);
		coord_release(t->coord, cls, slot);
		log_error("throttle: out of memory handing a shared slot to session %llu; it waits until its queue "
			  "timeout",
			  (unsigned long long)ticket);
	}
}

/* On the waiter's worker: its slot is there. */
static void admit_on_worker(struct worker *w, void *arg)
{
	struct admit_call *c = arg;
	struct session *s = session_find(w, c->id);
	struct ts_session *ts = s ? ts_of(c->t, s) : NULL;
	if (ts && ts->state == TS_WAITING && !wait_global(ts)) {
		evtimer_del(ts->timer);
		ts->state = TS_HOLDING;
		session_release(s);
	}
	/* A session gone meanwhile gave its slot back when it ended. */
	free(c);
}

static void hand_over(struct throttle *t, struct throttle_class *cl, const struct admission_waiter *admitted, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct admit_call *c = malloc(sizeof(*c));
		if (c)
			*c = (struct admit_call){t, admitted[i].id};
		if (!c || !worker_call(admitted[i].owner, admit_on_worker, c)) {
			free(c);
			/* Nobody will tell that session: give the slot back
			 * rather than lose it. */
			log_error("throttle: cannot hand a %s slot to session %llu (out of memory); it waits until its "
				  "queue timeout",
				  cl->name, (unsigned long long)admitted[i].id);
			pthread_mutex_lock(&t->lock);
			struct admission_waiter more[THROTTLE_ADMIT_BATCH];
			size_t m = admission_leave(cl->adm, admitted[i].id, false, now_ms(), more, THROTTLE_ADMIT_BATCH);
			pthread_mutex_unlock(&t->lock);
			hand_over(t, cl, more, m);
		}
	}
}

/* The session leaves its class's queue or gives its slot back; waiters
 * get the slot. */
static void leave_class(struct ts_session *ts)
{
	struct throttle *t = ts->t;
	struct throttle_class *cl = &t->classes[ts->cls];
	evtimer_del(ts->timer);
	if (ts->state == TS_GLOBAL)
		coord_cancel(t->coord, ts->id);
	if (ts->slot >= 0)
		coord_release(t->coord, ts->cls, ts->slot);
	ts->slot = -1;
	ts->state = TS_NONE;
	struct admission_waiter admitted[THROTTLE_ADMIT_BATCH];
	pthread_mutex_lock(&t->lock);
	size_t n = admission_leave(cl->adm, ts->id, false, now_ms(), admitted, THROTTLE_ADMIT_BATCH);
	pthread_mutex_unlock(&t->lock);
	hand_over(t, cl, admitted, n);
}

/* ------------------------------------------------------------------------
 * Timers: the queue timeout, the idle release
 * ------------------------------------------------------------------------ */

static enum hook_verdict admit(struct ts_session *ts, int c, bool locks);

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct ts_session *ts = arg;
	struct throttle *t = ts->t;
	if (ts->state == TS_RATED) {
		/* Its start came: on to its class, if it has one. */
		ts->state = TS_NONE;
		pthread_mutex_lock(&t->lock);
		ratelimit_wait_over(t->rate, ts->cluster, ts->rated_us, false);
		pthread_mutex_unlock(&t->lock);
		if (admit(ts, ts->cls, ts->held_locks) == HOOK_FORWARD)
			session_release(ts->s);
		return;
	}
	if (ts->state == TS_HOLDING) {
		atomic_fetch_add(&t->idle_releases, 1);
		log_notice("throttle: session %llu (%s@%s) left its %s transaction idle for %llu ms: its slot goes to "
			   "the next ([throttle] idle_release)",
			   (unsigned long long)ts->id, session_user(ts->s), session_database(ts->s),
			   t->classes[ts->cls].name, (unsigned long long)t->idle_release_ms);
		leave_class(ts);
		return;
	}
	struct throttle_class *cl = &t->classes[ts->cls];
	if (ts->state == TS_GLOBAL) {
		/* Admitted here, but the other acctgates' holders kept the
		 * shared slots: this one's local slot goes on to the next. */
		leave_class(ts);
	} else if (ts->state == TS_WAITING) {
		pthread_mutex_lock(&t->lock);
		bool admitted = admission_holds(cl->adm, ts->id);
		if (!admitted)
			admission_leave(cl->adm, ts->id, true, now_ms(), NULL, 0);
		pthread_mutex_unlock(&t->lock);
		if (admitted)
			return; /* admit_on_worker is on its way */
		ts->state = TS_NONE;
	} else {
		return;
	}
	atomic_fetch_add(&t->timeouts, 1);
	log_warning("throttle: session %llu (%s@%s) waited %llu ms for a %s slot; its command is answered with an "
		    "error ([throttle] queue_timeout)",
		    (unsigned long long)ts->id, session_user(ts->s), session_database(ts->s),
		    (unsigned long long)t->queue_timeout_ms, cl->name);
	struct hook_answer ans = {.code = ER_UNKNOWN_ERROR, .sql_state = "HY000"};
	snprintf(ans.message, sizeof(ans.message),
		 "acctgate: waited %llu s for a %s-transaction slot ([throttle] %s_limit = %u, all busy); the "
		 "statement did not run, try again",
		 (unsigned long long)(t->queue_timeout_ms / 1000u), cl->name, cl->name, cl->limit);
	session_release_error(ts->s, &ans);
}

/* ------------------------------------------------------------------------
 * Hooks
 * ------------------------------------------------------------------------ */

static struct ts_session *ts_get(struct throttle *t, struct session *s)
{
	void **slot = session_hook_data(s, &t->hooks);
	if (!slot)
		return NULL;
	if (*slot)
		return *slot;
	struct ts_session *ts = calloc(1, sizeof(*ts));
	if (!ts)
		return NULL;
	ts->t = t;
	ts->s = s;
	ts->id = session_id(s);
	ts->slot = -1;
	ts->timer = evtimer_new(session_worker(s)->base, on_timer, ts);
	if (!ts->timer) {
		free(ts);
		return NULL;
	}
	*slot = ts;
	return ts;
}

static enum hook_verdict wait_for_rate(struct ts_session *ts, int c, const struct hook_command *cmd,
				       struct hook_answer *answer);

/* Its cluster's name as of now (USE and COM_INIT_DB move a session to
 * another), only where a queue or a rate needs it. */
static void name_cluster(struct ts_session *ts)
{
	snprintf(ts->cluster, sizeof(ts->cluster), "%s@%s", session_user(ts->s), session_database(ts->s));
}

static enum hook_verdict before_command(void *arg, struct session *s, const struct hook_command *cmd,
					struct hook_answer *answer)
{
	struct throttle *t = arg;
	struct ts_session *ts = ts_get(t, s);
	if (!ts)
		return HOOK_FORWARD;
	if (ts->state == TS_HOLDING) {
		evtimer_del(ts->timer); /* busy again: not idle */
		return HOOK_FORWARD;
	}
	if (!session_in_transaction(s))
		ts->lockfree = true;
	int c = command_class(t, cmd, session_worker(s)->index);
	if (t->rate && !session_in_transaction(s) && (cmd->code == COM_QUERY || cmd->code == COM_STMT_EXECUTE)) {
		name_cluster(ts);
		enum hook_verdict v = wait_for_rate(ts, c, cmd, answer);
		if (v != HOOK_FORWARD)
			return v;
	}
	return admit(ts, c, ts->lockfree && command_locks(cmd));
}

/* The command may go as far as the cluster's rate goes: now, after a wait
 * (held, the timer brings it to admit()), or never (its ERR). The
 * transaction has not started, so the session holds no row lock. */
static enum hook_verdict wait_for_rate(struct ts_session *ts, int c, const struct hook_command *cmd,
				       struct hook_answer *answer)
{
	struct throttle *t = ts->t;
	uint64_t now = now_us();
	pthread_mutex_lock(&t->lock);
	uint64_t wait = ratelimit_take(t->rate, ts->cluster, now, t->queue_timeout_ms * 1000u);
	pthread_mutex_unlock(&t->lock);
	if (wait == 0)
		return HOOK_FORWARD;
	if (wait == RATELIMIT_REFUSED) {
		atomic_fetch_add(&t->timeouts, 1);
		log_warning("throttle: session %llu (%s) would wait over %llu s for its cluster's rate; its command is "
			    "answered with an error ([throttle] cluster_rate = %u)",
			    (unsigned long long)ts->id, ts->cluster, (unsigned long long)(t->queue_timeout_ms / 1000u),
			    t->rate_per_second);
		answer->code = ER_UNKNOWN_ERROR;
		snprintf(answer->sql_state, sizeof(answer->sql_state), "HY000");
		snprintf(answer->message, sizeof(answer->message),
			 "acctgate: cluster %.64s is over its rate ([throttle] cluster_rate = %u transactions a second) "
			 "for longer than the queue timeout; the statement did not run, try again",
			 ts->cluster, t->rate_per_second);
		return HOOK_ANSWER;
	}
	ts->state = TS_RATED;
	ts->cls = c;
	ts->held_locks = ts->lockfree && command_locks(cmd);
	ts->rated_us = wait;
	struct timeval tv = {(time_t)(wait / 1000000u), (suseconds_t)(wait % 1000000u)};
	evtimer_add(ts->timer, &tv);
	return HOOK_HOLD;
}

/* Class admission for a transaction's command (locks: what it runs takes
 * row locks): forwarded, or held until a slot is its. */
static enum hook_verdict admit(struct ts_session *ts, int c, bool locks)
{
	struct throttle *t = ts->t;
	struct session *s = ts->s;
	if (c == THROTTLE_CLASSES || !t->classes[c].limit) {
		if (locks)
			ts->lockfree = false;
		return HOOK_FORWARD;
	}
	if (!ts->lockfree) {
		/* It may hold row locks a slot holder waits for: never queued. */
		atomic_fetch_add(&t->unadmitted, 1);
		return HOOK_FORWARD;
	}
	ts->lockfree = false; /* what it waits to run takes locks */
	name_cluster(ts);
	pthread_mutex_lock(&t->lock);
	enum admission_verdict v = admission_request(t->classes[c].adm, ts->cluster, ts->id, session_worker(s), now_ms());
	pthread_mutex_unlock(&t->lock);
	ts->cls = c;
	switch (v) {
	case ADMISSION_ADMITTED:
		if (wait_global(ts)) {
			arm(ts, t->queue_timeout_ms);
			return HOOK_HOLD;
		}
		ts->state = TS_HOLDING;
		return HOOK_FORWARD;
	case ADMISSION_QUEUED:
		ts->state = TS_WAITING;
		arm(ts, t->queue_timeout_ms);
		return HOOK_HOLD;
	case ADMISSION_REFUSED:
		break;
	}
	if (!atomic_exchange(&t->refused_logged, true))
		log_error("throttle: out of memory queueing session %llu; heavy transactions go unthrottled when that "
			  "happens (logged once)",
			  (unsigned long long)ts->id);
	return HOOK_FORWARD;
}

/* A response ended: a holder whose transaction goes on is idle now. */
static enum hook_verdict before_result_end(void *arg, struct session *s, const struct proto_result_end *end,
					   const uint8_t *packet, size_t len, struct hook_answer *answer)
{
	(void)end;
	(void)packet;
	(void)len;
	(void)answer;
	struct throttle *t = arg;
	struct ts_session *ts = ts_of(t, s);
	if (ts && ts->state == TS_HOLDING && t->idle_release_ms)
		arm(ts, t->idle_release_ms);
	return HOOK_FORWARD;
}

static void on_txn_end(void *arg, struct session *s, const struct txn *txn, enum txn_end how)
{
	(void)txn;
	(void)how;
	struct ts_session *ts = ts_of(arg, s);
	if (ts && ts->state == TS_HOLDING)
		leave_class(ts);
}

static void on_session_end(void *arg, struct session *s)
{
	struct throttle *t = arg;
	void **slot = session_hook_data(s, &t->hooks);
	struct ts_session *ts = slot ? *slot : NULL;
	if (!ts)
		return;
	if (ts->state == TS_RATED) {
		evtimer_del(ts->timer);
		pthread_mutex_lock(&t->lock);
		ratelimit_wait_over(t->rate, ts->cluster, 0, true);
		pthread_mutex_unlock(&t->lock);
		ts->state = TS_NONE;
	}
	/* Out of the queue, or the slot back (one admitted just now too). */
	if (ts->state != TS_NONE)
		leave_class(ts);
	event_free(ts->timer);
	free(ts);
	*slot = NULL;
}

/* ------------------------------------------------------------------------
 * Life
 * ------------------------------------------------------------------------ */

/* Split "p1 | p2 | ..." into trimmed, non-empty patterns ('|' because
 * digests are full of ',' and the config file takes " ;" for a comment). */
static bool load_patterns(struct throttle_class *cl, const char *list, char *err, size_t err_len)
{
	const char *p = list;
	while (*p) {
		const char *end = strchr(p, '|');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		while (n && (*p == ' ' || *p == '\t'))
			p++, n--;
		while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n) {
			if (cl->npatterns == THROTTLE_PATTERNS_MAX) {
				snprintf(err, err_len, "[throttle] %s: more than %d patterns", cl->name, THROTTLE_PATTERNS_MAX);
				return false;
			}
			snprintf(cl->patterns[cl->npatterns++], CONFIG_STR_MAX, "%.*s", (int)n, p);
		}
		if (!end)
			break;
		p = end + 1;
	}
	return true;
}

struct throttle *throttle_new(struct gate *g, const struct config *cfg, char *err, size_t err_len)
{
	struct throttle *t = calloc(1, sizeof(*t));
	if (!t || pthread_mutex_init(&t->lock, NULL) != 0) {
		free(t);
		snprintf(err, err_len, "throttle: out of memory");
		return NULL;
	}
	t->queue_timeout_ms = (uint64_t)cfg->throttle_queue_timeout * 1000u;
	t->idle_release_ms = (uint64_t)cfg->throttle_idle_release * 1000u;
	t->promote_usec = (uint64_t)cfg->throttle_promote_p95_ms * 1000u;
	t->rate_per_second = (unsigned)cfg->throttle_cluster_rate;
	if (t->rate_per_second &&
	    !(t->rate = ratelimit_new(t->rate_per_second, (unsigned)cfg->throttle_cluster_burst))) {
		snprintf(err, err_len, "throttle: out of memory");
		throttle_free(t);
		return NULL;
	}
	t->gate = g;
	const struct {
		const char *name, *patterns;
		int limit;
	} defs[THROTTLE_CLASSES] = {{"heavy", cfg->throttle_heavy, cfg->throttle_heavy_limit},
				    {"bulk", cfg->throttle_bulk, cfg->throttle_bulk_limit}};
	for (int c = 0; c < THROTTLE_CLASSES; c++) {
		struct throttle_class *cl = &t->classes[c];
		cl->name = defs[c].name;
		cl->limit = (unsigned)defs[c].limit;
		cl->adm = admission_new(cl->limit);
		if (!cl->adm) {
			snprintf(err, err_len, "throttle: out of memory");
			throttle_free(t);
			return NULL;
		}
		if (!load_patterns(cl, defs[c].patterns, err, err_len)) {
			throttle_free(t);
			return NULL;
		}
	}
	if (cfg->throttle_coordinate && cfg->snapshot_user[0]) {
		struct replay_options conn = {.host = cfg->servers[0].host,
					      .port = cfg->servers[0].port,
					      .user = cfg->snapshot_user,
					      .password = cfg->snapshot_password,
					      .tls = gate_replay_tls(cfg->upstream_tls),
					      .tls_ca = cfg->upstream_tls_ca,
					      .tls_cert = cfg->upstream_tls_cert,
					      .tls_key = cfg->upstream_tls_key};
		const char *names[THROTTLE_CLASSES];
		unsigned limits[THROTTLE_CLASSES];
		for (int c = 0; c < THROTTLE_CLASSES; c++) {
			names[c] = t->classes[c].name;
			limits[c] = t->classes[c].limit;
		}
		t->coord = coord_new(&conn, names, limits, THROTTLE_CLASSES, on_global_grant, t, err, err_len);
		if (!t->coord) {
			throttle_free(t);
			return NULL;
		}
	} else if (cfg->throttle_coordinate) {
		log_notice("throttle: no [snapshot] user to coordinate with other acctgates through the server: the "
			   "limits hold in this acctgate only");
	}
	t->hooks = (struct session_hooks){
		.name = "throttle",
		.arg = t,
		.before_command = before_command,
		.before_result_end = before_result_end,
		.on_txn_end = on_txn_end,
		.on_session_end = on_session_end,
	};
	if (!gate_add_hooks(g, &t->hooks)) {
		throttle_free(t);
		snprintf(err, err_len, "throttle: the session layer's hook table is full (%d)", HOOKS_MAX);
		return NULL;
	}
	log_info("throttle: heavy transactions %u at once (%zu patterns), bulk %u at once (%zu patterns); queue "
		 "timeout %llu s, idle release %llu s",
		 t->classes[0].limit, t->classes[0].npatterns, t->classes[1].limit, t->classes[1].npatterns,
		 (unsigned long long)cfg->throttle_queue_timeout, (unsigned long long)cfg->throttle_idle_release);
	return t;
}

void throttle_free(struct throttle *t)
{
	if (!t)
		return;
	coord_free(t->coord);
	ratelimit_free(t->rate);
	for (int c = 0; c < THROTTLE_CLASSES; c++)
		admission_free(t->classes[c].adm);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

bool throttle_class_stats(struct throttle *t, int c, struct throttle_class_stats *out,
			  struct admission_cluster_stats *cl, size_t cap, size_t *ncl)
{
	if (c == THROTTLE_CLASSES && t->rate) {
		out->name = "rate";
		pthread_mutex_lock(&t->lock);
		ratelimit_stats(t->rate, &out->adm);
		size_t n = 0;
		while (n < cap && ratelimit_cluster_at(t->rate, n, &cl[n]))
			n++;
		pthread_mutex_unlock(&t->lock);
		*ncl = n;
		return true;
	}
	if (c < 0 || c >= THROTTLE_CLASSES)
		return false;
	struct throttle_class *k = &t->classes[c];
	out->name = k->name;
	pthread_mutex_lock(&t->lock);
	admission_stats(k->adm, &out->adm);
	size_t n = 0;
	while (n < cap && admission_cluster_at(k->adm, n, &cl[n]))
		n++;
	pthread_mutex_unlock(&t->lock);
	*ncl = n;
	return true;
}

void throttle_counters(struct throttle *t, struct throttle_counters *out)
{
	out->unadmitted = atomic_load(&t->unadmitted);
	out->idle_releases = atomic_load(&t->idle_releases);
	out->timeouts = atomic_load(&t->timeouts);
	out->promoted = atomic_load(&t->promoted);
	out->coordination = !t->coord ? "off" : coord_connected(t->coord) ? "on" : "lost";
}
