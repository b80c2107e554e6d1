/*
 * snapshots.c - the snapshot job, the schedule, keep, the journal's floor,
 * the stale warning and the wait at shutdown (snapshots.h).
 *
 * A snapshot takes seconds to hours: snapshot_take runs on a thread of
 * its own over acctgate's own connections ([snapshot] user), while the
 * main loop and all client traffic go on. Its cut goes through the
 * recorder (recorder_cut_begin/mark/end): commits are held only while the
 * dump connections open their views. The end comes back through this
 * module's mailbox, to the main thread, where it is logged, keep applied,
 * and whoever started it answered. One snapshot at a time.
 *
 * The job's thread reaches the recorder only through the cut's three
 * calls, and those go through the job under its lock: a shutdown that
 * cannot wait any longer closes the cut (ending it if it is held, so the
 * commits it holds go on), and from then on the thread cannot touch the
 * recorder, which is freed soon after.
 *
 *   job:  start ──> thread: snapshot_take ──> finished ──> mail ──> main: finish
 *                       ^ snapshot_cancel (shutdown past drain_timeout)
 */
#include "snapshots.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "admin.h"
#include "gate.h"
#include "journal.h"
#include "log.h"
#include "mailbox.h"
#include "recorder.h"
#include "snapshot.h"
#include "snapshot_list.h"

/* A cut waits at most this long for the commits in flight before it lets
 * the held ones go and tries again (snapshot.c): the longest a commit is
 * held, give or take the views' opening. */
#define CUT_TIMEOUT_MS 30
/* How long a cancelled snapshot gets, at shutdown, to fail and remove its
 * directory: its connections are shut down under it, so only a connect
 * still in progress (connect_timeout) can take longer. */
#define CANCEL_GRACE_SEC 10
/* The stale check runs every quarter of the schedule's period, within
 * these bounds: a daily schedule's warning comes within a minute. */
#define CHECK_MIN_SEC 1
#define CHECK_MAX_SEC 60

struct snapshot_job {
	struct snapshots *owner;
	char id[32];                /* set before the thread starts, never written by it */
	char who[48];
	snapshots_done_fn done;
	void *arg;
	struct recorder *recorder;
	struct snapshot_options o;
	struct snapshot_cut cut;
	char dir[CONFIG_STR_MAX + 64];
	char databases[CONFIG_STR_MAX];
	struct gate_db_account acct;
	struct snapshot_cancel cancel;
	struct mail *mail;          /* posted by the thread at its end */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;        /* `finished` set */
	bool finished;              /* under lock */
	bool cut_held;              /* under lock: recorder_cut_begin succeeded, its end is due */
	bool cut_closed;            /* under lock: the recorder is not to be touched any more */
	/* Outcome, the thread's until `finished` */
	bool ok;
	struct snapshot_result res;
	char err[768];
};

struct snapshots {
	struct gate *gate;
	struct mailbox mailbox;
	bool mailbox_ready;
	struct event *tick;               /* the next scheduled snapshot */
	struct event *check;              /* the stale check, while a schedule is set */
	struct snapshot_job *job;         /* running, NULL if none */
	struct snapshot_job *stopped_job; /* the one snapshots_stop saw end; freed with the rest */
	bool abandoned;                   /* a job that would not stop still uses this: left to the exit */
	struct config_schedule schedule;  /* the one armed */
	int64_t next;                     /* its next time (UTC seconds), 0 = none */
	uint64_t since_usec;              /* when it was set: the age of "no snapshot yet" */
	bool stale;
	uint64_t floor;                   /* what the journal was last told */
	bool trim;
	char last_error[320];             /* the last snapshot's failure, "" once one is taken */
};

static uint64_t now_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void utc(uint64_t usec, char *buf, size_t len)
{
	journal_format_time(usec, buf, len);
}

/* ------------------------------------------------------------------------
 * The cut, through the job
 * ------------------------------------------------------------------------ */

#define STOPPING "cancelled (acctgate is stopping)"

static bool cut_begin(void *arg, char *err, size_t len)
{
	struct snapshot_job *job = arg;
	bool ok = false;
	pthread_mutex_lock(&job->lock);
	if (job->cut_closed)
		snprintf(err, len, STOPPING);
	else
		ok = job->cut_held = recorder_cut_begin(job->recorder, CUT_TIMEOUT_MS, err, len);
	pthread_mutex_unlock(&job->lock);
	return ok;
}

