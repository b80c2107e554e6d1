/*
 * admin_restore.c - the admin port's VERIFY SNAPSHOT, RESTORE SNAPSHOT
 * and DROP SNAPSHOT.
 *
 * VERIFY and RESTORE read (and load) whole snapshots: like SNAPSHOT they
 * run on a thread of their own while the admin connection that asked
 * waits unread and everything else goes on; one at a time. RESTORE loads
 * with acctgate's own account, then rolls forward with the journal the
 * daemon is writing: what replay reads is what was durable when it got
 * there. Its answer is its report, one row per line: the load, the
 * replay's summary, every divergence and every transaction left in doubt.
 *
 * INTO DATABASE loads beside the live database and touches nothing else.
 * Without it the restore is in place, under slurmdbd's feet:
 *
 *   1. the snapshot is loaded and rolled forward beside the live database
 *      (while clients go on: the point restored to is in the past);
 *   2. every client command is held at its next command boundary, open
 *      transactions are let finish (quiesce.h: bounded, else nothing
 *      changes), and the journal records a cut;
 *   3. the restored tables take the live ones' place (restore_swap: one
 *      RENAME TABLE; the old tables kept in <db>_before_<time>);
 *   4. the journal's UNDO list learns that the commits between the point
 *      restored to and the cut are history no more (journal_undo.h);
 *   5. the held commands go on.
 *
 * A restore to the journal's end (no UNTIL) holds the clients from step 2
 * through 1, so that the end is fixed: there is nothing to undo then.
 */
#include "admin_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "gate.h"
#include "journal_undo.h"
#include "log.h"
#include "quiesce.h"
#include "recorder.h"
#include "snapshot.h"
#include "snapshot_list.h"
#include "snapshots.h"

#define ER_UNKNOWN_ERROR 1105
/* The report's rows: a restore with more divergences than this says how
 * many it left out (the offline `acctgate restore` prints them all). */
#define REPORT_LINES_MAX 1000
/* How long an in-place restore waits for open transactions and running
 * commands before it gives up and changes nothing: slurmdbd's are
 * milliseconds; a client idle inside a transaction is what this bounds. */
#define QUIESCE_TIMEOUT_MS 10000
/* How long the cut waits for commits in flight: none are, once quiesced. */
#define CUT_TIMEOUT_MS 1000

struct snapshot_task {
	struct admin *admin;
	uint64_t conn_id;
	struct admin_command cmd;
	char dir[CONFIG_STR_MAX + ADMIN_SNAPSHOT_ID_MAX + 2];
	char journal_dir[CONFIG_STR_MAX];
	int threads;
	struct gate_db_account acct;
	struct restore_options ro;
	char live_db[ADMIN_DATABASE_MAX];  /* in place: the snapshot's database */
	char side_db[ADMIN_DATABASE_MAX];  /* in place: where it is loaded first */
	char old_db[ADMIN_DATABASE_MAX];   /* in place: where the live tables go */
	/* Outcomes */
	bool ok;
	struct snapshot_result res; /* VERIFY */
	char *report;               /* RESTORE: its output, lines */
	size_t report_len;
	char err[768];
};

static void send_answer(struct admin_conn *ac, const struct snapshot_task *t)
{
	bool sent;
	const char *what = t->cmd.verb == ADMIN_VERIFY_SNAPSHOT ? "VERIFY" : "RESTORE";
	if (!t->ok) {
		sent = admin_send_err(ac, ER_UNKNOWN_ERROR, "HY000", "acctgate: %s SNAPSHOT '%s' failed: %s", what,
				      t->cmd.snapshot_id, t->err);
	} else if (t->cmd.verb == ADMIN_VERIFY_SNAPSHOT) {
		static const char *const cols[] = {"id", "sequence", "tables", "rows", "bytes", "result"};
		char seq[24], tables[24], rows[24], bytes[24];
		snprintf(seq, sizeof(seq), "%llu", (unsigned long long)t->res.seq);
		snprintf(tables, sizeof(tables), "%llu", (unsigned long long)t->res.tables);
		snprintf(rows, sizeof(rows), "%llu", (unsigned long long)t->res.rows);
		snprintf(bytes, sizeof(bytes), "%llu", (unsigned long long)t->res.bytes);
		const char *v[] = {t->cmd.snapshot_id, seq, tables, rows, bytes, "ok"};
		sent = admin_rs_begin(ac, cols, 6) && admin_rs_row(ac, v, 6) && admin_rs_end(ac);
	} else {
		static const char *const cols[] = {"report"};
		sent = admin_rs_begin(ac, cols, 1);
		size_t lines = 0;
		for (char *p = t->report; sent && p && *p;) {
			char *nl = strchr(p, '\n');
			if (nl)
				*nl = '\0';
			if (*p) {
				const char *v[] = {p};
				if (++lines <= REPORT_LINES_MAX)
					sent = admin_rs_row(ac, v, 1);
			}
			p = nl ? nl + 1 : p + strlen(p);
		}
		if (sent && lines > REPORT_LINES_MAX) {
			char more[96];
			snprintf(more, sizeof(more), "(%zu more lines: `acctgate restore` prints them all)",
				 lines - REPORT_LINES_MAX);
			const char *v[] = {more};
			sent = admin_rs_row(ac, v, 1);
		}
		sent = sent && admin_rs_end(ac);
	}
	if (!sent) {
		admin_close(ac, "out of memory writing an answer");
	} else {
		admin_command_done(ac);
		admin_flush(ac);
	}
}

