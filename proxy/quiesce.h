/*
 * quiesce.h - every client session stopped at a command boundary, for an
 * in-place restore: the database changes under them while nothing of
 * theirs is in flight.
 *
 * quiesce_begin holds the next command of every session outside a
 * transaction (sessions inside one go on, so their transactions can end)
 * and waits, bounded, until no session has a transaction open or a
 * command in flight. Then, until quiesce_end, the database is acctgate's
 * alone: the held clients only wait (slurmdbd has no read timeout), and
 * their commands go on, in order, against whatever the database holds by
 * then.
 *
 * Register it first of all hooks: a held command must not have taken a
 * throttle slot or had the journal fix its time.
 */
#ifndef ACCTGATE_QUIESCE_H
#define ACCTGATE_QUIESCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gate;
struct quiesce;

/* The quiesce hook, registered on g (before the workers start); NULL with
 * err filled. */
struct quiesce *quiesce_new(struct gate *g, char *err, size_t err_len);
void quiesce_free(struct quiesce *q);

/* From a thread of its own (never a worker's or the main loop's: it
 * blocks): hold, and wait up to timeout_ms for what is open to end. False
 * with err filled (and nothing held any more) when it did not end in
 * time. */
bool quiesce_begin(struct quiesce *q, int timeout_ms, char *err, size_t err_len);
/* Let the held commands go; *held_usec (if not NULL): since begin.
 * Returns how many sessions had a command held. */
size_t quiesce_end(struct quiesce *q, uint64_t *held_usec);

#endif