static uint64_t cut_mark(void *arg, char *err, size_t len)
{
	struct snapshot_job *job = arg;
	uint64_t seq = 0;
	pthread_mutex_lock(&job->lock);
	if (job->cut_closed)
		snprintf(err, len, STOPPING);
	else
		seq = recorder_cut_mark(job->recorder, err, len);
	pthread_mutex_unlock(&job->lock);
	return seq;
}

static void cut_end(void *arg, uint64_t *held_usec)
{
	struct snapshot_job *job = arg;
	pthread_mutex_lock(&job->lock);
	if (job->cut_held)
		recorder_cut_end(job->recorder, held_usec);
	job->cut_held = false;
	pthread_mutex_unlock(&job->lock);
}

/* Shutdown's side: the held commits go, and the recorder is off limits. */
static void cut_close(struct snapshot_job *job)
{
	pthread_mutex_lock(&job->lock);
	if (job->cut_held)
		recorder_cut_end(job->recorder, NULL);
	job->cut_held = false;
	job->cut_closed = true;
	pthread_mutex_unlock(&job->lock);
}

/* ------------------------------------------------------------------------
 * Keep, the journal's floor, staleness
 * ------------------------------------------------------------------------ */

static bool being_read(void *arg, const char *id)
{
	struct gate *g = arg;
	return g->admin && admin_snapshot_in_use(g->admin, id);
}

/* Delete what keep lets go of; false when nothing was. */
static bool apply_keep(struct snapshots *s, const char *dir, const struct config_keep *keep,
		       const struct snapshot_entry *e, size_t n)
{
	bool *drop = calloc(n, sizeof(*drop));
	if (!drop) {
		log_error("snapshots: out of memory applying keep");
		return false;
	}
	char kept[CONFIG_SCHEDULE_NAME_MAX];
	config_keep_name(keep, kept, sizeof(kept));
	size_t ndrop = snapshot_list_expired(e, n, keep, now_usec(), being_read, s->gate, drop);
	for (size_t i = 0; i < n; i++) {
		if (!drop[i])
			continue;
		int err = snapshot_list_remove(dir, e[i].id);
		if (err)
			log_error("snapshot %s: keep = %s deletes it, but %s/%s cannot be removed: %s", e[i].id, kept, dir,
				  e[i].id, strerror(err));
		else
			log_notice("snapshot %s deleted (keep = %s)", e[i].id, kept);
	}
	free(drop);
	return ndrop > 0;
}

/*
 * The floor: the oldest snapshot's cut that the journal can still roll
 * forward (at or after its first record, and not past its last: a
 * sequence beyond it was cut with another journal). The journal is told
 * only when it changes.
 */
static void update_floor(struct snapshots *s, const struct snapshot_entry *e, size_t n, bool trim)
{
	struct recorder *rec = s->gate->recorder;
	if (!rec)
		return;
	struct journal_stats js;
	recorder_journal_stats(rec, &js);
	uint64_t floor = 0;
	const char *by = NULL;
	for (size_t i = 0; i < n; i++) {
		if (e[i].seq && e[i].seq >= js.first_seq && e[i].seq <= js.last_seq && (!floor || e[i].seq < floor)) {
			floor = e[i].seq;
			by = e[i].id;
		}
	}
	if (floor == s->floor && trim == s->trim)
		return;
	s->floor = floor;
	s->trim = trim;
	recorder_journal_floor(rec, floor, trim);
	if (floor)
		log_info("journal: segments from sequence %llu on stay for snapshot %s, the oldest it rolls forward%s",
			 (unsigned long long)floor, by, trim ? "; those before it go ([snapshot] keep)" : "");
	else
		log_info("journal: no snapshot it rolls forward: [journal] retention alone decides");
}