static void task_done_on_main(struct worker *unused, void *arg)
{
	(void)unused;
	struct snapshot_task *t = arg;
	t->admin->task_running = NULL;
	const char *what = t->cmd.verb == ADMIN_VERIFY_SNAPSHOT ? "verify" : "restore";
	if (t->ok)
		log_notice("admin: %s of snapshot %s%s%s done", what, t->cmd.snapshot_id,
			   t->cmd.into_database[0] ? " into database " : t->live_db[0] ? " in place of database " : "",
			   t->cmd.into_database[0] ? t->cmd.into_database : t->live_db);
	else
		log_error("admin: %s of snapshot %s failed: %s", what, t->cmd.snapshot_id, t->err);
	struct admin_conn *ac = admin_find_conn(t->admin, t->conn_id);
	if (ac && ac->state == AS_GATHERING)
		send_answer(ac, t);
	OPENSSL_cleanse(t->acct.password, sizeof(t->acct.password));
	free(t->report);
	free(t);
}

/* The last line of what restore_run wrote to its error stream, without
 * the program's name: the ERR's message. */
static void last_error_line(const char *text, char *out, size_t len)
{
	const char *last = text, *p = text;
	while (p && *p) {
		const char *nl = strchr(p, '\n');
		if (p[0] != '\n' && p[0] != '\r')
			last = p;
		p = nl ? nl + 1 : NULL;
	}
	static const char prefix[] = "acctgate restore: ";
	if (strncmp(last, prefix, sizeof(prefix) - 1) == 0)
		last += sizeof(prefix) - 1;
	size_t n = strcspn(last, "\n");
	snprintf(out, len, "%.*s", (int)n, last);
}

/* restore_run into the task's report; false with t->err filled. */
static bool load_and_replay(struct snapshot_task *t, FILE *out)
{
	char *errtext = NULL;
	size_t errlen = 0;
	FILE *err = open_memstream(&errtext, &errlen);
	if (!err) {
		snprintf(t->err, sizeof(t->err), "out of memory");
		return false;
	}
	int status = restore_run(&t->ro, out, err);
	fclose(err);
	/* Divergences (1) are a restore done with a report that says where
	 * replay and record disagree: the admin reads them in the answer. */
	bool ok = status == 0 || status == 1;
	if (!ok)
		last_error_line(errtext && errtext[0] ? errtext : "the restore failed", t->err, sizeof(t->err));
	free(errtext);
	return ok;
}

/* Steps 2 of the in-place restore: clients held, then the journal's cut
 * (*cut_seq 0 without a journal). */
static bool hold_and_cut(struct snapshot_task *t, uint64_t *cut_seq, uint64_t *cut_usec)
{
	struct gate *g = t->admin->gate;
	char why[512];
	if (!quiesce_begin(g->quiesce, QUIESCE_TIMEOUT_MS, why, sizeof(why))) {
		snprintf(t->err, sizeof(t->err), "cannot hold the clients: %s", why);
		return false;
	}
	*cut_seq = 0;
	if (!g->recorder)
		return true;
	if (recorder_cut_begin(g->recorder, CUT_TIMEOUT_MS, why, sizeof(why))) {
		*cut_seq = recorder_cut_mark(g->recorder, why, sizeof(why));
		recorder_cut_end(g->recorder, NULL);
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		*cut_usec = (uint64_t)now.tv_sec * 1000000u + (uint64_t)now.tv_nsec / 1000u;
	}
	if (!*cut_seq) {
		snprintf(t->err, sizeof(t->err), "the journal cannot record the restore's cut: %s", why);
		quiesce_end(g->quiesce, NULL);
		return false;
	}
	return true;
}

