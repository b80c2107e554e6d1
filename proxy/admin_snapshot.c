/*
 * admin_snapshot.c - the admin port's SNAPSHOT and SHOW SNAPSHOTS.
 *
 * A snapshot takes seconds to hours: it runs on a thread of its own
 * (snapshot_take over acctgate's own connections, [snapshot] user), while
 * the admin connection that asked waits unread (AS_GATHERING) and every
 * other admin session and all client traffic go on. Its cut goes through
 * the recorder (recorder_cut_begin/mark/end): commits are held only while
 * the dump connections open their views. The answer comes back through
 * the admin's mailbox, to the main thread. One snapshot at a time.
 */
#include "admin_int.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gate.h"
#include "log.h"
#include "recorder.h"
#include "snapshot.h"

#define ER_UNKNOWN_ERROR 1105
/* A cut waits at most this long for the commits in flight before it lets
 * the held ones go and tries again (snapshot.c): the longest a commit is
 * held, give or take the views' opening. */
#define CUT_TIMEOUT_MS 30

struct snapshot_job {
	struct admin *admin;
	uint64_t conn_id;
	struct recorder *recorder;
	struct snapshot_options o;
	struct snapshot_cut cut;
	char dir[CONFIG_STR_MAX + 64];
	struct admin_db_account acct;
	char databases[CONFIG_STR_MAX];
	bool ok;
	struct snapshot_result res;
	char err[768];
};

static bool cut_begin(void *arg, char *err, size_t len) { return recorder_cut_begin(arg, CUT_TIMEOUT_MS, err, len); }
static uint64_t cut_mark(void *arg, char *err, size_t len) { return recorder_cut_mark(arg, err, len); }
static void cut_end(void *arg, uint64_t *held_usec) { recorder_cut_end(arg, held_usec); }

static void snapshot_done_on_main(struct worker *unused, void *arg)
{
	(void)unused;
	struct snapshot_job *job = arg;
	job->admin->snapshot_running = NULL;
	if (job->ok)
		log_notice("admin: snapshot %s taken: journal sequence %llu, %llu tables, %llu rows, %.3f s, commits held "
			   "%.3f ms",
			   job->res.id, (unsigned long long)job->res.seq, (unsigned long long)job->res.tables,
			   (unsigned long long)job->res.rows, job->res.seconds, (double)job->res.held_usec / 1000);
	else
		log_error("admin: snapshot failed: %s", job->err);
	struct admin_conn *ac = admin_find_conn(job->admin, job->conn_id);
	if (ac && ac->state == AS_GATHERING) {
		bool sent;
		if (job->ok) {
			static const char *const cols[] = {"id", "sequence", "time", "tables", "rows", "bytes", "seconds",
							   "commits_held_ms"};
			char seq[24], when[48], tables[24], rows[24], bytes[24], secs[32], held[32];
			snprintf(seq, sizeof(seq), "%llu", (unsigned long long)job->res.seq);
			journal_format_time(job->res.time_usec, when, sizeof(when));
			snprintf(tables, sizeof(tables), "%llu", (unsigned long long)job->res.tables);
			snprintf(rows, sizeof(rows), "%llu", (unsigned long long)job->res.rows);
			snprintf(bytes, sizeof(bytes), "%llu", (unsigned long long)job->res.bytes);
			snprintf(secs, sizeof(secs), "%.3f", job->res.seconds);
			snprintf(held, sizeof(held), "%.3f", (double)job->res.held_usec / 1000);
			const char *v[] = {job->res.id, seq, when, tables, rows, bytes, secs, held};
			sent = admin_rs_begin(ac, cols, 8) && admin_rs_row(ac, v, 8) && admin_rs_end(ac);
		} else {
			sent = admin_send_err(ac, ER_UNKNOWN_ERROR, "HY000", "acctgate: SNAPSHOT failed: %s", job->err);
		}
		if (!sent) {
			admin_close(ac, "out of memory writing an answer");
		} else {
			admin_command_done(ac);
			admin_flush(ac);
		}
	}
	OPENSSL_cleanse(job->acct.password, sizeof(job->acct.password));
	free(job);
}