/* One line when snapshots become stale, one when they are current again. */
static void judge_stale(struct snapshots *s, const struct snapshot_entry *newest)
{
	int64_t period = config_schedule_period(&s->schedule);
	if (!period) {
		if (s->stale)
			log_notice("snapshot schedule off: snapshots are no longer checked for staleness");
		s->stale = false;
		return;
	}
	uint64_t now = now_usec(), ref = newest ? newest->time_usec : s->since_usec;
	uint64_t age = now > ref ? (now - ref) / 1000000u : 0;
	bool stale = age > 2 * (uint64_t)period;
	char sched[CONFIG_SCHEDULE_NAME_MAX];
	config_schedule_name(&s->schedule, sched, sizeof(sched));
	if (stale && !s->stale) {
		if (newest)
			log_warning("snapshots are stale: the newest, %s, is %llu s old, more than twice the schedule "
				    "(%s)%s%s",
				    newest->id, (unsigned long long)age, sched, s->last_error[0] ? "; the last one failed: " : "",
				    s->last_error);
		else
			log_warning("snapshots are stale: none taken in the %llu s since the schedule (%s) was set%s%s",
				    (unsigned long long)age, sched, s->last_error[0] ? "; the last one failed: " : "",
				    s->last_error);
	} else if (!stale && s->stale) {
		log_notice("snapshots are current again: %s was taken %llu s ago (schedule %s)", newest ? newest->id : "?",
			   (unsigned long long)age, sched);
	}
	s->stale = stale;
}

/*
 * Read [snapshot] dir and act on it: after a snapshot was taken, keep;
 * then the floor and the staleness. *newest (may be NULL) gets the newest
 * snapshot; false when there is none.
 */
static bool survey(struct snapshots *s, bool after_take, struct snapshot_entry *newest)
{
	struct settings *st = gate_settings(s->gate);
	char dir[CONFIG_STR_MAX];
	snprintf(dir, sizeof(dir), "%s", st->cfg.snapshot_dir);
	struct config_keep keep = st->cfg.snapshot_keep;
	settings_release(st);
	const char *running = snapshots_running_id(s);
	struct snapshot_entry *e;
	size_t n;
	if (!snapshot_list_read(dir, running, &e, &n)) {
		log_error("snapshots: out of memory reading %s", dir);
		return false;
	}
	if (after_take && keep.kind != CONFIG_KEEP_ALL && n && apply_keep(s, dir, &keep, e, n)) {
		free(e);
		if (!snapshot_list_read(dir, running, &e, &n)) {
			log_error("snapshots: out of memory reading %s", dir);
			return false;
		}
	}
	update_floor(s, e, n, keep.kind != CONFIG_KEEP_ALL);
	judge_stale(s, n ? &e[n - 1] : NULL);
	if (n && newest)
		*newest = e[n - 1];
	free(e);
	return n > 0;
}

/* ------------------------------------------------------------------------
 * The job
 * ------------------------------------------------------------------------ */

static void job_free(struct snapshot_job *job)
{
	if (!job)
		return;
	OPENSSL_cleanse(job->acct.password, sizeof(job->acct.password));
	snapshot_cancel_destroy(&job->cancel);
	pthread_cond_destroy(&job->cond);
	pthread_mutex_destroy(&job->lock);
	free(job);
}

/* The end, on the main thread: the log, keep and the floor, the answer.
 * At shutdown (stopping) no one is answered: the main loop is gone. */
static void finish(struct snapshots *s, struct snapshot_job *job, bool stopping)
{
	if (job->ok) {
		log_notice("snapshot %s taken (by %s): journal sequence %llu, %llu tables, %llu rows, %.3f s, commits "
			   "held %.3f ms",
			   job->id, job->who, (unsigned long long)job->res.seq, (unsigned long long)job->res.tables,
			   (unsigned long long)job->res.rows, job->res.seconds, (double)job->res.held_usec / 1000);
		s->last_error[0] = '\0';
	} else {
		log_error("snapshot %s (by %s) failed: %s", job->id, job->who, job->err);
		char when[48];
		utc(now_usec(), when, sizeof(when));
		snprintf(s->last_error, sizeof(s->last_error), "%s (%s): %.200s", job->id, when, job->err);
	}
	if (job->done && !stopping)
		job->done(job->arg, job->ok, &job->res, job->err);
	survey(s, job->ok, NULL);
}

static void job_done_on_main(struct worker *unused, void *arg)
{
	(void)unused;
	struct snapshot_job *job = arg;
	struct snapshots *s = job->owner;
	pthread_join(job->thread, NULL);
	s->job = NULL;
	finish(s, job, false);
	job_free(job);
}