static void in_place(struct snapshot_task *t, FILE *out)
{
	struct gate *g = t->admin->gate;
	const struct restore_options ro = t->ro;
	bool to_end = ro.conn.journal_dir && !ro.conn.range.until_seq && !ro.conn.range.until_time_usec;
	uint64_t cut_seq = 0, cut_usec = 0, held_usec = 0;
	bool held = false, ok = true;
	if (to_end) {
		ok = held = hold_and_cut(t, &cut_seq, &cut_usec);
		t->ro.conn.range.until_seq = cut_seq;
	}
	ok = ok && load_and_replay(t, out);
	if (ok && !held)
		ok = held = hold_and_cut(t, &cut_seq, &cut_usec);
	struct swap_result sw = {0};
	char why[768];
	if (ok && !restore_swap(&ro.conn, t->live_db, t->side_db, t->old_db, &sw, why, sizeof(why))) {
		snprintf(t->err, sizeof(t->err), "%s", why);
		ok = false;
	}
	bool undo_lost = false;
	if (sw.swapped && cut_seq && !to_end) {
		struct journal_undo u = {.until_seq = ro.conn.range.until_seq,
					 .until_time_usec = ro.conn.range.until_time_usec,
					 .cut_seq = cut_seq,
					 .cut_time_usec = cut_usec};
		if (!journal_undo_append(ro.conn.journal_dir, &u, why, sizeof(why))) {
			log_error("admin: in-place restore of %s: the journal's undo list: %s", t->live_db, why);
			undo_lost = true;
		}
	}
	size_t waited = held ? quiesce_end(g->quiesce, &held_usec) : 0;
	if (held)
		log_notice("admin: in-place restore of %s: client commands held for %.1f ms (%zu sessions waited)%s",
			   t->live_db, (double)held_usec / 1000.0, waited, sw.swapped ? "" : "; nothing was changed");
	if (!sw.swapped) {
		/* Nothing changed: what was loaded beside goes. */
		char ignored[256];
		restore_drop_database(&ro.conn, t->side_db, ignored, sizeof(ignored));
		t->ok = false;
		return;
	}
	fprintf(out, "in place: database %s now holds the restored state (%llu tables); its tables before the "
		     "restore are in database %s (DROP DATABASE %s once satisfied)\n",
		t->live_db, (unsigned long long)sw.tables, t->old_db, t->old_db);
	fprintf(out, "client commands were held for %.1f ms (%zu sessions waited); ids handed out since the point "
		     "restored to are not handed out again\n",
		(double)held_usec / 1000.0, waited);
	if (cut_seq && !to_end)
		fprintf(out, "journal: the commits after the point restored to, up to the cut at seq %llu, are undone "
			     "for later restores (%s)\n",
			(unsigned long long)cut_seq, JOURNAL_UNDO_FILE);
	if (undo_lost)
		fprintf(out, "WARNING: the journal's undo list could not be written (see the log): a later restore "
			     "from an older snapshot past seq %llu would replay undone commits; take a SNAPSHOT now\n",
			(unsigned long long)cut_seq);
	fprintf(out, "Slurm: restart slurmdbd, then slurmctld, now (systemctl restart slurmdbd; systemctl restart "
		     "slurmctld: running jobs survive it): both cache associations, QOS and users from before the "
		     "restore, and scontrol reconfigure does not reload them\n");
	if (!ok)
		fprintf(out, "WARNING: %s\n", t->err);
	t->ok = true;
}

static void run_restore(struct snapshot_task *t)
{
	FILE *out = open_memstream(&t->report, &t->report_len);
	if (!out) {
		snprintf(t->err, sizeof(t->err), "out of memory");
		return;
	}
	if (t->live_db[0])
		in_place(t, out);
	else
		t->ok = load_and_replay(t, out);
	fclose(out);
}