static void *snapshot_thread(void *arg)
{
	struct snapshot_job *job = arg;
	job->ok = snapshot_take(&job->o, &job->res, job->err, sizeof(job->err));
	struct mail *m = calloc(1, sizeof(*m));
	if (!m) {
		log_error("admin: out of memory reporting a snapshot's end");
		return NULL;
	}
	m->kind = MAIL_CALL;
	m->u.call.fn = snapshot_done_on_main;
	m->u.call.arg = job;
	mailbox_post(&job->admin->mailbox, m);
	return NULL;
}

void admin_snapshot(struct admin_conn *ac)
{
	struct gate *gt = ac->admin->gate;
	struct settings *st = gate_settings(gt);
	const struct config *cfg = &st->cfg;
	const char *missing = !gt->recorder		? "[journal] dir (a snapshot is cut with the journal)"
			      : !cfg->snapshot_dir[0]	? "[snapshot] dir"
			      : !cfg->snapshot_user[0] ? "[snapshot] user and password_file"
						       : NULL;
	if (!missing && admin_restoring_in_place(ac->admin))
		missing = "the in-place restore running to end first (its tables are moving)";
	struct snapshot_job *running = ac->admin->snapshot_running;
	if (missing || running) {
		bool ok = missing ? admin_send_err(ac, ER_UNKNOWN_ERROR, "HY000", "acctgate: SNAPSHOT needs %s", missing)
				  : admin_send_err(ac, ER_UNKNOWN_ERROR, "HY000",
						   "acctgate: snapshot %s is running; SHOW SNAPSHOTS shows it", running->res.id);
		settings_release(st);
		if (!ok)
			admin_close(ac, "out of memory writing an answer");
		return;
	}
	struct snapshot_job *job = calloc(1, sizeof(*job));
	if (!job) {
		settings_release(st);
		admin_close(ac, "out of memory");
		return;
	}
	job->admin = ac->admin;
	job->conn_id = ac->id;
	job->recorder = gt->recorder;
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	char id[32];
	strftime(id, sizeof(id), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(job->dir, sizeof(job->dir), "%s/%s", cfg->snapshot_dir, id);
	snprintf(job->res.id, sizeof(job->res.id), "%s", id);
	snprintf(job->databases, sizeof(job->databases), "%s", cfg->snapshot_databases);
	job->cut = (struct snapshot_cut){cut_begin, cut_mark, cut_end, gt->recorder};
	job->o = (struct snapshot_options){
		.dir = job->dir,
		.databases = job->databases,
		.threads = cfg->snapshot_threads,
		.cut = &job->cut,
	};
	admin_db_account(cfg, &job->acct, &job->o.conn);
	settings_release(st);
	pthread_t th;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	int e = pthread_create(&th, &attr, snapshot_thread, job);
	pthread_attr_destroy(&attr);
	if (e) {
		free(job);
		if (!admin_send_err(ac, ER_UNKNOWN_ERROR, "HY000", "acctgate: cannot start the snapshot: %s", strerror(e)))
			admin_close(ac, "out of memory writing an answer");
		return;
	}
	ac->admin->snapshot_running = job;
	log_notice("admin: snapshot %s started by admin %llu into %s", id, (unsigned long long)ac->id, job->dir);
	ac->state = AS_GATHERING;
	conn_set_reading(ac->c, false);
}

void admin_db_account(const struct config *cfg, struct admin_db_account *acct, struct replay_options *conn)
{
	snprintf(acct->host, sizeof(acct->host), "%s", cfg->servers[0].host);
	snprintf(acct->user, sizeof(acct->user), "%s", cfg->snapshot_user);
	snprintf(acct->password, sizeof(acct->password), "%s", cfg->snapshot_password);
	snprintf(acct->tls_ca, sizeof(acct->tls_ca), "%s", cfg->upstream_tls_ca);
	snprintf(acct->tls_cert, sizeof(acct->tls_cert), "%s", cfg->upstream_tls_cert);
	snprintf(acct->tls_key, sizeof(acct->tls_key), "%s", cfg->upstream_tls_key);
	*conn = (struct replay_options){.host = acct->host,
					.port = cfg->servers[0].port,
					.user = acct->user,
					.password = acct->password,
					.tls = gate_replay_tls(cfg->upstream_tls),
					.tls_ca = acct->tls_ca,
					.tls_cert = acct->tls_cert,
					.tls_key = acct->tls_key};
}

bool admin_snapshot_running_id(const struct admin *a, const char *id)
{
	return a->snapshot_running && strcmp(a->snapshot_running->res.id, id) == 0;
}

/* One manifest's summary (without re-reading the data: VERIFY does). */
static bool read_summary(const char *path, struct snapshot_result *r)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	char line[512];
	while (fgets(line, sizeof(line), f)) {
		unsigned long long a, b, c;
		char db[65], t[65];
		if (sscanf(line, "journal_seq %llu", &a) == 1)
			r->seq = a;
		else if (sscanf(line, "time_usec %llu", &a) == 1)
			r->time_usec = a;
		else if (sscanf(line, "table %64s %64s rows %llu bytes %llu crc32c %llx", db, t, &a, &b, &c) == 5) {
			r->tables++;
			r->rows += a;
			r->bytes += b;
		}
	}
	fclose(f);
	return true;
}