static void *job_thread(void *arg)
{
	struct snapshot_job *job = arg;
	bool ok = snapshot_take(&job->o, &job->res, job->err, sizeof(job->err));
	pthread_mutex_lock(&job->lock);
	job->ok = ok;
	job->finished = true;
	pthread_cond_signal(&job->cond);
	pthread_mutex_unlock(&job->lock);
	mailbox_post(&job->owner->mailbox, job->mail);
	return NULL;
}

/* A new snapshot's id: its UTC time, with -2, -3 ... when one of that
 * second exists already (a SNAPSHOT right after a scheduled one). */
static void new_id(const char *dir, char *id, size_t len, char *path, size_t path_len)
{
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	char base[24];
	strftime(base, sizeof(base), "%Y%m%dT%H%M%SZ", &tm);
	for (int k = 1; k < 10; k++) {
		if (k == 1)
			snprintf(id, len, "%s", base);
		else
			snprintf(id, len, "%s-%d", base, k);
		snprintf(path, path_len, "%s/%s", dir, id);
		if (access(path, F_OK) != 0 && errno == ENOENT)
			return;
	}
}

enum snapshots_start snapshots_start(struct snapshots *s, const char *who, snapshots_done_fn done, void *arg,
				     char *why, size_t why_len)
{
	struct gate *g = s->gate;
	struct settings *st = gate_settings(g);
	const struct config *cfg = &st->cfg;
	const char *missing = !g->recorder		? "[journal] dir (a snapshot is cut with the journal)"
			      : !cfg->snapshot_dir[0]	? "[snapshot] dir"
			      : !cfg->snapshot_user[0] ? "[snapshot] user and password_file"
						       : NULL;
	if (missing || s->job) {
		snprintf(why, why_len, "%s", missing ? missing : s->job->id);
		settings_release(st);
		return missing ? SNAPSHOTS_UNCONFIGURED : SNAPSHOTS_BUSY;
	}
	if (g->admin && admin_restoring_in_place(g->admin)) {
		snprintf(why, why_len, "the in-place restore running to end first (its tables are moving)");
		settings_release(st);
		return SNAPSHOTS_BLOCKED;
	}
	struct snapshot_job *job = calloc(1, sizeof(*job));
	struct mail *mail = calloc(1, sizeof(*mail));
	if (!job || !mail) {
		free(job);
		free(mail);
		settings_release(st);
		snprintf(why, why_len, "out of memory");
		return SNAPSHOTS_FAILED;
	}
	job->owner = s;
	snprintf(job->who, sizeof(job->who), "%s", who);
	job->done = done;
	job->arg = arg;
	job->recorder = g->recorder;
	job->mail = mail;
	mail->kind = MAIL_CALL;
	mail->u.call.fn = job_done_on_main;
	mail->u.call.arg = job;
	new_id(cfg->snapshot_dir, job->id, sizeof(job->id), job->dir, sizeof(job->dir));
	snprintf(job->databases, sizeof(job->databases), "%s", cfg->snapshot_databases);
	job->cut = (struct snapshot_cut){cut_begin, cut_mark, cut_end, job};
	job->o = (struct snapshot_options){
		.dir = job->dir,
		.databases = job->databases,
		.threads = cfg->snapshot_threads,
		.chunk_rows = (uint64_t)cfg->snapshot_chunk_rows,
		.cut = &job->cut,
		.cancel = &job->cancel,
	};
	gate_db_account(cfg, &job->acct, &job->o.conn);
	settings_release(st);
	snapshot_cancel_init(&job->cancel);
	pthread_mutex_init(&job->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&job->cond, &ca);
	pthread_condattr_destroy(&ca);
	int e = pthread_create(&job->thread, NULL, job_thread, job);
	if (e) {
		snprintf(why, why_len, "cannot start a thread: %s", strerror(e));
		free(mail);
		job_free(job);
		return SNAPSHOTS_FAILED;
	}
	s->job = job;
	log_notice("snapshot %s started by %s into %s", job->id, who, job->dir);
	return SNAPSHOTS_STARTED;
}

bool snapshots_running(const struct snapshots *s, const char *id)
{
	return s->job && strcmp(s->job->id, id) == 0;
}

const char *snapshots_running_id(const struct snapshots *s)
{
	return s->job ? s->job->id : NULL;
}