static void *task_thread(void *arg)
{
	struct snapshot_task *t = arg;
	if (t->cmd.verb == ADMIN_VERIFY_SNAPSHOT)
		t->ok = snapshot_verify(t->dir, &t->res, t->err, sizeof(t->err));
	else
		run_restore(t);
	struct mail *m = calloc(1, sizeof(*m));
	if (!m) {
		log_error("admin: out of memory reporting the end of a snapshot's %s",
			  t->cmd.verb == ADMIN_VERIFY_SNAPSHOT ? "verify" : "restore");
		return NULL;
	}
	m->kind = MAIL_CALL;
	m->u.call.fn = task_done_on_main;
	m->u.call.arg = t;
	mailbox_post(&t->admin->mailbox, m);
	return NULL;
}

/* The snapshot's directory if it is one (it has a MANIFEST): NULL with
 * the ERR sent otherwise. */
static bool snapshot_dir(struct admin_conn *ac, const struct config *cfg, const char *id, char *dir, size_t len)
{
	if (!cfg->snapshot_dir[0]) {
		if (!admin_send_err(ac, ER_UNKNOWN_ERROR, "HY000", "acctgate: no [snapshot] dir is configured"))
			admin_close(ac, "out of memory writing an answer");
		return false;
	}
	snprintf(dir, len, "%s/%s", cfg->snapshot_dir, id);
	char manifest[CONFIG_STR_MAX + ADMIN_SNAPSHOT_ID_MAX + 16];
	snprintf(manifest, sizeof(manifest), "%s/MANIFEST", dir);
	struct stat sb;
	if (stat(manifest, &sb) != 0 || snapshots_running(ac->admin->gate->snapshots, id)) {
		if (!admin_send_err(ac, ER_UNKNOWN_ERROR, "HY000",
				    "acctgate: unknown snapshot '%s' (SHOW SNAPSHOTS lists those taken)", id))
			admin_close(ac, "out of memory writing an answer");
		return false;
	}
	return true;
}

static bool refuse(struct admin_conn *ac, const char *fmt, const char *arg)
{
	char msg[512];
	snprintf(msg, sizeof(msg), fmt, arg);
	if (!admin_send_err(ac, ER_UNKNOWN_ERROR, "HY000", "acctgate: %s", msg))
		admin_close(ac, "out of memory writing an answer");
	return false;
}

/* An in-place restore's databases: the snapshot's own, the one it loads
 * into first and the one the live tables go to, named by the time. False
 * with the ERR sent. */
static bool in_place_options(struct admin_conn *ac, struct snapshot_task *t)
{
	struct admin *a = ac->admin;
	char why[256];
	if (!a->gate->quiesce)
		return refuse(ac, "an in-place restore needs [snapshot] user when acctgate starts (it was added "
				  "later): restart acctgate, or restore INTO DATABASE%s", "");
	if (snapshots_running_id(a->gate->snapshots))
		return refuse(ac, "a SNAPSHOT is running: restore in place once it is done%s", "");
	if (!snapshot_database(t->dir, t->live_db, sizeof(t->live_db), why, sizeof(why)))
		return refuse(ac, "%s", why);
	char stamp[15];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%d%H%M%S", &tm);
	/* 64 characters at most: the live name gives way to the suffix. */
	snprintf(t->side_db, sizeof(t->side_db), "%.38s_restoring_%s", t->live_db, stamp);
	snprintf(t->old_db, sizeof(t->old_db), "%.38s_before_%s", t->live_db, stamp);
	t->ro.into_database = t->side_db;
	return true;
}

/* RESTORE's options from the command; false with the ERR sent. */
static bool restore_options(struct admin_conn *ac, struct snapshot_task *t)
{
	t->ro = (struct restore_options){.snapshot_dir = t->dir,
					 .into_database = t->cmd.into_database,
					 .threads = t->threads,
					 .conn = t->ro.conn};
	if (t->journal_dir[0])
		t->ro.conn.journal_dir = t->journal_dir;
	else if (t->cmd.until_time[0] || t->cmd.until_seq)
		return refuse(ac, "UNTIL needs the journal: no [journal] dir is configured%s", "");
	if (t->cmd.until_time[0]) {
		uint64_t usec;
		if (!journal_parse_time(t->cmd.until_time, &usec) || usec == 0)
			return refuse(ac, "UNTIL '%s': expected 'YYYY-MM-DD HH:MM:SS[.ffffff]' (UTC)", t->cmd.until_time);
		t->ro.conn.range.until_time_usec = usec;
	}
	t->ro.conn.range.until_seq = t->cmd.until_seq;
	return t->cmd.into_database[0] || in_place_options(ac, t);
}