void admin_show_snapshots(struct admin_conn *ac)
{
	static const char *const cols[] = {"id", "sequence", "time", "tables", "rows", "bytes", "state"};
	bool ok = admin_rs_begin(ac, cols, 7);
	struct settings *st = gate_settings(ac->admin->gate);
	DIR *d = st->cfg.snapshot_dir[0] ? opendir(st->cfg.snapshot_dir) : NULL;
	struct dirent *e;
	while (ok && d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char path[CONFIG_STR_MAX + 300];
		snprintf(path, sizeof(path), "%s/%s/MANIFEST", st->cfg.snapshot_dir, e->d_name);
		struct snapshot_result r = {0};
		bool done = read_summary(path, &r);
		const struct snapshot_job *running = ac->admin->snapshot_running;
		bool is_running = running && strcmp(running->res.id, e->d_name) == 0;
		if (!done && !is_running)
			continue;
		char seq[24], when[48] = "", tables[24], rows[24], bytes[24];
		snprintf(seq, sizeof(seq), "%llu", (unsigned long long)r.seq);
		if (r.time_usec)
			journal_format_time(r.time_usec, when, sizeof(when));
		snprintf(tables, sizeof(tables), "%llu", (unsigned long long)r.tables);
		snprintf(rows, sizeof(rows), "%llu", (unsigned long long)r.rows);
		snprintf(bytes, sizeof(bytes), "%llu", (unsigned long long)r.bytes);
		const char *v[] = {e->d_name, seq, when, tables, rows, bytes, is_running ? "running" : "done"};
		ok = admin_rs_row(ac, v, 7);
	}
	if (d)
		closedir(d);
	settings_release(st);
	if (!(ok && admin_rs_end(ac)))
		admin_close(ac, "out of memory writing an answer");
}

bool admin_last_snapshot(struct admin *a, char *id, size_t id_len, uint64_t *time_usec)
{
	struct settings *st = gate_settings(a->gate);
	DIR *d = st->cfg.snapshot_dir[0] ? opendir(st->cfg.snapshot_dir) : NULL;
	bool found = false;
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.' || admin_snapshot_running_id(a, e->d_name))
			continue;
		char path[CONFIG_STR_MAX + 300];
		snprintf(path, sizeof(path), "%s/%s/MANIFEST", st->cfg.snapshot_dir, e->d_name);
		struct snapshot_result r = {0};
		if (read_summary(path, &r) && (!found || r.time_usec > *time_usec)) {
			found = true;
			*time_usec = r.time_usec;
			snprintf(id, id_len, "%s", e->d_name);
		}
	}
	if (d)
		closedir(d);
	settings_release(st);
	return found;
}
