/*
 * quiesce.c - holding every session at a command boundary (quiesce.h).
 *
 * The hook's fast path is one atomic load per command. While a quiesce
 * runs, the hold decision is taken under the lock, so a command cannot
 * slip between quiesce_begin's flag and its first count; the sessions held
 * are remembered by (worker, id) and released through their workers'
 * mailboxes, as the recorder's cut does.
 *
 * "Nothing open" is asked of the workers themselves (worker_call): each
 * counts its sessions with a transaction open or a command on its way,
 * those this hook holds excepted. A session held by another hook (the
 * throttle's queue) counts as busy: its command will go, and its next one
 * is held here.
 */
#include "quiesce.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "gate.h"
#include "hooks.h"
#include "log.h"
#include "session.h"
#include "worker.h"

/* How often quiesce_begin asks the workers: a transaction of slurmdbd's
 * takes milliseconds. */
#define POLL_MS 10

struct held {
	struct worker *worker;
	uint64_t session_id;
};

struct quiesce {
	struct session_hooks hooks;
	struct gate *gate;
	atomic_bool on;
	pthread_mutex_t lock;
	struct held *held;
	size_t nheld, cap;
	struct timespec started;
};

/* One round of asking the workers how many sessions are still busy. */
struct busy_count {
	struct quiesce *q;
	pthread_mutex_t lock;
	pthread_cond_t done;
	int pending;
	int busy;
};

static bool held_here(struct quiesce *q, struct session *s)
{
	void **slot = session_hook_data(s, &q->hooks);
	return slot && *slot;
}

static enum hook_verdict before_command(void *arg, struct session *s, const struct hook_command *cmd,
					struct hook_answer *answer)
{
	(void)cmd;
	(void)answer;
	struct quiesce *q = arg;
	if (!atomic_load_explicit(&q->on, memory_order_acquire) || session_in_transaction(s))
		return HOOK_FORWARD;
	void **slot = session_hook_data(s, &q->hooks);
	pthread_mutex_lock(&q->lock);
	bool hold = atomic_load(&q->on) && slot;
	if (hold && q->nheld == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 64;
		struct held *p = realloc(q->held, cap * sizeof(*p));
		if (p) {
			q->held = p;
			q->cap = cap;
		}
		hold = p != NULL;
	}
	if (hold) {
		q->held[q->nheld++] = (struct held){session_worker(s), session_id(s)};
		*slot = q;
	}
	pthread_mutex_unlock(&q->lock);
	if (!hold && atomic_load(&q->on))
		/* Out of memory: letting it through is what the quiesce's
		 * count then waits for, so nothing changes under it. */
		log_warning("session %llu: cannot hold its command for the restore (out of memory): it goes on",
			    (unsigned long long)session_id(s));
	return hold ? HOOK_HOLD : HOOK_FORWARD;
}

static void on_session_end(void *arg, struct session *s)
{
	void **slot = session_hook_data(s, &((struct quiesce *)arg)->hooks);
	if (slot)
		*slot = NULL;
}

struct quiesce *quiesce_new(struct gate *g, char *err, size_t err_len)
{
	struct quiesce *q = calloc(1, sizeof(*q));
	if (!q) {
		snprintf(err, err_len, "quiesce: out of memory");
		return NULL;
	}
	q->gate = g;
	pthread_mutex_init(&q->lock, NULL);
	q->hooks = (struct session_hooks){
		.name = "quiesce",
		.arg = q,
		.before_command = before_command,
		.on_session_end = on_session_end,
	};
	if (!gate_add_hooks(g, &q->hooks)) {
		quiesce_free(q);
		snprintf(err, err_len, "quiesce: the session layer's hook table is full (%d)", HOOKS_MAX);
		return NULL;
	}
	return q;
}

void quiesce_free(struct quiesce *q)
{
	if (!q)
		return;
	pthread_mutex_destroy(&q->lock);
	free(q->held);
	free(q);
}