void admin_snapshot_task(struct admin_conn *ac, const struct admin_command *cmd)
{
	struct admin *a = ac->admin;
	if (a->task_running) {
		refuse(ac, "a snapshot's %s is running; one at a time",
		       a->task_running->cmd.verb == ADMIN_VERIFY_SNAPSHOT ? "verify" : "restore");
		return;
	}
	struct settings *st = gate_settings(a->gate);
	const struct config *cfg = &st->cfg;
	struct snapshot_task *t = calloc(1, sizeof(*t));
	if (!t) {
		settings_release(st);
		admin_close(ac, "out of memory");
		return;
	}
	t->admin = a;
	t->conn_id = ac->id;
	t->cmd = *cmd;
	bool ready = snapshot_dir(ac, cfg, cmd->snapshot_id, t->dir, sizeof(t->dir));
	if (ready && cmd->verb == ADMIN_RESTORE_SNAPSHOT) {
		if (!cfg->snapshot_user[0]) {
			ready = refuse(ac, "RESTORE SNAPSHOT needs [snapshot] user and password_file%s", "");
		} else {
			snprintf(t->journal_dir, sizeof(t->journal_dir), "%s", cfg->journal_dir);
			t->threads = cfg->snapshot_threads;
			gate_db_account(cfg, &t->acct, &t->ro.conn);
			ready = restore_options(ac, t);
		}
	}
	settings_release(st);
	if (!ready) {
		OPENSSL_cleanse(t->acct.password, sizeof(t->acct.password));
		free(t);
		return;
	}
	pthread_t th;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	int e = pthread_create(&th, &attr, task_thread, t);
	pthread_attr_destroy(&attr);
	if (e) {
		OPENSSL_cleanse(t->acct.password, sizeof(t->acct.password));
		free(t);
		refuse(ac, "cannot start a thread: %s", strerror(e));
		return;
	}
	a->task_running = t;
	log_notice("admin: %s of snapshot %s%s%s started by admin %llu",
		   cmd->verb == ADMIN_VERIFY_SNAPSHOT ? "verify" : "restore", cmd->snapshot_id,
		   cmd->into_database[0] ? " into database " : t->live_db[0] ? " in place of database " : "",
		   cmd->into_database[0] ? cmd->into_database : t->live_db, (unsigned long long)ac->id);
	ac->state = AS_GATHERING;
	conn_set_reading(ac->c, false);
}

bool admin_restoring_in_place(const struct admin *a)
{
	return a->task_running && a->task_running->live_db[0];
}

bool admin_snapshot_in_use(const struct admin *a, const char *id)
{
	return a->task_running && strcmp(a->task_running->cmd.snapshot_id, id) == 0;
}

void admin_drop_snapshot(struct admin_conn *ac, const struct admin_command *cmd)
{
	struct admin *a = ac->admin;
	if (admin_snapshot_in_use(a, cmd->snapshot_id)) {
		refuse(ac, "snapshot '%s' is being read (a verify or restore): drop it afterwards", cmd->snapshot_id);
		return;
	}
	struct settings *st = gate_settings(a->gate);
	char dir[CONFIG_STR_MAX + ADMIN_SNAPSHOT_ID_MAX + 2], parent[CONFIG_STR_MAX];
	bool found = snapshot_dir(ac, &st->cfg, cmd->snapshot_id, dir, sizeof(dir));
	snprintf(parent, sizeof(parent), "%s", st->cfg.snapshot_dir);
	settings_release(st);
	if (!found)
		return;
	int e = snapshot_list_remove(parent, cmd->snapshot_id);
	/* Gone or half gone (no MANIFEST any more), it no longer keeps
	 * journal segments. */
	snapshots_changed(a->gate->snapshots);
	if (e) {
		log_error("admin: dropping snapshot %s: %s", dir, strerror(e));
		refuse(ac, "cannot remove all of the snapshot's directory: %s", strerror(e));
		return;
	}
	log_notice("admin: snapshot %s dropped by admin %llu", cmd->snapshot_id, (unsigned long long)ac->id);
	if (!admin_send_ok(ac, "snapshot dropped"))
		admin_close(ac, "out of memory writing an answer");
}