/* ------------------------------------------------------------------------
 * The schedule
 * ------------------------------------------------------------------------ */

static void arm_tick(struct snapshots *s)
{
	evtimer_del(s->tick);
	s->next = 0;
	if (s->schedule.kind == CONFIG_SCHEDULE_OFF)
		return;
	uint64_t now = now_usec();
	s->next = config_schedule_next(&s->schedule, (int64_t)(now / 1000000u));
	uint64_t wait = (uint64_t)s->next * 1000000u - now;
	struct timeval tv = {(time_t)(wait / 1000000u), (suseconds_t)(wait % 1000000u)};
	if (evtimer_add(s->tick, &tv) != 0) {
		log_error("snapshot schedule: cannot arm its timer: no scheduled snapshot until a reload");
		s->next = 0;
	}
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct snapshots *s = arg;
	/* The timer runs on the monotonic clock: if the wall clock was set
	 * back meanwhile, the time has not come yet. */
	if (now_usec() < (uint64_t)s->next * 1000000u) {
		uint64_t wait = (uint64_t)s->next * 1000000u - now_usec();
		struct timeval tv = {(time_t)(wait / 1000000u), (suseconds_t)(wait % 1000000u)};
		if (evtimer_add(s->tick, &tv) == 0)
			return;
	}
	char why[300];
	switch (snapshots_start(s, "schedule", NULL, NULL, why, sizeof(why))) {
	case SNAPSHOTS_STARTED:
		break;
	case SNAPSHOTS_BUSY:
		log_warning("snapshot schedule: snapshot %s is still running; this time's snapshot is skipped", why);
		break;
	case SNAPSHOTS_BLOCKED:
		log_warning("snapshot schedule: this time's snapshot is skipped: it needs %s", why);
		break;
	case SNAPSHOTS_UNCONFIGURED:
	case SNAPSHOTS_FAILED:
		log_error("snapshot schedule: cannot start a snapshot: %s", why);
		snprintf(s->last_error, sizeof(s->last_error), "scheduled snapshot not started: %.240s", why);
		break;
	}
	arm_tick(s);
}

static void on_check(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	survey(arg, false, NULL);
}

void snapshots_reconfigure(struct snapshots *s)
{
	struct settings *st = gate_settings(s->gate);
	struct config_schedule sc = st->cfg.snapshot_schedule;
	struct config_keep keep = st->cfg.snapshot_keep;
	settings_release(st);
	if (sc.kind != s->schedule.kind || sc.seconds != s->schedule.seconds) {
		s->schedule = sc;
		s->since_usec = now_usec();
		arm_tick(s);
		event_del(s->check);
		int64_t period = config_schedule_period(&sc);
		char sched[CONFIG_SCHEDULE_NAME_MAX], kept[CONFIG_SCHEDULE_NAME_MAX], next[48] = "";
		config_schedule_name(&sc, sched, sizeof(sched));
		config_keep_name(&keep, kept, sizeof(kept));
		if (period) {
			int64_t every = period / 4 < CHECK_MIN_SEC ? CHECK_MIN_SEC
					: period / 4 > CHECK_MAX_SEC ? CHECK_MAX_SEC
								     : period / 4;
			struct timeval tv = {(time_t)every, 0};
			if (event_add(s->check, &tv) != 0)
				log_error("snapshot schedule: cannot arm the stale check");
			utc((uint64_t)s->next * 1000000u, next, sizeof(next));
			log_notice("snapshot schedule: %s (next %s), keep %s", sched, next, kept);
		} else {
			log_notice("snapshot schedule: off (snapshots only by the admin port's SNAPSHOT), keep %s", kept);
		}
	}
	survey(s, false, NULL);
}

void snapshots_changed(struct snapshots *s)
{
	survey(s, false, NULL);
}

void snapshots_status(struct snapshots *s, struct snapshots_status *out)
{
	memset(out, 0, sizeof(*out));
	struct snapshot_entry newest;
	out->have_newest = survey(s, false, &newest);
	if (out->have_newest) {
		snprintf(out->newest, sizeof(out->newest), "%s", newest.id);
		out->newest_usec = newest.time_usec;
	}
	config_schedule_name(&s->schedule, out->schedule, sizeof(out->schedule));
	out->next = s->next;
	out->stale = s->stale;
	snprintf(out->last_error, sizeof(out->last_error), "%s", s->last_error);
}