/* On a worker: its busy sessions into the count. */
static void count_busy(struct worker *w, void *arg)
{
	struct busy_count *bc = arg;
	int busy = 0;
	for (struct session *s = session_first(w); s; s = session_next(s))
		if (session_busy(s) && !held_here(bc->q, s))
			busy++;
	pthread_mutex_lock(&bc->lock);
	bc->busy += busy;
	bc->pending--;
	pthread_cond_signal(&bc->done);
	pthread_mutex_unlock(&bc->lock);
}

/* Busy sessions over all workers; -1 when a worker cannot be asked. */
static int busy_sessions(struct quiesce *q)
{
	struct busy_count bc = {.q = q, .lock = PTHREAD_MUTEX_INITIALIZER, .done = PTHREAD_COND_INITIALIZER};
	struct gate *g = q->gate;
	bool asked_all = true;
	pthread_mutex_lock(&bc.lock);
	for (int i = 0; i < g->nworkers; i++) {
		if (worker_call(g->workers[i], count_busy, &bc))
			bc.pending++;
		else
			asked_all = false;
	}
	while (bc.pending > 0)
		pthread_cond_wait(&bc.done, &bc.lock);
	pthread_mutex_unlock(&bc.lock);
	pthread_mutex_destroy(&bc.lock);
	pthread_cond_destroy(&bc.done);
	return asked_all ? bc.busy : -1;
}

bool quiesce_begin(struct quiesce *q, int timeout_ms, char *err, size_t err_len)
{
	pthread_mutex_lock(&q->lock);
	if (atomic_load(&q->on)) {
		pthread_mutex_unlock(&q->lock);
		snprintf(err, err_len, "another restore holds the sessions");
		return false;
	}
	clock_gettime(CLOCK_MONOTONIC, &q->started);
	atomic_store_explicit(&q->on, true, memory_order_release);
	pthread_mutex_unlock(&q->lock);
	int busy = 0;
	for (int waited = 0;; waited += POLL_MS) {
		busy = busy_sessions(q);
		if (busy == 0)
			return true;
		if (busy < 0) {
			snprintf(err, err_len, "a worker cannot be asked for its sessions (out of memory)");
			break;
		}
		if (waited >= timeout_ms) {
			snprintf(err, err_len,
				 "%d sessions still had a transaction open or a command running after %d ms; "
				 "nothing was changed",
				 busy, timeout_ms);
			break;
		}
		struct timespec ts = {0, POLL_MS * 1000000L};
		nanosleep(&ts, NULL);
	}
	quiesce_end(q, NULL);
	return false;
}

/* A held session to let go, posted to its worker. */
struct release {
	struct quiesce *q;
	uint64_t session_id;
};

/* On the session's worker: its command goes on. */
static void release_one(struct worker *w, void *arg)
{
	struct release *r = arg;
	struct quiesce *q = r->q;
	struct session *s = session_find(w, r->session_id);
	free(r);
	void **slot = s ? session_hook_data(s, &q->hooks) : NULL;
	if (!slot || !*slot || !session_held(s))
		return;
	*slot = NULL;
	session_release(s);
}

size_t quiesce_end(struct quiesce *q, uint64_t *held_usec)
{
	pthread_mutex_lock(&q->lock);
	atomic_store(&q->on, false);
	struct held *held = q->held;
	size_t n = q->nheld;
	q->held = NULL;
	q->nheld = q->cap = 0;
	if (held_usec) {
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		*held_usec = (uint64_t)((now.tv_sec - q->started.tv_sec) * 1000000 +
					(now.tv_nsec - q->started.tv_nsec) / 1000);
	}
	pthread_mutex_unlock(&q->lock);
	for (size_t i = 0; i < n; i++) {
		struct release *msg = malloc(sizeof(*msg));
		if (msg)
			*msg = (struct release){q, held[i].session_id};
		if (!msg || !worker_call(held[i].worker, release_one, msg)) {
			free(msg);
			log_error("session %llu: its held command cannot be released (out of memory): it waits until "
				  "its client gives up",
				  (unsigned long long)held[i].session_id);
		}
	}
	free(held);
	return n;
}
