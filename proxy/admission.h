/*
 * admission.h - the throttle's admission queue for one class of heavy
 * transactions: at most `limit` hold a slot at once; the others wait, FIFO
 * within their cluster, and the clusters are served round robin, so that
 * one cluster's burst of rollups cannot make another's single purge wait
 * behind all of it.
 *
 * Pure bookkeeping: no I/O, no clock of its own (times are the caller's,
 * in ms), no locks (the caller serialises). Waiters and holders are named
 * by the caller's id (a session id) with an opaque owner pointer handed
 * back when a waiter is admitted (the session's worker, to release it on).
 */
#ifndef ACCTGATE_ADMISSION_H
#define ACCTGATE_ADMISSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Distinct clusters kept apart; beyond this they share the last queue. */
#define ADMISSION_CLUSTERS_MAX 64
#define ADMISSION_CLUSTER_NAME_MAX 128

enum admission_verdict {
	ADMISSION_ADMITTED, /* a slot is the caller's now */
	ADMISSION_QUEUED,   /* it waits: admission_release hands the slot over later */
	ADMISSION_REFUSED,  /* out of memory: the caller lets it go unthrottled */
};

struct admission_waiter {
	uint64_t id;
	void *owner;
	uint64_t since_ms;
};

struct admission_cluster_stats {
	char name[ADMISSION_CLUSTER_NAME_MAX];
	unsigned holding, waiting;
	uint64_t admitted, waited, timed_out;
	uint64_t wait_ms_total, wait_ms_max;
};

struct admission_stats {
	unsigned limit, holding, waiting;
	uint64_t admitted, waited, timed_out;
	uint64_t wait_ms_max;
	size_t nclusters;
};

struct admission;

struct admission *admission_new(unsigned limit);
void admission_free(struct admission *a);
/* A reload: more slots admit waiters at once (admission_release's out
 * list), fewer take effect as holders leave. */
void admission_set_limit(struct admission *a, unsigned limit);

/* `id` of `cluster` asks for a slot at now_ms. */
enum admission_verdict admission_request(struct admission *a, const char *cluster, uint64_t id, void *owner,
					 uint64_t now_ms);

/*
 * `id` leaves: a holder gives its slot back, a waiter gives up
 * (timed_out says why, for the counts). Waiters admitted into free slots
 * are written to out[] (at most cap; the rest stay queued until the next
 * call) and their count returned. Unknown ids change nothing.
 */
size_t admission_leave(struct admission *a, uint64_t id, bool timed_out, uint64_t now_ms,
		       struct admission_waiter *out, size_t cap);

/* Admit into whatever slots are free (after admission_set_limit). */
size_t admission_fill(struct admission *a, uint64_t now_ms, struct admission_waiter *out, size_t cap);

/* The longest waiter whose wait began at or before `deadline_ms`, if any:
 * the caller times it out with admission_leave(..., true, ...). */
bool admission_oldest_before(const struct admission *a, uint64_t deadline_ms, struct admission_waiter *out);

/* Whether id holds a slot. */
bool admission_holds(const struct admission *a, uint64_t id);

void admission_stats(const struct admission *a, struct admission_stats *out);
/* Cluster i's figures (i < stats.nclusters); false past the end. */
bool admission_cluster_at(const struct admission *a, size_t i, struct admission_cluster_stats *out);

#endif
