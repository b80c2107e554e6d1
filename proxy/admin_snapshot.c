/*
 * admin_snapshot.c - the admin port's SNAPSHOT and SHOW SNAPSHOTS.
 *
 * SNAPSHOT starts the daemon's snapshot job (snapshots.h: the same job
 * [snapshot] schedule starts) and the admin connection that asked waits
 * unread (AS_GATHERING) for its end, while every other admin session and
 * all client traffic go on. One snapshot at a time.
 */
#include "admin_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gate.h"
#include "log.h"
#include "snapshot.h"
#include "snapshot_list.h"
#include "snapshots.h"

#define ER_UNKNOWN_ERROR 1105

/* The job's end, on the main thread: the answer, if its asker is still
 * there. */
static void snapshot_answered(void *arg, bool ok, const struct snapshot_result *res, const char *err)
{
	struct admin *a = arg;
	struct admin_conn *ac = admin_find_conn(a, a->snapshot_waiter);
	a->snapshot_waiter = 0;
	if (!ac || ac->state != AS_GATHERING)
		return;
	bool sent;
	if (ok) {
		static const char *const cols[] = {"id", "sequence", "time", "tables", "rows", "bytes", "seconds",
						   "commits_held_ms"};
		char seq[24], when[48], tables[24], rows[24], bytes[24], secs[32], held[32];
		snprintf(seq, sizeof(seq), "%llu", (unsigned long long)res->seq);
		journal_format_time(res->time_usec, when, sizeof(when));
		snprintf(tables, sizeof(tables), "%llu", (unsigned long long)res->tables);
		snprintf(rows, sizeof(rows), "%llu", (unsigned long long)res->rows);
		snprintf(bytes, sizeof(bytes), "%llu", (unsigned long long)res->bytes);
		snprintf(secs, sizeof(secs), "%.3f", res->seconds);
		snprintf(held, sizeof(held), "%.3f", (double)res->held_usec / 1000);
		const char *v[] = {res->id, seq, when, tables, rows, bytes, secs, held};
		sent = admin_rs_begin(ac, cols, 8) && admin_rs_row(ac, v, 8) && admin_rs_end(ac);
	} else {
		sent = admin_send_err(ac, ER_UNKNOWN_ERROR, "HY000", "acctgate: SNAPSHOT failed: %s", err);
	}
	if (!sent) {
		admin_close(ac, "out of memory writing an answer");
	} else {
		admin_command_done(ac);
		admin_flush(ac);
	}
}

void admin_snapshot(struct admin_conn *ac)
{
	char who[48], why[400];
	snprintf(who, sizeof(who), "admin %llu", (unsigned long long)ac->id);
	bool sent = true;
	switch (snapshots_start(ac->admin->gate->snapshots, who, snapshot_answered, ac->admin, why, sizeof(why))) {
	case SNAPSHOTS_STARTED:
		ac->admin->snapshot_waiter = ac->id;
		ac->state = AS_GATHERING;
		conn_set_reading(ac->c, false);
		return;
	case SNAPSHOTS_UNCONFIGURED:
	case SNAPSHOTS_BLOCKED:
		sent = admin_send_err(ac, ER_UNKNOWN_ERROR, "HY000", "acctgate: SNAPSHOT needs %s", why);
		break;
	case SNAPSHOTS_BUSY:
		sent = admin_send_err(ac, ER_UNKNOWN_ERROR, "HY000", "acctgate: snapshot %s is running; SHOW SNAPSHOTS shows it",
				      why);
		break;
	case SNAPSHOTS_FAILED:
		sent = admin_send_err(ac, ER_UNKNOWN_ERROR, "HY000", "acctgate: cannot start the snapshot: %s", why);
		break;
	}
	if (!sent)
		admin_close(ac, "out of memory writing an answer");
}

void admin_show_snapshots(struct admin_conn *ac)
{
	static const char *const cols[] = {"id", "sequence", "time", "tables", "rows", "bytes", "state"};
	const struct snapshots *snaps = ac->admin->gate->snapshots;
	const char *running = snapshots_running_id(snaps);
	struct settings *st = gate_settings(ac->admin->gate);
	struct snapshot_entry *e;
	size_t n;
	bool ok = snapshot_list_read(st->cfg.snapshot_dir, running, &e, &n);
	settings_release(st);
	ok = ok && admin_rs_begin(ac, cols, 7);
	for (size_t i = 0; ok && i < n; i++) {
		char seq[24], when[48], tables[24], rows[24], bytes[24];
		snprintf(seq, sizeof(seq), "%llu", (unsigned long long)e[i].seq);
		journal_format_time(e[i].time_usec, when, sizeof(when));
		snprintf(tables, sizeof(tables), "%llu", (unsigned long long)e[i].tables);
		snprintf(rows, sizeof(rows), "%llu", (unsigned long long)e[i].rows);
		snprintf(bytes, sizeof(bytes), "%llu", (unsigned long long)e[i].bytes);
		const char *v[] = {e[i].id, seq, when, tables, rows, bytes, "done"};
		ok = admin_rs_row(ac, v, 7);
	}
	free(e);
	if (ok && running) {
		const char *v[] = {running, "0", "", "0", "0", "0", "running"};
		ok = admin_rs_row(ac, v, 7);
	}
	if (!(ok && admin_rs_end(ac)))
		admin_close(ac, "out of memory writing an answer");
}
