/*
 * admin.h - the admin port: a MySQL-protocol listener whose client is the
 * stock mariadb/mysql command line, with its own login (one account,
 * [admin] user and password_file, checked by acctgate itself) and a few
 * commands (admin_parse.h) answered as result sets or OK/ERR.
 *
 * It runs on the main thread's event base, beside the listener's accept,
 * the signals and the health checks: admin traffic is a handful of
 * connections a day, the main loop is otherwise idle, and RELOAD must run
 * where SIGHUP's reload runs (gate_reload swaps the settings generation and
 * reconfigures the upstream pool from this thread). What lives on the
 * workers (sessions, I/O counters) is read there, with worker_call, and the
 * answers come back through the admin's own mailbox.
 */
#ifndef ACCTGATE_ADMIN_H
#define ACCTGATE_ADMIN_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

struct gate;
struct admin;

/*
 * Start the admin port of cfg's [admin] on g->base (after the workers
 * exist). Without [admin] user and password_file it does not start: true,
 * *out NULL, and one notice says why. False with err filled when it is
 * configured but cannot start (listen address, certificate): acctgate then
 * refuses to start, as for [proxy] listen.
 */
bool admin_start(struct gate *g, const struct config *cfg, struct admin **out, char *err, size_t errlen);

/* Close every admin connection and the listener (after the workers were
 * joined: no worker_call answer can arrive any more). NULL is fine. */
void admin_free(struct admin *a);

/* Whether a VERIFY or RESTORE SNAPSHOT is reading snapshot `id`: keep
 * leaves it alone (snapshots.h). */
bool admin_snapshot_in_use(const struct admin *a, const char *id);
/* A RESTORE in place is running: no snapshot meanwhile, scheduled or not
 * (its tables move). */
bool admin_restoring_in_place(const struct admin *a);

#endif
