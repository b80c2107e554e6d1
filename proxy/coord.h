/*
 * coord.h - the throttle's slots shared by every acctgate in front of one
 * database server (one per head node, as ParallelCluster has it): slot i
 * of a class is the server's named lock "acctgate.<class>.<i>", taken with
 * GET_LOCK(name, 0) and held by a connection of acctgate's own ([snapshot]
 * user), so the limit holds across instances with nothing but the server
 * they all reach. A lock dies with its connection: an acctgate that
 * crashes or loses the server gives its slots back by itself.
 *
 * One thread owns the connection; requests reach it through a queue and
 * grants come back through the grant callback, called on that thread.
 * When the server cannot be reached (or refuses GET_LOCK), every request
 * is granted at once with slot -1: the limits then hold per acctgate only,
 * which the log says once, and again when coordination is back (tried
 * every COORD_RETRY_SECONDS).
 */
#ifndef ACCTGATE_COORD_H
#define ACCTGATE_COORD_H

#include <stdbool.h>
#include <stdint.h>

#include "replay.h"

#define COORD_RETRY_SECONDS 5

/* A grant: `slot` is the lock's index (pass it back to coord_release),
 * or -1 when granted without coordination. */
typedef void (*coord_grant_fn)(void *arg, void *owner, uint64_t ticket, int cls, int slot);

struct coord;

/* conn: the server and account (copied); names[i] and limits[i] for each
 * of nclasses classes. The connection is made on the thread, not here. */
struct coord *coord_new(const struct replay_options *conn, const char *const *names, const unsigned *limits,
			int nclasses, coord_grant_fn grant, void *arg, char *err, size_t err_len);
/* Stops the thread; the server releases the locks with the connection. */
void coord_free(struct coord *c);

/* Ask for a slot of class cls for ticket (unique among those pending). */
bool coord_acquire(struct coord *c, int cls, uint64_t ticket, void *owner);
/* The ticket gave up: forgotten if still pending (a grant already on its
 * way must be given back by the receiver with coord_release). */
void coord_cancel(struct coord *c, uint64_t ticket);
/* Give a granted slot back (slot -1: nothing to do). */
void coord_release(struct coord *c, int cls, int slot);

/* Whether the connection is up (for SHOW STATUS). */
bool coord_connected(struct coord *c);

#endif