/* ------------------------------------------------------------------------
 * Life cycle
 * ------------------------------------------------------------------------ */

static void deliver(struct mail *m, void *arg)
{
	(void)arg;
	m->u.call.fn(NULL, m->u.call.arg);
	free(m);
}

struct snapshots *snapshots_new(struct gate *g, char *err, size_t err_len)
{
	struct snapshots *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, err_len, "snapshots: out of memory");
		return NULL;
	}
	s->gate = g;
	s->mailbox_ready = mailbox_init(&s->mailbox, g->base, deliver, s);
	s->tick = evtimer_new(g->base, on_tick, s);
	s->check = event_new(g->base, -1, EV_PERSIST, on_check, s);
	if (!s->mailbox_ready || !s->tick || !s->check) {
		snprintf(err, err_len, "snapshots: cannot set up the main loop's events: %s", strerror(errno));
		snapshots_free(s);
		return NULL;
	}
	snapshots_reconfigure(s); /* from "off", which calloc made it */
	return s;
}

/* Until `deadline`: true once the job's thread has finished. */
static bool wait_finished(struct snapshot_job *job, const struct timespec *deadline)
{
	pthread_mutex_lock(&job->lock);
	int e = 0;
	while (!job->finished && e != ETIMEDOUT)
		e = pthread_cond_timedwait(&job->cond, &job->lock, deadline);
	bool finished = job->finished;
	pthread_mutex_unlock(&job->lock);
	return finished;
}

void snapshots_stop(struct snapshots *s, const struct timespec *deadline)
{
	if (!s || !s->job)
		return;
	struct snapshot_job *job = s->job;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	long long left = deadline->tv_sec - now.tv_sec;
	log_notice("stopping: snapshot %s (by %s) is running: waiting for it, %lld s at most (drain_timeout)", job->id,
		   job->who, left > 0 ? left : 0);
	bool cancelled = false;
	if (!wait_finished(job, deadline)) {
		log_warning("stopping: snapshot %s still running at drain_timeout: cancelling it", job->id);
		cancelled = true;
		snapshot_cancel(&job->cancel);
		cut_close(job);
		clock_gettime(CLOCK_MONOTONIC, &now);
		struct timespec grace = {now.tv_sec + CANCEL_GRACE_SEC, now.tv_nsec};
		if (!wait_finished(job, &grace)) {
			/* Stuck in a call to the server: its directory goes from
			 * here, and the thread (which still uses the job and the
			 * mailbox) is left to the exit. */
			struct settings *st = gate_settings(s->gate);
			int e = snapshot_list_remove(st->cfg.snapshot_dir, job->id);
			settings_release(st);
			if (e)
				log_error("stopping: snapshot %s did not stop within %d s of being cancelled, and its directory "
					  "%s cannot be removed (%s): remove it by hand",
					  job->id, CANCEL_GRACE_SEC, job->dir, strerror(e));
			else
				log_error("stopping: snapshot %s did not stop within %d s of being cancelled; its partial "
					  "directory %s was removed",
					  job->id, CANCEL_GRACE_SEC, job->dir);
			s->job = NULL;
			s->abandoned = true;
			return;
		}
	}
	pthread_join(job->thread, NULL);
	s->job = NULL;
	s->stopped_job = job; /* its mail, never delivered now, points to it */
	finish(s, job, true);
	if (job->ok)
		log_notice("stopping: snapshot %s was waited for and is whole", job->id);
	else if (cancelled && access(job->dir, F_OK) == 0)
		log_error("stopping: snapshot %s was cancelled, but its partial directory %s is still there: remove it by "
			  "hand",
			  job->id, job->dir);
	else if (cancelled)
		log_notice("stopping: snapshot %s was cancelled; its partial directory %s was removed", job->id, job->dir);
}

void snapshots_free(struct snapshots *s)
{
	if (!s || s->abandoned)
		return;
	if (s->tick)
		event_free(s->tick);
	if (s->check)
		event_free(s->check);
	if (s->mailbox_ready)
		mailbox_destroy(&s->mailbox);
	job_free(s->stopped_job);
	free(s);
}
