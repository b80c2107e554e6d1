/*
 * admin_restore.c - the admin port's VERIFY SNAPSHOT, RESTORE SNAPSHOT
 * and DROP SNAPSHOT.
 *
 * VERIFY and RESTORE read (and load) whole snapshots: like SNAPSHOT they
 * run on a thread of their own while the admin connection that asked
 * waits unread and everything else goes on; one at a time. RESTORE loads
 * beside the live database (INTO DATABASE, admin_parse.c says why never
 * in place) with acctgate's own account, then rolls forward with the
 * journal the daemon is writing: what replay reads is what was durable
 * when it got there. Its answer is its report, one row per line: the
 * load, the replay's summary, every divergence and every transaction
 * left in doubt.
 */
#include "admin_int.h"

#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "gate.h"
#include "log.h"
#include "snapshot.h"

#define ER_UNKNOWN_ERROR 1105
/* The report's rows: a restore with more divergences than this says how
 * many it left out (the offline `acctgate restore` prints them all). */
#define REPORT_LINES_MAX 1000

struct snapshot_task {
	struct admin *admin;
	uint64_t conn_id;
	struct admin_command cmd;
	char dir[CONFIG_STR_MAX + ADMIN_SNAPSHOT_ID_MAX + 2];
	char journal_dir[CONFIG_STR_MAX];
	int threads;
	struct admin_db_account acct;
	struct restore_options ro;
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
			   t->cmd.into_database[0] ? " into database " : "", t->cmd.into_database);
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

static void run_restore(struct snapshot_task *t)
{
	char *errtext = NULL;
	size_t errlen = 0;
	FILE *out = open_memstream(&t->report, &t->report_len);
	FILE *err = open_memstream(&errtext, &errlen);
	if (!out || !err) {
		snprintf(t->err, sizeof(t->err), "out of memory");
		if (out)
			fclose(out);
		if (err)
			fclose(err);
		return;
	}
	int status = restore_run(&t->ro, out, err);
	fclose(out);
	fclose(err);
	/* Divergences (1) are a restore done with a report that says where
	 * replay and record disagree: the admin reads them in the answer. */
	t->ok = status == 0 || status == 1;
	if (!t->ok)
		last_error_line(errtext && errtext[0] ? errtext : "the restore failed", t->err, sizeof(t->err));
	free(errtext);
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
	if (stat(manifest, &sb) != 0 || admin_snapshot_running_id(ac->admin, id)) {
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
	return true;
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
			admin_db_account(cfg, &t->acct, &t->ro.conn);
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
		   cmd->into_database[0] ? " into database " : "", cmd->into_database, (unsigned long long)ac->id);
	ac->state = AS_GATHERING;
	conn_set_reading(ac->c, false);
}

static int remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path) == 0 ? 0 : errno;
}

void admin_drop_snapshot(struct admin_conn *ac, const struct admin_command *cmd)
{
	struct admin *a = ac->admin;
	if (a->task_running && strcmp(a->task_running->cmd.snapshot_id, cmd->snapshot_id) == 0) {
		refuse(ac, "snapshot '%s' is being read (a verify or restore): drop it afterwards", cmd->snapshot_id);
		return;
	}
	struct settings *st = gate_settings(a->gate);
	char dir[CONFIG_STR_MAX + ADMIN_SNAPSHOT_ID_MAX + 2];
	bool found = snapshot_dir(ac, &st->cfg, cmd->snapshot_id, dir, sizeof(dir));
	settings_release(st);
	if (!found)
		return;
	/* The MANIFEST first: a drop cut short leaves a directory SHOW
	 * SNAPSHOTS no longer lists and RESTORE refuses, not half a snapshot
	 * that looks whole. */
	char manifest[sizeof(dir) + 16];
	snprintf(manifest, sizeof(manifest), "%s/MANIFEST", dir);
	int e = unlink(manifest) == 0 ? nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS) : errno;
	if (e) {
		log_error("admin: dropping snapshot %s: %s", dir, strerror(e > 0 ? e : errno));
		refuse(ac, "cannot remove all of the snapshot's directory: %s", strerror(e > 0 ? e : errno));
		return;
	}
	log_notice("admin: snapshot %s dropped by admin %llu", cmd->snapshot_id, (unsigned long long)ac->id);
	if (!admin_send_ok(ac, "snapshot dropped"))
		admin_close(ac, "out of memory writing an answer");
}
